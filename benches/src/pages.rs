//! `pages`: how long the dashboard takes to answer each page with many jobs in the store.
//!
//! The dashboard promises a page in under 50 ms of server time with 100,000 jobs stored.
//! This fills a fresh corner of each store with `--jobs` queued jobs over three queues,
//! serves [`rakit_job::dashboard::router`] on a loopback port and times every page over
//! HTTP (so the figures include one loopback round trip: an upper bound on server time).
//!
//! ```text
//! rakit-job-benches pages --stores sqlite,postgres,redis --jobs 100000
//! ```

use crate::rakit::{BenchNoop, Rakit};
use crate::store::{Store, Target};
use crate::system::System;
use crate::{BenchError, args};
use rakit_job::Queue;
use rakit_job::prelude::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The budget the dashboard promises for one page.
const BUDGET_MS: f64 = 50.0;
/// Jobs per bulk dispatch while filling the store.
const BATCH: u64 = 1_000;
/// Timed requests per page (after one warm-up).
const ROUNDS: usize = 20;

/// Runs the `pages` command with its options.
pub fn run(argv: &[String]) -> Result<(), BenchError> {
    let o = args::Opts::parse(argv)?;
    o.only(&["stores", "jobs", "data"])?;
    let stores = Store::parse_list(o.value("stores").unwrap_or("all"))?;
    let jobs = o.number("jobs")?.unwrap_or(100_000).max(1);
    let data = std::path::absolute(PathBuf::from(
        o.value("data").unwrap_or("target/bench/data"),
    ))
    .map_err(|e| BenchError::Io(format!("cannot resolve the data folder: {e}")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Io(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let mut over = Vec::new();
        for store in stores {
            let target = Target::fresh(store, &data);
            let client = Rakit.client(&target).await?;
            let outcome = time_store(&target, jobs, &mut over).await;
            client.cleanup().await?;
            outcome?;
        }
        if over.is_empty() {
            println!("\nevery page answered within {BUDGET_MS} ms (median)");
        } else {
            println!("\npages over {BUDGET_MS} ms (median): {}", over.join(", "));
        }
        Ok(())
    })
}

/// Fills one store and times every page on it; pages over budget are added to `over`.
async fn time_store(target: &Target, jobs: u64, over: &mut Vec<String>) -> Result<(), BenchError> {
    let queue = Queue::connect(&Rakit::config(target, 1000))
        .await
        .map_err(BenchError::store)?;
    fill(&queue, target.store, jobs).await?;
    let some = queue
        .jobs()
        .limit(1)
        .await
        .map_err(BenchError::store)?
        .jobs
        .first()
        .map(|j| j.id.to_string())
        .ok_or_else(|| BenchError::Store("the store lists no job after filling it".into()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::Io(format!("cannot listen on loopback: {e}")))?;
    let address = listener
        .local_addr()
        .map_err(|e| BenchError::Io(format!("cannot read the listening address: {e}")))?;
    let server =
        tokio::spawn(
            async move { axum::serve(listener, rakit_job::dashboard::router(queue)).await },
        );
    println!("{:<44} {:>10} {:>10}", "page", "median ms", "max ms");
    let pages = [
        "/".to_string(),
        "/queues".into(),
        "/jobs".into(),
        "/jobs?state=pending&queue=low".into(),
        format!("/jobs/{some}"),
        "/failed".into(),
        "/workers".into(),
        "/schedules".into(),
        "/chart.svg".into(),
        "/api/stats".into(),
        "/api/jobs?state=pending&limit=50".into(),
    ];
    for page in &pages {
        let mut times = Vec::with_capacity(ROUNDS);
        get(address, page).await?;
        for _ in 0..ROUNDS {
            let started = Instant::now();
            get(address, page).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let median = times[ROUNDS / 2];
        println!("{page:<44} {median:>10.2} {:>10.2}", times[ROUNDS - 1]);
        if median > BUDGET_MS {
            over.push(format!("{} {page}", target.store.name()));
        }
    }
    server.abort();
    Ok(())
}

/// Dispatches `jobs` no-op jobs spread over the queues high, default and low, with progress.
async fn fill(queue: &Queue, store: Store, jobs: u64) -> Result<(), BenchError> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut sent = 0;
    while sent < jobs {
        let count = BATCH.min(jobs - sent);
        let name = ["high", "default", "low"][(sent / BATCH % 3) as usize];
        let batch = (sent..sent + count).map(|seq| BenchNoop { seq, sent_us: 0 });
        BenchNoop::dispatch_many(batch)
            .on_queue(name)
            .via(queue)
            .await
            .map_err(BenchError::store)?;
        sent += count;
        if last_report.elapsed() > Duration::from_secs(2) || sent == jobs {
            println!("{}: {sent}/{jobs} jobs stored", store.name());
            last_report = Instant::now();
        }
    }
    println!(
        "{}: {jobs} jobs stored in {:.1} s",
        store.name(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One `GET path` over HTTP/1.1; fails unless the answer is a 200.
async fn get(address: std::net::SocketAddr, path: &str) -> Result<(), BenchError> {
    let io = |e: std::io::Error| BenchError::Io(format!("GET {path} failed: {e}"));
    let mut stream = tokio::net::TcpStream::connect(address).await.map_err(io)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.map_err(io)?;
    let status = String::from_utf8_lossy(&answer[..answer.len().min(12)]).to_string();
    if status.ends_with(" 200") {
        Ok(())
    } else {
        Err(BenchError::Worker(format!(
            "the dashboard answered GET {path} with `{status}`"
        )))
    }
}
