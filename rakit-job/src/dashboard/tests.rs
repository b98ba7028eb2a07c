//! The dashboard answered in process, on the memory store: every page and API answer,
//! the escaping, the security headers, sign-in, the POST checks and read-only. The
//! browser tests (tests/tests/dashboard.rs) run the same on every store, in Chromium.

use super::{Options, router, router_with};
use crate::facade::Job;
use crate::queue::Queue;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use rakit_job_core::{MinuteCount, ReserveRequest, StoreExt, now_ms};
use serde_json::{Value, json};
use tower::ServiceExt;

const XSS: &str = "</pre><script>alert('x')</script><img src=x onerror=\"alert(1)\">";

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn location(&self) -> &str {
        self.headers[header::LOCATION].to_str().unwrap()
    }
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 10 << 20)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(app: &Router, path: &str) -> Answer {
    send(app, Request::get(path).body(Body::empty()).unwrap()).await
}

/// The CSRF token the page at `path` carries in its forms.
async fn csrf(app: &Router, path: &str) -> String {
    let page = get(app, path).await.body;
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a page with a form")
        + 19;
    page[at..at + 64].to_string()
}

/// A POST as the browser sends it from the dashboard's own page.
fn post(path: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, "dash.test")
        .header(header::ORIGIN, "http://dash.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap()
}

/// A queue with a pending, a scheduled, a running and a failed job, the failed one's
/// payload and error holding markup.
async fn busy_queue() -> (Queue, [String; 4]) {
    let q = Queue::memory();
    let pending = Job::dispatch("send-email", json!({"to": "a@b.c"}))
        .via(&q)
        .await
        .unwrap();
    let scheduled = Job::dispatch("report", json!({}))
        .via(&q)
        .delay(std::time::Duration::from_secs(600))
        .await
        .unwrap();
    let running = Job::dispatch("import", json!({"n": 1}))
        .on_queue("low")
        .via(&q)
        .await
        .unwrap();
    let queues = ["low".to_string()];
    let held = q
        .driver()
        .reserve(&ReserveRequest::new(&queues, 1, 60_000, "worker-7"))
        .await
        .unwrap();
    let failed = Job::dispatch("evil", json!({ "html": XSS }))
        .on_queue("bad")
        .via(&q)
        .await
        .unwrap();
    let bad = ["bad".to_string()];
    let lease = q
        .driver()
        .reserve(&ReserveRequest::new(&bad, 1, 60_000, "worker-7"))
        .await
        .unwrap()
        .remove(0)
        .lease;
    q.driver().fail(&lease, XSS).await.unwrap();
    assert_eq!(held[0].job.id, running);
    let ids = [pending, scheduled, running, failed].map(|id| id.as_str().to_string());
    (q, ids)
}

