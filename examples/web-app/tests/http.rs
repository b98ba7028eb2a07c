//! Posting to the application: the handlers answer at once and dispatch the right jobs
//! (checked with `QueueFake`), and a worker then runs them (checked by their effects).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use example_web_app::{AppState, ProcessUpload, SendEmail, app, outbox};
use rakit_job::testing::QueueFake;
use rakit_job::{Queue, Worker};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

fn uploads(label: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("rakit-web-app-test-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn state(queue: &Queue, uploads: PathBuf) -> AppState {
    AppState {
        queue: queue.clone(),
        uploads,
        users: Arc::new(Mutex::new(Vec::new())),
        admin_password: Some("s3cret".into()),
    }
}

fn register(email: &str) -> Request<Body> {
    Request::post("/register")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(r#"{{"name":"Ada","email":"{email}"}}"#)))
        .unwrap()
}

#[tokio::test]
async fn register_redirects_and_dispatches_a_welcome_email_on_the_high_queue() {
    let fake = QueueFake::new();
    let state = state(fake.queue(), uploads("register"));
    let response = app(state.clone())
        .oneshot(register("ada@example.com"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/login");
    assert_eq!(state.users.lock().unwrap()[0].email, "ada@example.com");

    fake.assert_dispatched_times::<SendEmail>(1);
    fake.assert_dispatched_on::<SendEmail>("high");
    fake.assert_dispatched_where::<SendEmail>(|job| {
        job.to == "ada@example.com" && job.view == "emails.welcome" && job.name == "Ada"
    });
    fake.assert_not_dispatched::<ProcessUpload>();
    assert!(
        !outbox().iter().any(|m| m.starts_with("ada@example.com")),
        "the e-mail must wait for a worker"
    );

    let report = fake.run_all().await.unwrap();
    assert_eq!(report.succeeded, 1);
    assert!(
        outbox().contains(&"ada@example.com: Welcome! (emails.welcome, hello Ada)".to_string()),
        "{:?}",
        outbox()
    );
}

#[tokio::test]
async fn an_upload_is_saved_answered_at_once_and_processed_by_a_worker() {
    let queue = Queue::memory();
    let dir = uploads("upload");
    let response = app(state(&queue, dir.clone()))
        .oneshot(
            Request::post("/upload/7")
                .body(Body::from(vec![1u8; 1000]))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"message": "Processing..."})
    );

    let saved: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        saved.len(),
        1,
        "the photo is saved before the answer: {saved:?}"
    );
    assert_eq!(std::fs::metadata(&saved[0]).unwrap().len(), 1000);

    let report = Worker::new(&queue).stop_when_empty().run().await.unwrap();
    assert_eq!((report.succeeded, report.failed), (1, 0));
    let processed = std::fs::read_to_string(format!("{}.processed", saved[0].display())).unwrap();
    assert_eq!(processed, "1000 bytes for user 7");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_bad_register_request_dispatches_nothing() {
    let fake = QueueFake::new();
    let request = Request::post("/register")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name":"Ada"}"#))
        .unwrap();
    let response = app(state(fake.queue(), uploads("bad")))
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn the_dashboard_is_mounted_behind_the_admin_guard() {
    let queue = Queue::memory();
    let app = app(state(&queue, uploads("admin")));
    app.clone()
        .oneshot(register("grace@example.com"))
        .await
        .unwrap();
    let page = |auth: Option<&str>| {
        let mut request = Request::get("/admin/jobs/queues");
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        request.body(Body::empty()).unwrap()
    };
    let refused = app.clone().oneshot(page(None)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().contains_key(header::WWW_AUTHENTICATE));
    // "admin:wrong" and "admin:s3cret" in base64.
    let wrong = app
        .clone()
        .oneshot(page(Some("Basic YWRtaW46d3Jvbmc=")))
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let shown = app
        .oneshot(page(Some("Basic YWRtaW46czNjcmV0")))
        .await
        .unwrap();
    assert_eq!(shown.status(), StatusCode::OK);
    let body = axum::body::to_bytes(shown.into_body(), 1 << 20)
        .await
        .unwrap();
    let html = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        html.contains("href=\"/admin/jobs/jobs\""),
        "links keep the mount point"
    );
    assert!(
        html.contains(">high<"),
        "the queue of the dispatched e-mail is listed"
    );
}
