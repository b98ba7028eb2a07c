#![doc = include_str!("../../../docs/dashboard.md")]

mod actions;
mod api;
mod assets;
mod auth;
mod chart;
mod html;
mod pages;
mod serve;
#[cfg(test)]
mod tests;

pub use serve::{ServeOptions, serve};

use crate::error::Error;
use crate::queue::Queue;
use auth::Secrets;
use axum::Router;
use axum::extract::{FromRequestParts, NestedPath};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use rakit_job_core::DriverError;
use std::sync::Arc;

/// How a dashboard is guarded: a token to sign in with, and whether actions are allowed.
///
/// ```
/// let options = rakit_job::dashboard::Options::default()
///     .token("a long random secret, 16+ characters")
///     .read_only(true);
/// let app = rakit_job::dashboard::router_with(rakit_job::Queue::memory(), options);
/// # let _: axum::Router = app;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Options {
    token: Option<String>,
    read_only: bool,
}

impl Options {
    /// Asks for `token` once on a login page before showing anything.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into()).filter(|t: &String| !t.is_empty());
        self
    }

    /// Hides every action and refuses its POST with 403.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }
}

/// The dashboard's pages, API and assets for `queue`, to nest inside an application:
/// it asks for no token, so put it behind the application's own auth.
///
/// ```
/// use axum::Router;
/// let queue = rakit_job::Queue::memory();
/// let app: Router = Router::new().nest("/admin/jobs", rakit_job::dashboard::router(queue));
/// ```
pub fn router(queue: Queue) -> Router {
    router_with(queue, Options::default())
}

/// The dashboard with `options`: a sign-in token, read-only, or both.
///
/// ```
/// use rakit_job::dashboard::{Options, router_with};
/// let look_only = router_with(rakit_job::Queue::memory(), Options::default().read_only(true));
/// let app = axum::Router::new().nest("/jobs", look_only);
/// # let _: axum::Router = app;
/// ```
pub fn router_with(queue: Queue, options: Options) -> Router {
    let dashboard = Arc::new(Dashboard {
        store: queue.describe(),
        queue,
        token: options.token,
        read_only: options.read_only,
        secrets: Secrets::new(),
    });
    Router::new()
        .route("/", get(pages::overview::show))
        .route("/queues", get(pages::queues::show))
        .route("/jobs", get(pages::jobs::list))
        .route("/jobs/{id}", get(pages::job::show))
        .route("/failed", get(pages::failed::show))
        .route("/workers", get(pages::workers::show))
        .route("/schedules", get(pages::schedules::show))
        .route("/batches", get(pages::batches::show))
        .route("/chart.svg", get(chart::show))
        .route("/queues/pause", post(actions::pause))
        .route("/queues/resume", post(actions::resume))
        .route("/jobs/{id}/cancel", post(actions::cancel))
        .route("/failed/retry", post(actions::retry))
        .route("/failed/forget", post(actions::forget))
        .route("/failed/prune", post(actions::prune))
        .route("/batches/cancel", post(actions::cancel_batch))
        .route("/logout", post(auth::logout))
        .route("/api/stats", get(api::stats))
        .route("/api/jobs", get(api::jobs))
        .route("/api/jobs/{id}", get(api::job))
        .route("/api/workers", get(api::workers))
        .route("/api/schedules", get(api::schedules))
        .route("/api/batches", get(api::batches))
        .route_layer(from_fn_with_state(dashboard.clone(), auth::require_session))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/assets/{file}", get(assets::serve))
        .layer(from_fn(assets::security_headers))
        .with_state(dashboard)
}

/// What every handler shares: the store, the guard and this process's secrets.
pub(crate) struct Dashboard {
    queue: Queue,
    /// The store as shown on every page: never with a password.
    store: String,
    token: Option<String>,
    read_only: bool,
    secrets: Secrets,
}

type Shared = Arc<Dashboard>;

/// What a page needs to know about the request it answers.
#[derive(Clone)]
pub(crate) struct Ctx {
    /// Where the dashboard is mounted, e.g. `/admin/jobs`, or empty at the root.
    pub base: String,
    pub store: String,
    pub read_only: bool,
    /// A token was asked for (so a sign-out button is shown).
    pub signed_in: bool,
    /// Not signed in yet: the page shows neither the menu nor the store.
    pub locked: bool,
    pub csrf: String,
    /// What the last action did, from the redirect's query.
    pub note: Option<String>,
    pub queue: Queue,
}

impl FromRequestParts<Shared> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        Ok(Ctx {
            base: base_of(parts),
            store: state.store.clone(),
            read_only: state.read_only,
            signed_in: state.token.is_some(),
            locked: false,
            csrf: state.secrets.csrf.clone(),
            note: actions::note_of(parts.uri.query().unwrap_or("")),
            queue: state.queue.clone(),
        })
    }
}

/// The path the dashboard is nested at, without a trailing slash.
fn base_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<NestedPath>()
        .map(|p| p.as_str().trim_end_matches('/').to_string())
        .unwrap_or_default()
}

impl Ctx {
    /// A whole page around `body`.
    fn page(&self, title: &str, active: &str, body: &str) -> Response {
        Html(html::page(self, title, active, body)).into_response()
    }

    /// The page saying what went wrong, with the status that fits.
    fn failed(&self, error: Error) -> Response {
        let status = status_of(&error);
        let body = format!(
            "<h1>That did not work</h1><p class=\"error\">{}</p>",
            html::esc(&error.to_string())
        );
        (status, self.page("Error", "", &body)).into_response()
    }
}

/// 400 for a request the dashboard or the store refuses, 503 when the store fails.
fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::Usage(_) | Error::Driver(DriverError::Invalid(_)) => StatusCode::BAD_REQUEST,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}
