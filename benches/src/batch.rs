//! `batch`: how fast a [`Batch`] of many jobs is dispatched, beside a plain bulk dispatch
//! of the same jobs on the same store, in alternating rounds.
//!
//! A batch writes its record, then stores its jobs on the bulk path; the ratio says what
//! the record and the jobs' batch meta cost.
//!
//! ```text
//! rakit-job-benches batch --stores sqlite,postgres,redis --jobs 10000 --rounds 5
//! ```

use crate::rakit::{BenchNoop, Rakit};
use crate::store::{Store, Target};
use crate::system::System;
use crate::{BenchError, args};
use rakit_job::prelude::*;
use rakit_job::{Batch, Queue};
use std::path::PathBuf;
use std::time::Instant;

/// Runs the `batch` command with its options.
pub fn run(argv: &[String]) -> Result<(), BenchError> {
    let o = args::Opts::parse(argv)?;
    o.only(&["stores", "jobs", "rounds", "data"])?;
    let stores = Store::parse_list(o.value("stores").unwrap_or("all"))?;
    let jobs = o.number("jobs")?.unwrap_or(10_000).max(1);
    let rounds = o.number("rounds")?.unwrap_or(5).max(1);
    let data = std::path::absolute(PathBuf::from(
        o.value("data").unwrap_or("target/bench/data"),
    ))
    .map_err(|e| BenchError::Io(format!("cannot resolve the data folder: {e}")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Io(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        println!("| store | bulk (jobs/s) | batch (jobs/s) | batch ÷ bulk |");
        println!("|---|---|---|---|");
        for store in stores {
            let target = Target::fresh(store, &data);
            let client = Rakit.client(&target).await?;
            let outcome = time_store(&target, jobs, rounds).await;
            client.cleanup().await?;
            let (bulk, batch) = outcome?;
            println!(
                "| {} | {bulk:.0} | {batch:.0} | {:.2} |",
                store.name(),
                batch / bulk
            );
        }
        Ok(())
    })
}

/// The median rates of plain bulk and batch dispatch of `jobs` jobs on one store.
async fn time_store(target: &Target, jobs: u64, rounds: u64) -> Result<(f64, f64), BenchError> {
    let queue = Queue::connect(&Rakit::config(target, 1000))
        .await
        .map_err(BenchError::store)?;
    let (mut bulk, mut batch) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so a store that slows as it fills favours neither.
        for as_batch in [round % 2 == 0, round % 2 == 1] {
            let rate = dispatch(&queue, jobs, as_batch).await?;
            eprintln!(
                "{} round {}/{rounds}: {} {rate:.0} jobs/s",
                target.store.name(),
                round + 1,
                if as_batch { "batch" } else { "bulk" }
            );
            if as_batch { &mut batch } else { &mut bulk }.push(rate);
        }
    }
    Ok((median(&mut bulk), median(&mut batch)))
}

/// Dispatches `jobs` jobs in one go, as a batch or plainly; jobs per second.
async fn dispatch(queue: &Queue, jobs: u64, as_batch: bool) -> Result<f64, BenchError> {
    let all = (0..jobs).map(|seq| BenchNoop { seq, sent_us: 0 });
    let started = Instant::now();
    if as_batch {
        Batch::new("bench")
            .add_all(all)
            .via(queue)
            .dispatch()
            .await
            .map_err(BenchError::store)?;
    } else {
        BenchNoop::dispatch_many(all)
            .via(queue)
            .await
            .map_err(BenchError::store)?;
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}
