//! The guide's "Usage in Controllers" as an axum application: `POST /register` saves a
//! user and dispatches a welcome e-mail, `POST /upload/{user_id}` saves a photo and
//! dispatches its processing, and both answer at once while a worker does the work.
//!
//! The handlers dispatch through the [`Queue`] in the application state, so a test can
//! hand them a [`rakit_job::testing::QueueFake`]'s queue, or an in-memory one and a worker.
//!
//! The job dashboard is mounted at `/admin/jobs`, behind the application's own guard for
//! its admin pages ([`admins_only`]): the dashboard asks for no token of its own there.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use rakit_job::Queue;
use rakit_job::prelude::*;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// What the application shares with its handlers.
#[derive(Clone)]
pub struct AppState {
    /// Where jobs are dispatched.
    pub queue: Queue,
    /// The folder uploads are saved in.
    pub uploads: PathBuf,
    /// The registered users (the guide's `User` model, kept in memory here).
    pub users: Arc<Mutex<Vec<User>>>,
    /// The password of the `admin` user for the admin pages; `None` shuts them.
    pub admin_password: Option<String>,
}

/// A registered user.
#[derive(Clone, Debug, Deserialize)]
pub struct User {
    /// The user's name.
    pub name: String,
    /// The user's e-mail address.
    pub email: String,
}

/// Sends an e-mail; here it goes to the [`outbox`].
#[job(queue = "high", retries = 3)]
pub struct SendEmail {
    /// The recipient.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The template.
    pub view: String,
    /// The name the template greets.
    pub name: String,
}

static OUTBOX: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The e-mails sent so far by this process, as `to: subject (view)`.
pub fn outbox() -> Vec<String> {
    OUTBOX.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

impl Jobable for SendEmail {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        let mail = format!(
            "{}: {} ({}, hello {})",
            self.to, self.subject, self.view, self.name
        );
        OUTBOX.lock().unwrap_or_else(|p| p.into_inner()).push(mail);
        Ok(())
    }
}

/// Processes an uploaded photo; here it writes `<file>.processed` with the photo's size.
#[job]
pub struct ProcessUpload {
    /// The saved file.
    pub file: String,
    /// Who uploaded it.
    pub user_id: u64,
}

impl Jobable for ProcessUpload {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        let bytes = std::fs::metadata(&self.file)?.len();
        std::fs::write(
            format!("{}.processed", self.file),
            format!("{bytes} bytes for user {}", self.user_id),
        )?;
        Ok(())
    }
}

/// The application's routes, and the job dashboard under `/admin/jobs` behind [`admins_only`].
pub fn app(state: AppState) -> Router {
    let dashboard = rakit_job::dashboard::router(state.queue.clone())
        .layer(from_fn_with_state(state.clone(), admins_only));
    Router::new()
        .route("/register", post(register))
        .route("/upload/{user_id}", post(upload))
        .with_state(state)
        .nest("/admin/jobs", dashboard)
}

/// The application's own guard for its admin pages: HTTP Basic auth as user `admin` with
/// [`AppState::admin_password`]. A real application checks its own session here.
pub async fn admins_only(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let expected = state.admin_password.as_ref().map(|password| {
        let pair = format!("admin:{password}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    });
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    match (expected, given) {
        (Some(expected), Some(given)) if expected == given => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"admin\"")],
            "the admin pages need the admin user's password",
        )
            .into_response(),
    }
}

/// `UserController::action_register`: save the user, send the welcome e-mail in the background.
async fn register(State(state): State<AppState>, Json(user): Json<User>) -> Response {
    state
        .users
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(user.clone());
    let welcome = SendEmail {
        to: user.email,
        subject: "Welcome!".into(),
        view: "emails.welcome".into(),
        name: user.name,
    };
    match SendEmail::dispatch(welcome).via(&state.queue).await {
        Ok(_) => Redirect::to("/login").into_response(),
        Err(e) => failure(e),
    }
}

/// `UserController::action_upload`: save the photo, process it in the background.
async fn upload(State(state): State<AppState>, Path(user_id): Path<u64>, photo: Bytes) -> Response {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path = state.uploads.join(format!("{stamp}.jpg"));
    if let Err(e) = std::fs::write(&path, &photo) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot save the upload: {e}"),
        )
            .into_response();
    }
    let job = ProcessUpload {
        file: path.display().to_string(),
        user_id,
    };
    match ProcessUpload::dispatch(job).via(&state.queue).await {
        Ok(_) => Json(serde_json::json!({"message": "Processing..."})).into_response(),
        Err(e) => failure(e),
    }
}

fn failure(e: rakit_job::Error) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the job could not be queued: {e}"),
    )
        .into_response()
}