#[tokio::test]
async fn every_page_answers_with_the_security_headers_and_no_inline_script() {
    let (q, ids) = busy_queue().await;
    let app = router(q);
    let pages = [
        "/".to_string(),
        "/queues".into(),
        "/jobs".into(),
        "/jobs?state=running".into(),
        format!("/jobs/{}", ids[3]),
        "/failed".into(),
        "/workers".into(),
        "/schedules".into(),
        "/batches".into(),
        "/chart.svg".into(),
        "/api/stats".into(),
        "/api/schedules".into(),
        "/assets/dashboard.js".into(),
    ];
    for page in pages {
        let answer = get(&app, &page).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}: {}", answer.body);
        let csp = answer.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert_eq!(
            csp,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
        );
        assert_eq!(answer.headers[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            !answer.body.contains("<script>"),
            "{page} has an inline script"
        );
        assert!(
            !answer.body.contains(" style="),
            "{page} has an inline style"
        );
    }
    let script = get(&app, "/assets/dashboard.js").await;
    assert!(
        script.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let page = get(&app, "/").await;
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(
        get(&app, "/assets/other.js").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn markup_in_payloads_and_errors_is_shown_as_text() {
    let (q, ids) = busy_queue().await;
    let app = router(q);
    for page in [
        format!("/jobs/{}", ids[3]),
        "/failed".into(),
        "/jobs?state=failed".into(),
    ] {
        let body = get(&app, &page).await.body;
        assert!(!body.contains("<img"), "{page} lets markup through");
        assert!(
            body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            "{page} lost the payload's text"
        );
    }
    let detail = get(&app, &format!("/jobs/{}", ids[3])).await.body;
    assert!(
        detail.contains("&quot;html&quot;: "),
        "the payload is pretty-printed"
    );
    let error = get(&app, "/jobs?queue=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E").await;
    assert_eq!(error.status, StatusCode::BAD_REQUEST);
    assert!(!error.body.contains("<img"), "{}", error.body);
}

#[tokio::test]
async fn the_schedules_page_shows_each_schedule_as_text() {
    let q = Queue::memory();
    let app = router(q.clone());
    // The library's own tests link no `#[job(cron = ...)]` type.
    let page = get(&app, "/schedules").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("<a href=\"/schedules\" aria-current=\"page\">Schedules</a>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("No schedules are linked into this program.")
    );
    assert_eq!(
        get(&app, "/api/schedules").await.json(),
        json!({ "schedules": [] })
    );

    let parts = crate::JobParts {
        name: XSS.into(),
        queue: "default".into(),
        payload: json!({}),
        options: crate::JobOptions::DEFAULT,
    };
    let nightly = crate::Schedule::new("0 3 * * *", Some("Europe/Berlin"), parts).unwrap();
    let ctx = super::Ctx {
        base: "/admin".into(),
        store: "memory".into(),
        read_only: false,
        signed_in: false,
        locked: false,
        csrf: String::new(),
        note: None,
        queue: q,
    };
    let body = super::pages::schedules::body(&ctx, std::slice::from_ref(&nightly));
    assert!(
        !body.contains("<img") && !body.contains("<script"),
        "{body}"
    );
    assert!(
        body.contains("<td>&lt;/pre&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{body}"
    );
    assert!(
        body.contains("<td>0 3 * * *</td><td>Europe/Berlin</td>"),
        "{body}"
    );
    let json = crate::inspect::schedules_to_json(std::slice::from_ref(&nightly));
    let next: Vec<&str> = json["schedules"][0]["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(next.len(), 3);
    assert!(body.contains(&next.join(", ")), "{body}");
    assert!(body.contains("data-src=\"api/schedules\""), "{body}");
}

#[tokio::test]
async fn the_api_prints_the_cli_schema() {
    let (q, ids) = busy_queue().await;
    q.driver()
        .add_throughput(&[MinuteCount {
            queue: "default".into(),
            minute: now_ms() / 60_000 * 60_000,
            done: 4,
            failed: 1,
        }])
        .await
        .unwrap();
    let app = router(q.clone());
    let stats = get(&app, "/api/stats").await.json();
    let keys: Vec<&String> = stats.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["paused", "queues", "store", "throughput"],
        "job:stats --json"
    );
    assert_eq!(stats["store"], "memory");
    let default = stats["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["queue"] == "default")
        .unwrap();
    assert_eq!(
        default,
        &json!({"queue": "default", "ready": 1, "scheduled": 1, "reserved": 0, "failed": 0})
    );
    let page = get(&app, "/api/jobs?state=pending&limit=1").await.json();
    assert_eq!(page["jobs"][0]["id"], ids[0].as_str());
    assert_eq!(page["jobs"][0]["state"], "pending");
    assert_eq!(page["cursor"], Value::Null);
    let all = get(&app, "/api/jobs?limit=2").await.json();
    let cursor = all["cursor"].as_str().unwrap();
    let next = get(&app, &format!("/api/jobs?limit=2&after={cursor}"))
        .await
        .json();
    assert_eq!(next["jobs"].as_array().unwrap().len(), 2);
    let one = get(&app, &format!("/api/jobs/{}", ids[2])).await.json();
    let expected = q
        .job(&rakit_job_core::JobId::parse(&ids[2]).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one, expected.to_json());
    assert_eq!(one["worker"], "worker-7");
    let rates = &stats["throughput"];
    assert_eq!(
        (rates[0]["done"].clone(), rates[0]["failed"].clone()),
        (json!(4), json!(1))
    );
    assert!(rates[0]["minute"].as_str().unwrap().ends_with(":00.000Z"));
    assert_eq!(stats["paused"], json!([]));
    assert_eq!(
        get(&app, "/api/workers").await.json(),
        json!({ "workers": [] })
    );
    let missing = get(
        &app,
        &format!("/api/jobs/{}", rakit_job_core::JobId::generate()),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["error"].is_string());
    let refused = get(&app, "/api/jobs?after=nonsense").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.json()["error"].as_str().unwrap().contains("cursor"));
}

#[tokio::test]
async fn actions_pause_cancel_retry_and_forget() {
    let (q, ids) = busy_queue().await;
    let app = router(q.clone());
    let token = csrf(&app, "/queues").await;
    let paused = send(
        &app,
        post(
            "/queues/pause",
            &format!("csrf={token}&queue=low&back=/queues"),
        ),
    )
    .await;
    assert_eq!(paused.status, StatusCode::SEE_OTHER);
    assert_eq!(paused.location(), "/queues?done=paused&q=low");
    assert_eq!(q.paused().await.unwrap(), ["low"]);
    let page = get(&app, paused.location()).await.body;
    assert!(page.contains("Queue low is paused"));
    assert!(page.contains("<b class=\"badge paused\">paused</b>"));
    send(
        &app,
        post("/queues/resume", &format!("csrf={token}&queue=low")),
    )
    .await;
    assert!(q.paused().await.unwrap().is_empty());

    let cancel = send(
        &app,
        post(
            &format!("/jobs/{}/cancel", ids[0]),
            &format!("csrf={token}"),
        ),
    )
    .await;
    assert_eq!(cancel.location(), format!("/jobs/{}?done=removed", ids[0]));
    let running = send(
        &app,
        post(
            &format!("/jobs/{}/cancel", ids[2]),
            &format!("csrf={token}"),
        ),
    )
    .await;
    assert_eq!(
        running.location(),
        format!("/jobs/{}?done=requested", ids[2])
    );

    let retried = send(
        &app,
        post("/failed/retry", &format!("csrf={token}&id={}", ids[3])),
    )
    .await;
    assert_eq!(retried.location(), "/failed?done=retried&n=1");
    let forgot = send(
        &app,
        post("/failed/forget", &format!("csrf={token}&all=yes")),
    )
    .await;
    assert_eq!(
        forgot.location(),
        "/failed?done=forgotten&n=1",
        "the cancelled job"
    );
    let pruned = send(&app, post("/failed/prune", &format!("csrf={token}&days=7"))).await;
    assert_eq!(pruned.location(), "/failed?done=pruned&n=0&d=7");
    let vague = send(&app, post("/failed/retry", &format!("csrf={token}"))).await;
    assert_eq!(vague.status, StatusCode::BAD_REQUEST);
    let bad_days = send(
        &app,
        post("/failed/prune", &format!("csrf={token}&days=<b>")),
    )
    .await;
    assert_eq!(bad_days.status, StatusCode::BAD_REQUEST);
    assert!(bad_days.body.contains("&lt;b&gt;"));
    let escape = send(
        &app,
        post(
            "/queues/pause",
            &format!("csrf={token}&queue=x&back=//evil.example"),
        ),
    )
    .await;
    assert_eq!(
        escape.location(),
        "/queues?done=paused&q=x",
        "no open redirect"
    );
}

#[tokio::test]
async fn the_batches_page_shows_progress_as_text_and_cancels_a_batch() {
    let q = Queue::memory();
    let app = router(q.clone());
    assert!(get(&app, "/batches").await.body.contains("No batches."));
    let row = || crate::NamedJob::new("dashboard-batch-row", json!({}));
    let id = crate::Batch::new(XSS)
        .add_all([row(), row()])
        .via(&q)
        .dispatch()
        .await
        .unwrap();
    let page = get(&app, "/batches").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<img") && !page.body.contains("<script>"));
    assert!(page.body.contains(id.as_str()), "{}", page.body);
    assert!(page.body.contains("data-src=\"api/batches\""));
    let info = q.batch(&id).await.unwrap().unwrap();
    assert_eq!(
        get(&app, "/api/batches").await.json(),
        json!({ "batches": [info.to_json()] }),
        "the API prints what job:batches --json prints"
    );

    let token = csrf(&app, "/batches").await;
    let form = format!("csrf={token}&id={id}&back=/batches");
    let cancelled = send(&app, post("/batches/cancel", &form)).await;
    assert_eq!(cancelled.location(), "/batches?done=batch-cancelled");
    assert!(q.batch(&id).await.unwrap().unwrap().cancelled);
    assert_eq!(
        q.stats().await.unwrap()[0].failed,
        2,
        "its jobs wait as cancelled"
    );
    let unknown = format!("csrf={token}&id={}", crate::JobId::generate());
    let none = send(&app, post("/batches/cancel", &unknown)).await;
    assert_eq!(none.location(), "/batches?done=no-batch");
    let bad = send(
        &app,
        post("/batches/cancel", &format!("csrf={token}&id=<b>")),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(!bad.body.contains("<b>"));
}

#[tokio::test]
async fn a_post_without_the_csrf_token_or_from_another_origin_changes_nothing() {
    let (q, _) = busy_queue().await;
    let app = router(q.clone());
    let token = csrf(&app, "/queues").await;
    let forged = send(&app, post("/queues/pause", "csrf=0000&queue=low")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let mut cross = post("/queues/pause", &format!("csrf={token}&queue=low"));
    cross
        .headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    let cross = send(&app, cross).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert!(cross.body.contains("another site"));
    assert!(q.paused().await.unwrap().is_empty());
    assert_eq!(
        get(&app, "/queues/pause").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn read_only_hides_and_refuses_every_action() {
    let (q, ids) = busy_queue().await;
    let app = router_with(q.clone(), Options::default().read_only(true));
    for page in [
        "/".to_string(),
        "/queues".into(),
        "/failed".into(),
        format!("/jobs/{}", ids[0]),
    ] {
        let body = get(&app, &page).await.body;
        assert!(!body.contains("method=\"post\""), "{page} shows an action");
        assert!(body.contains("read-only"));
    }
    let token = super::auth::Secrets::new().csrf; // any: the refusal comes first
    let refused = send(
        &app,
        post("/queues/pause", &format!("csrf={token}&queue=low")),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("read-only"));
    assert!(q.paused().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_token_is_asked_for_once_and_kept_in_a_strict_http_only_cookie() {
    let (q, _) = busy_queue().await;
    let secret = "correct horse battery staple";
    let app = router_with(q.clone(), Options::default().token(secret));
    let first = get(&app, "/jobs").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(first.location(), "/login");
    let api = get(&app, "/api/stats").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert!(
        api.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("sign in first")
    );
    let login = get(&app, "/login").await;
    assert!(
        !login.body.contains("memory"),
        "the store is not shown before sign-in"
    );
    let token = csrf(&app, "/login").await;

    let wrong = send(&app, post("/login", &format!("csrf={token}&token=guess"))).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    assert!(wrong.body.contains("That token is not the dashboard"));

    let right = send(
        &app,
        post(
            "/login",
            &format!("csrf={token}&token=correct+horse+battery+staple"),
        ),
    )
    .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    let cookie = right.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(secret),
        "the cookie holds a session, not the token"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let signed_in = Request::get("/api/stats")
        .header(header::COOKIE, &session)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, signed_in).await.status, StatusCode::OK);

    let mut pause = post("/queues/pause", &format!("csrf={token}&queue=low"));
    assert_eq!(send(&app, pause).await.status, StatusCode::UNAUTHORIZED);
    pause = post("/queues/pause", &format!("csrf={token}&queue=low"));
    pause
        .headers_mut()
        .insert(header::COOKIE, session.parse().unwrap());
    assert_eq!(send(&app, pause).await.status, StatusCode::SEE_OTHER);
    assert_eq!(q.paused().await.unwrap(), ["low"]);
}

#[tokio::test]
async fn nested_in_an_app_every_link_keeps_the_prefix() {
    let (q, _) = busy_queue().await;
    let app = Router::new().nest("/admin/jobs", router(q));
    let page = get(&app, "/admin/jobs").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("href=\"/admin/jobs/queues\""));
    assert!(
        page.body
            .contains("src=\"/admin/jobs/assets/dashboard.js?v=")
    );
    assert!(page.body.contains("data-base=\"/admin/jobs\""));
    let token = csrf(&app, "/admin/jobs/queues").await;
    let paused = send(
        &app,
        post(
            "/admin/jobs/queues/pause",
            &format!("csrf={token}&queue=low&back=/queues"),
        ),
    )
    .await;
    assert_eq!(paused.location(), "/admin/jobs/queues?done=paused&q=low");
    let stats = get(&app, "/admin/jobs/api/stats").await.json();
    assert_eq!(stats["paused"], json!(["low"]));
}
