//! Runs the web application of this example.
//!
//! - `cargo run -p example-web-app` sends a register and an upload request straight to the
//!   router, runs a worker until the jobs are done, prints what happened and exits.
//! - `cargo run -p example-web-app -- serve 127.0.0.1:3000` serves HTTP on that address
//!   with a worker in the same process, on the configured store (`storage/jobs.db`
//!   unless `config/job.toml` says otherwise), until Ctrl-C; then try
//!   `curl -i -H 'content-type: application/json' -d '{"name":"Ada","email":"ada@example.com"}' localhost:3000/register`.
//!   With `ADMIN_PASSWORD` set, the job dashboard is at <http://localhost:3000/admin/jobs>
//!   (user `admin`); without it the admin pages stay shut.

use axum::body::Body;
use axum::http::{Request, header};
use example_web_app::{AppState, app, outbox};
use rakit_job::{Queue, Worker};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

fn proves(ok: bool, claim: &str) -> Result<(), String> {
    if ok {
        println!("ok: {claim}");
        Ok(())
    } else {
        Err(format!(
            "this example expected that {claim}, but it did not hold"
        ))
    }
}

async fn demo(uploads: PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let queue = Queue::memory();
    let state = AppState {
        queue: queue.clone(),
        uploads: uploads.clone(),
        users: Arc::new(Mutex::new(Vec::new())),
        admin_password: Some("demo-password".into()),
    };

    let request = Request::post("/register")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name":"John","email":"john@example.com"}"#))?;
    let response = app(state.clone()).oneshot(request).await?;
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or("")
        .to_string();
    println!("POST /register -> {} (to {location})", response.status());
    proves(
        response.status().is_redirection() && location == "/login",
        "register answered with the redirect to /login at once",
    )?;

    let request = Request::post("/upload/42").body(Body::from(vec![0u8; 4096]))?;
    let response = app(state.clone()).oneshot(request).await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1024).await?;
    println!(
        "POST /upload/42 -> {status} {}",
        String::from_utf8_lossy(&body)
    );
    proves(
        status.is_success() && body.as_ref() == br#"{"message":"Processing..."}"#,
        "upload answered \"Processing...\" at once",
    )?;
    proves(
        outbox().is_empty(),
        "no e-mail was sent during the requests",
    )?;

    println!("\nthe job dashboard, mounted at /admin/jobs behind the app's admin guard:");
    let stats = || Request::get("/admin/jobs/api/stats");
    let response = app(state.clone())
        .oneshot(stats().body(Body::empty())?)
        .await?;
    println!(
        "GET /admin/jobs/api/stats without credentials -> {}",
        response.status()
    );
    proves(
        response.status() == 401,
        "the dashboard is shut to a visitor without the admin password",
    )?;
    // "admin:demo-password" in base64, as a browser sends it after asking.
    let admin = "Basic YWRtaW46ZGVtby1wYXNzd29yZA==";
    let request = stats()
        .header(header::AUTHORIZATION, admin)
        .body(Body::empty())?;
    let response = app(state.clone()).oneshot(request).await?;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await?;
    let json: serde_json::Value = serde_json::from_slice(&body)?;
    println!("GET /admin/jobs/api/stats as admin -> {status} {json}");
    let waiting: u64 = json["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| q["ready"].as_u64())
        .sum();
    proves(
        status.is_success() && waiting == 2,
        "the admin sees both dispatched jobs waiting",
    )?;

    println!("\na worker runs the dispatched jobs:");
    let report = Worker::new(&queue).stop_when_empty().run().await?;
    println!("  {report:?}");
    let sent = outbox();
    println!("  outbox: {sent:?}");
    proves(
        sent == ["john@example.com: Welcome! (emails.welcome, hello John)"],
        "the welcome e-mail was sent by the worker",
    )?;
    let processed = std::fs::read_dir(&uploads)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "processed"))
        .count();
    proves(
        processed == 1,
        "the uploaded photo was processed by the worker",
    )?;
    Ok(())
}

async fn serve(address: &str) -> Result<(), Box<dyn std::error::Error>> {
    rakit_job::cli::init_logging();
    let queue = rakit_job::init().await?;
    let uploads = PathBuf::from("storage/uploads");
    std::fs::create_dir_all(&uploads)?;
    let state = AppState {
        queue: queue.clone(),
        uploads,
        users: Arc::new(Mutex::new(Vec::new())),
        admin_password: std::env::var("ADMIN_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()),
    };
    let worker = Worker::new(&queue).queues(["high", "default", "low"]);
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    let listener = tokio::net::TcpListener::bind(address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    stop.shutdown();
    running.await??;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(args.get(1).map_or("127.0.0.1:3000", String::as_str)).await,
        Some(other) => Err(format!(
            "unknown argument {other:?}; run without arguments, or with `serve [ADDRESS]`"
        )
        .into()),
        None => {
            let uploads =
                std::env::temp_dir().join(format!("rakit-example-web-app-{}", std::process::id()));
            let created = std::fs::create_dir_all(&uploads);
            let result = match created {
                Ok(()) => demo(uploads.clone()).await,
                Err(e) => Err(e.into()),
            };
            let _ = std::fs::remove_dir_all(&uploads);
            result
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
