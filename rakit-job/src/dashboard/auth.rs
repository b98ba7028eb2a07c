//! Who may look and act: the token asked for once on a login page and kept in an
//! HttpOnly, SameSite=Strict cookie, and the checks every POST passes (same origin and the
//! CSRF token). Both secrets are random per process, so a restart signs everyone out.

use super::html::{esc, page};
use super::{Ctx, Shared, base_of};
use axum::extract::{Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::time::Duration;

/// The cookie holding the session.
const COOKIE: &str = "rakit_job_dashboard";

/// This process's secrets: the session a correct token earns, and the CSRF token every
/// action form carries.
pub(crate) struct Secrets {
    pub session: String,
    pub csrf: String,
}

impl Secrets {
    pub fn new() -> Self {
        Secrets {
            session: random_hex(),
            csrf: random_hex(),
        }
    }
}

/// 32 bytes from the operating system's random source, as hex.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .expect("the operating system gave no random bytes for the dashboard's secrets");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// True when `given` equals `secret`, in a time that depends on `given`'s length only,
/// never on where the first difference is.
pub(crate) fn same(given: &str, secret: &str) -> bool {
    let (given, secret) = (given.as_bytes(), secret.as_bytes());
    if secret.is_empty() {
        return false;
    }
    let mut diff = u8::from(given.len() != secret.len());
    for (i, byte) in given.iter().enumerate() {
        diff |= byte ^ secret[i % secret.len()];
    }
    std::hint::black_box(diff) == 0
}

/// Lets a request through when no token is asked for or its cookie holds the session;
/// otherwise pages go to the login page and the API and actions answer 401.
pub(crate) async fn require_session(
    State(dashboard): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    if dashboard.token.is_none() || has_session(request.headers(), &dashboard.secrets.session) {
        return next.run(request).await;
    }
    let (parts, _) = request.into_parts();
    let sentence = "sign in first: open the dashboard in a browser and enter the token";
    if parts.uri.path().starts_with("/api/") {
        let body = serde_json::json!({ "error": sentence }).to_string();
        let json = [(header::CONTENT_TYPE, "application/json")];
        (StatusCode::UNAUTHORIZED, json, body).into_response()
    } else if parts.method == axum::http::Method::GET {
        Redirect::to(&format!("{}/login", base_of(&parts))).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, sentence).into_response()
    }
}

fn has_session(headers: &HeaderMap, session: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value, session))
}

/// A POST refused before it acted: 403 and the sentence saying why.
pub(crate) struct Refused(pub &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, self.0).into_response()
    }
}

/// The checks every POST passes before it acts: sent from a page of this dashboard (its
/// Origin, or Referer, names this host) and carrying this process's CSRF token.
pub(crate) fn check_post(headers: &HeaderMap, csrf: &str, secret: &str) -> Result<(), Refused> {
    if !same_origin(headers) {
        return Err(Refused(
            "this action was sent from another site, so it was refused; use the dashboard's own buttons",
        ));
    }
    if !same(csrf, secret) {
        return Err(Refused(
            "this form is stale or forged (its CSRF token does not match); reload the page and try again",
        ));
    }
    Ok(())
}

/// True unless the browser says the request came from another origin. A client that sends
/// neither Origin nor Referer (not a browser) still needs the CSRF token.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(from) = text("origin").or_else(|| text("referer")) else {
        return true;
    };
    let authority = from
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    let hosts = [text("host"), text("x-forwarded-host")];
    !authority.is_empty() && hosts.iter().flatten().any(|host| *host == authority)
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub(crate) struct Login {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

/// `GET /login`: the form asking for the token.
pub(crate) async fn login_page(ctx: Ctx, State(dashboard): State<Shared>) -> Response {
    if dashboard.token.is_none() {
        return Redirect::to(&format!("{}/", ctx.base)).into_response();
    }
    Html(login_form(&ctx, None)).into_response()
}

fn login_form(ctx: &Ctx, problem: Option<&str>) -> String {
    let problem = problem
        .map(|p| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(p)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1>{problem}<form method=\"post\" action=\"{base}/login\" class=\"login\">\
         {csrf}<label for=\"token\">Dashboard token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" autofocus required>\
         <button>Sign in</button></form>\
         <p class=\"hint\">The token is the value of RAKIT_JOB_DASHBOARD_TOKEN where the dashboard runs.</p>",
        base = esc(&ctx.base),
        csrf = super::html::csrf_field(ctx),
    );
    let locked = Ctx {
        locked: true,
        ..ctx.clone()
    };
    page(&locked, "Sign in", "", &body)
}

/// `POST /login`: a correct token earns the session cookie; a wrong one waits a moment
/// (to slow guessing) and shows the form again.
pub(crate) async fn login(
    ctx: Ctx,
    State(dashboard): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    if let Err(refused) = check_post(&headers, &form.csrf, &dashboard.secrets.csrf) {
        return refused.into_response();
    }
    let Some(token) = &dashboard.token else {
        return Redirect::to(&format!("{}/", ctx.base)).into_response();
    };
    if !same(&form.token, token) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = login_form(
            &ctx,
            Some(
                "That token is not the dashboard's; check RAKIT_JOB_DASHBOARD_TOKEN and try again.",
            ),
        );
        return (StatusCode::UNAUTHORIZED, Html(again)).into_response();
    }
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path={}{}",
        dashboard.secrets.session,
        cookie_path(&ctx.base),
        if secure { "; Secure" } else { "" }
    );
    with_cookie(Redirect::to(&format!("{}/", ctx.base)), &cookie)
}

/// `POST /logout`: forgets the cookie.
pub(crate) async fn logout(
    ctx: Ctx,
    State(dashboard): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    if let Err(refused) = check_post(&headers, &form.csrf, &dashboard.secrets.csrf) {
        return refused.into_response();
    }
    let cookie = format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path={}; Max-Age=0",
        cookie_path(&ctx.base)
    );
    with_cookie(Redirect::to(&format!("{}/login", ctx.base)), &cookie)
}

fn cookie_path(base: &str) -> &str {
    if base.is_empty() { "/" } else { base }
}

fn with_cookie(redirect: Redirect, cookie: &str) -> Response {
    let mut response = redirect.into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_secret_is_the_same() {
        assert!(same("s3cret-token", "s3cret-token"));
        assert!(!same("s3cret-tokem", "s3cret-token"));
        assert!(!same("s3cret-token-and-more", "s3cret-token"));
        assert!(!same("s3cret", "s3cret-token"));
        assert!(!same("", "s3cret-token"));
        assert!(!same("", ""));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_post_from_another_origin_is_refused() {
        let host = ("host", "127.0.0.1:9090");
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:9090")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!same_origin(&headers(&[
            host,
            ("referer", "http://127.0.0.1:9091/x")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:9090"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(same_origin(&headers(&[host])), "curl sends no Origin");
    }

    #[test]
    fn the_session_is_found_among_other_cookies() {
        let h = headers(&[("cookie", "a=1; rakit_job_dashboard=abc; b=2")]);
        assert!(has_session(&h, "abc"));
        assert!(!has_session(&h, "abd"));
    }
}
