//! Fault tests shared by every durable driver: worker processes killed with SIGKILL while
//! jobs are dispatched and drained. What they find is returned so the caller can assert on it
//! and print it (docs/reliability.md records the figures of the last run).

use crate::{Harness, signal, wait_until};
use rakit_job::JobSpec;
use rakit_job::driver::StoreExt;
use rakit_test_jobs::runs::{CountRun, Runs};
use rakit_test_jobs::{Entry, NoOverlapSleep, RecordRun, read_log};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Expands to the crash-storm test for one store: 10,000 jobs, at least 20 SIGKILLs.
#[macro_export]
macro_rules! crash_storm_test {
    ($config:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn nothing_is_lost_when_workers_are_killed_mid_drain() {
            let harness =
                $crate::Harness::new($config().await, env!("CARGO_BIN_EXE_test-worker")).await;
            let every = std::time::Duration::from_millis(700);
            let report = $crate::faults::crash_storm(&harness, 10_000, 20, every).await;
            eprintln!("crash storm on {}: {report:?}", harness.queue.describe());
            assert!(report.kills >= 20, "{report:?}");
            assert_eq!(report.lost, 0, "{report:?}");
            assert_eq!(report.locks_held, 0, "{report:?}");
            assert_eq!(report.overlaps, 0, "{report:?}");
            assert_eq!(report.failed, 0, "{report:?}");
            // A job runs again only when the worker that ran it died before its ack was
            // written: while it ran, or while its ack waited in the worker's write queue.
            assert_eq!(report.unexplained_repeats, 0, "{report:?}");
        }
    };
}

/// Expands to the no-overlap-under-fire test for one store: 2,000 jobs over 10 keys,
/// four worker processes, SIGKILLs during the first half.
#[macro_export]
macro_rules! no_overlap_under_fire_test {
    ($config:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn no_overlap_holds_under_fire() {
            let harness =
                $crate::Harness::new($config().await, env!("CARGO_BIN_EXE_test-worker")).await;
            let every = std::time::Duration::from_millis(400);
            let (overlaps, lost, kills) =
                $crate::faults::no_overlap_under_fire(&harness, 2000, every).await;
            eprintln!(
                "no-overlap under fire on {}: {kills} kills, {lost} lost, {overlaps} overlaps",
                harness.queue.describe()
            );
            assert_eq!((overlaps, lost), (0, 0));
        }
    };
}

/// Expands to a big drain for one store: `$jobs` jobs dispatched up front, then drained by
/// `$processes` worker processes; each job must run exactly once.
///
/// With `counted_in_a_table` (PostgreSQL and MySQL), the jobs count their own runs into a
/// table of the store's database, the workers stop once the queues are empty, and the
/// test checks that table: `$jobs` rows of `$jobs` distinct jobs, nothing left pending or
/// failed. Otherwise the jobs append to a log file the test reads.
#[macro_export]
macro_rules! big_drain_test {
    ($config:path, $jobs:expr, $processes:expr, counted_in_a_table) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn many_worker_processes_drain_a_big_queue_exactly_once() {
            // Nobody is killed here, so a lease that cannot lapse under load makes "exactly once" strict.
            let config = rakit_job::Config {
                lease_ms: 30_000,
                ..$config().await
            };
            let mut harness = $crate::Harness::new(config, env!("CARGO_BIN_EXE_test-worker")).await;
            let report = $crate::faults::big_drain_counted(&mut harness, $jobs, $processes).await;
            eprintln!("big drain on {}: {report:?}", harness.queue.describe());
            assert_eq!((report.runs, report.jobs), ($jobs, $jobs), "{report:?}");
            assert_eq!(report.left, (0, 0, 0, 0), "{report:?}");
        }
    };
    ($config:path, $jobs:expr, $processes:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn many_worker_processes_drain_a_big_queue_exactly_once() {
            // Nobody is killed here, so a lease that cannot lapse under load makes "exactly once" strict.
            let config = rakit_job::Config {
                lease_ms: 30_000,
                ..$config().await
            };
            let harness = $crate::Harness::new(config, env!("CARGO_BIN_EXE_test-worker")).await;
            let (ran, repeated, elapsed) =
                $crate::faults::big_drain(&harness, $jobs, $processes).await;
            eprintln!(
                "big drain on {}: {ran} of {} jobs ran, {repeated} more than once, {elapsed:?}",
                harness.queue.describe(),
                $jobs
            );
            assert_eq!((ran, repeated), ($jobs, 0));
        }
    };
}

/// What a crash storm found.
#[derive(Debug, Default)]
pub struct StormReport {
    /// Jobs dispatched.
    pub dispatched: usize,
    /// SIGKILLs sent.
    pub kills: usize,
    /// Jobs that never ran.
    pub lost: usize,
    /// Jobs that ran more than once (their worker died between the run and its acknowledgement).
    pub repeated: usize,
    /// Runs followed by another run of the same job although their worker was not killed
    /// after them: a repeat no kill explains.
    pub unexplained_repeats: usize,
    /// No-overlap keys still locked after the storm.
    pub locks_held: usize,
    /// Pairs of runs of one no-overlap key that overlapped in time (a killed run ends when its process died).
    pub overlaps: usize,
    /// Jobs in the failed store.
    pub failed: u64,
    /// How long the storm took.
    pub elapsed: Duration,
}

/// A tiny xorshift generator, seeded from the clock: which worker to kill next.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % sides as u64) as usize
    }
}

/// How the workers of a storm run. A job a worker claimed ahead counts that attempt when
/// the worker is killed before starting it (docs/workers.md, "Claiming ahead"); with a
/// SIGKILL every fraction of a second, one job can sit in the buffers of several dying
/// workers, and after its fourth (the default three retries) it would fail as "its worker
/// stopped before finishing it". Ten attempts keep that out of a test of what is lost.
const UNDER_FIRE: [&str; 3] = ["--concurrency=4", "--sleep=50", "--retries=9"];

/// Dispatches `jobs` jobs (one in fifty a no-overlap job over 10 keys) while three worker
/// processes drain them, SIGKILLing a random worker about every `every` and restarting it,
/// at least `kills` times; then lets the workers finish and checks what ran.
pub async fn crash_storm(h: &Harness, jobs: usize, kills: usize, every: Duration) -> StormReport {
    let started = Instant::now();
    let log = h.log("storm.log");
    let overlap_log = h.log("storm-overlap.log");
    let mut workers: Vec<_> = (0..3).map(|_| h.spawn_worker(&UNDER_FIRE)).collect();

    let dispatcher = {
        let queue = h.queue.clone();
        let (log, overlap_log) = (log.clone(), overlap_log.clone());
        tokio::spawn(async move {
            let mut plain = 0;
            for i in 0..jobs {
                if i % 50 == 49 {
                    let job = NoOverlapSleep {
                        key: format!("k{}", i % 10),
                        ms: 5,
                        log: overlap_log.clone(),
                    };
                    NoOverlapSleep::dispatch(job)
                        .via(&queue)
                        .await
                        .expect("dispatch failed");
                } else {
                    RecordRun::dispatch(RecordRun {
                        log: log.clone(),
                        tag: format!("job-{i}"),
                    })
                    .via(&queue)
                    .await
                    .expect("dispatch failed");
                    plain += 1;
                }
            }
            plain
        })
    };

    let mut dice = Dice(started.elapsed().as_nanos() as u64 | 1);
    let mut sent = 0;
    let mut deaths: HashMap<u32, u64> = HashMap::new();
    while sent < kills || !dispatcher.is_finished() {
        tokio::time::sleep(every).await;
        let victim = dice.roll(workers.len());
        let pid = workers[victim].id().expect("a running worker has a pid");
        signal(&workers[victim], 9);
        let _ = workers[victim].wait().await;
        deaths.insert(pid, now_ms());
        workers[victim] = h.spawn_worker(&UNDER_FIRE);
        sent += 1;
    }
    let plain = dispatcher.await.expect("the dispatcher panicked");
    let overlapping = jobs - plain;

    // Every job must run. A failed one never will: the store is asked once a second, and
    // a failure is reported at once, with what the store and the workers look like.
    let drained = Instant::now();
    for look in 0u32.. {
        let ran: std::collections::HashSet<String> =
            read_log(&log).into_iter().map(|e| e.label).collect();
        let ends = read_log(&overlap_log)
            .iter()
            .filter(|e| e.event == "end")
            .count();
        if ran.len() >= plain && ends >= overlapping {
            break;
        }
        let failed = look % 50 == 49 && h.totals().await.3 > 0;
        if failed || drained.elapsed() > Duration::from_secs(300) {
            let missing: Vec<String> = (0..jobs)
                .filter(|i| i % 50 != 49)
                .map(|i| format!("job-{i}"))
                .filter(|tag| !ran.contains(tag))
                .take(5)
                .collect();
            panic!(
                "not every dispatched job ran ({}): {} of {plain} plain jobs ran (missing e.g. {missing:?}), {ends} of {overlapping} no-overlap jobs ended\n{}",
                if failed {
                    "some failed"
                } else {
                    "300 s passed"
                },
                ran.len(),
                stall_report(h, &mut workers).await
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_until("the store to empty", Duration::from_secs(60), || async {
        let t = h.totals().await;
        t.0 + t.1 + t.2 == 0
    })
    .await;
    for w in &workers {
        signal(w, 15);
    }

    let entries = read_log(&log);
    let runs = runs_by_job(&entries);
    // A lock whose holder was killed expires with the lease; after one lease none may be held.
    tokio::time::sleep(Duration::from_millis(h.config.lease_ms + 200)).await;
    let mut locks_held = 0;
    for k in 0..10 {
        let key = format!("{}:k{k}", NoOverlapSleep::NAME);
        if !h
            .queue
            .driver()
            .lock_one(&key, "probe", 1000)
            .await
            .expect("lock probe failed")
        {
            locks_held += 1;
        }
    }
    let overlaps = overlapping_runs(&read_log(&overlap_log), &deaths);
    StormReport {
        overlaps,
        dispatched: jobs,
        kills: sent,
        lost: plain - runs.len(),
        repeated: runs.values().filter(|r| r.len() > 1).count(),
        unexplained_repeats: unexplained_repeats(runs, &deaths),
        locks_held,
        failed: h.totals().await.3,
        elapsed: started.elapsed(),
    }
}

/// Each job's runs in the log, oldest first.
fn runs_by_job(entries: &[Entry]) -> HashMap<&str, Vec<&Entry>> {
    let mut by_job: HashMap<&str, Vec<&Entry>> = HashMap::new();
    for e in entries {
        by_job.entry(&e.label).or_default().push(e);
    }
    by_job
        .values_mut()
        .for_each(|runs| runs.sort_by_key(|e| e.at_ms));
    by_job
}

/// How many runs were followed by another run of the same job although the process that
/// made them was not killed after them (`deaths`: pid to when it was killed).
fn unexplained_repeats(runs: HashMap<&str, Vec<&Entry>>, deaths: &HashMap<u32, u64>) -> usize {
    runs.values()
        .filter_map(|runs| runs.split_last())
        .flat_map(|(_, earlier)| earlier)
        .filter(|run| deaths.get(&run.pid).is_none_or(|&died| died < run.at_ms))
        .count()
}

/// What the store and the workers look like when a storm's jobs stop running: the counts,
/// the jobs left, whether each worker still lives, and the end of its log.
async fn stall_report(h: &Harness, workers: &mut [tokio::process::Child]) -> String {
    use rakit_job::driver::{JobQuery, State};
    let now = now_ms() as i64;
    let mut out = format!(
        "store totals (ready, scheduled, reserved, failed): {:?}\n",
        h.totals().await
    );
    for state in [
        State::Pending,
        State::Scheduled,
        State::Running,
        State::Failed,
    ] {
        let page = h.queue.driver().jobs(&JobQuery::new(state, 5)).await;
        for job in page.map(|p| p.jobs).unwrap_or_default() {
            out += &format!(
                "  {state:?} {} {} attempts {} due in {:?} ms, lease ends in {:?} ms, worker {:?}, last error {:?}\n",
                job.name,
                job.id,
                job.attempts,
                job.due_at.map(|t| t - now),
                job.lease_until.map(|t| t - now),
                job.worker,
                job.last_error,
            );
        }
    }
    for (i, worker) in workers.iter_mut().enumerate() {
        out += &format!(
            "worker {i} (pid {:?}): exited {:?}\n",
            worker.id(),
            worker.try_wait()
        );
    }
    // The live workers' logs: the last ones created, since their names are time-ordered ids.
    let mut logs: Vec<_> = std::fs::read_dir(&h.dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    logs.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.ends_with(".log") && !name.starts_with("storm")
    });
    logs.sort();
    for path in logs.iter().rev().take(workers.len()) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(4)..];
        out += &format!("{}:\n  {}\n", path.display(), tail.join("\n  "));
    }
    out
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Counts pairs of runs of the same key whose time spans overlap. A run is one
/// (job id, attempt); one without an `end` line ended when its process was killed.
pub fn overlapping_runs(entries: &[Entry], deaths: &HashMap<u32, u64>) -> usize {
    /// One run of a job: its key, its start, its end if it logged one, and its process.
    struct Run {
        key: String,
        start: u64,
        end: Option<u64>,
        pid: u32,
    }
    let mut runs: HashMap<(String, u32), Run> = HashMap::new();
    for e in entries {
        let run = runs.entry((e.id.clone(), e.attempt)).or_insert(Run {
            key: e.label.clone(),
            start: 0,
            end: None,
            pid: e.pid,
        });
        match e.event.as_str() {
            "start" => run.start = e.at_ms,
            "end" => run.end = Some(e.at_ms),
            _ => {}
        }
    }
    let mut by_key: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
    for run in runs.into_values() {
        let end = run
            .end
            .or_else(|| deaths.get(&run.pid).copied())
            .unwrap_or(u64::MAX);
        by_key.entry(run.key).or_default().push((run.start, end));
    }
    let mut overlaps = 0;
    for spans in by_key.values_mut() {
        spans.sort();
        let mut busy_until = 0;
        for &(start, end) in spans.iter() {
            if start < busy_until {
                overlaps += 1;
            }
            busy_until = busy_until.max(end);
        }
    }
    overlaps
}

/// Runs `jobs` no-overlap jobs over 10 keys on four worker processes, SIGKILLing one about
/// every `every` for the first half of the drain; returns (overlaps, lost, kills).
pub async fn no_overlap_under_fire(
    h: &Harness,
    jobs: usize,
    every: Duration,
) -> (usize, usize, usize) {
    let log = h.log("fire.log");
    for i in 0..jobs {
        let job = NoOverlapSleep {
            key: format!("k{}", i % 10),
            ms: 2,
            log: log.clone(),
        };
        NoOverlapSleep::dispatch(job)
            .via(&h.queue)
            .await
            .expect("dispatch failed");
    }
    let mut workers: Vec<_> = (0..4).map(|_| h.spawn_worker(&UNDER_FIRE)).collect();
    let mut dice = Dice(now_ms() | 1);
    let mut deaths: HashMap<u32, u64> = HashMap::new();
    let ended = |log: &str| {
        read_log(log)
            .into_iter()
            .filter(|e| e.event == "end")
            .map(|e| e.id)
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    let started = Instant::now();
    while ended(&log) < jobs / 2 {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the no-overlap drain stalled"
        );
        tokio::time::sleep(every).await;
        let victim = dice.roll(workers.len());
        let pid = workers[victim].id().expect("a running worker has a pid");
        signal(&workers[victim], 9);
        let _ = workers[victim].wait().await;
        deaths.insert(pid, now_ms());
        workers[victim] = h.spawn_worker(&UNDER_FIRE);
    }
    wait_until(
        "every no-overlap job to end",
        Duration::from_secs(300),
        || async { ended(&log) >= jobs },
    )
    .await;
    for w in &workers {
        signal(w, 15);
    }
    let entries = read_log(&log);
    let ran: std::collections::HashSet<String> = entries
        .iter()
        .filter(|e| e.event == "end")
        .map(|e| e.id.clone())
        .collect();
    (
        overlapping_runs(&entries, &deaths),
        jobs - ran.len(),
        deaths.len(),
    )
}

/// Dispatches `jobs` jobs made by `job` from four tasks, over the queues high, default and low.
async fn dispatch_over_three_queues<J: JobSpec>(
    h: &Harness,
    jobs: usize,
    job: impl Fn(usize) -> J + Clone + Send + 'static,
) {
    let mut dispatchers = Vec::new();
    for part in 0..4 {
        let queue = h.queue.clone();
        let job = job.clone();
        dispatchers.push(tokio::spawn(async move {
            for i in (part..jobs).step_by(4) {
                J::dispatch(job(i))
                    .on_queue(["high", "default", "low"][i % 3])
                    .via(&queue)
                    .await
                    .expect("dispatch failed");
            }
        }));
    }
    for d in dispatchers {
        d.await.expect("a dispatcher panicked");
    }
}

/// Dispatches `jobs` jobs over three queues, then starts `processes` worker processes at
/// concurrency 8 and waits for the drain; returns (distinct jobs run, jobs run more than once, drain time).
pub async fn big_drain(h: &Harness, jobs: usize, processes: usize) -> (usize, usize, Duration) {
    let log = h.log("big.log");
    dispatch_over_three_queues(h, jobs, {
        let log = log.clone();
        move |i| RecordRun {
            log: log.clone(),
            tag: format!("job-{i}"),
        }
    })
    .await;
    let started = Instant::now();
    let workers: Vec<_> = (0..processes)
        .map(|_| h.spawn_worker(&["--concurrency=8", "--sleep=50"]))
        .collect();
    wait_until("the big drain", Duration::from_secs(600), || async {
        std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) > 0 && read_log(&log).len() >= jobs
    })
    .await;
    let elapsed = started.elapsed();
    for w in &workers {
        signal(w, 15);
    }
    let mut runs: HashMap<String, usize> = HashMap::new();
    for e in read_log(&log) {
        *runs.entry(e.label).or_default() += 1;
    }
    wait_until("the store to empty", Duration::from_secs(60), || async {
        h.totals().await == (0, 0, 0, 0)
    })
    .await;
    (
        runs.len(),
        runs.values().filter(|n| **n > 1).count(),
        elapsed,
    )
}

/// What a big drain counted in its runs table.
#[derive(Debug)]
pub struct DrainReport {
    /// Rows in the runs table: one per run.
    pub runs: usize,
    /// Distinct jobs among them.
    pub jobs: usize,
    /// What the store still holds: (ready, scheduled, reserved, failed).
    pub left: (u64, u64, u64, u64),
    /// From starting the workers to the last one exiting.
    pub elapsed: Duration,
}

/// Dispatches `jobs` [`CountRun`] jobs over three queues, then starts `processes` worker
/// processes at concurrency 8 that stop once the queues are empty, and waits for them to
/// exit. The jobs insert a row per run into `<table>_runs` in the store's own database
/// (PostgreSQL or MySQL), which the report counts.
pub async fn big_drain_counted(h: &mut Harness, jobs: usize, processes: usize) -> DrainReport {
    let url = h.config.store_url();
    let table = format!("{}_runs", h.config.table);
    let runs =
        Runs::lazy(&url, &table).expect("the big drain needs a postgres:// or mysql:// store");
    runs.create().await.expect("cannot create the runs table");
    h.set_env(rakit_test_jobs::runs::URL_VAR, &url);
    h.set_env(rakit_test_jobs::runs::TABLE_VAR, &table);
    dispatch_over_three_queues(h, jobs, |i| CountRun { n: i as u64 }).await;

    let started = Instant::now();
    let workers: Vec<_> = (0..processes)
        .map(|_| h.spawn_worker(&["--concurrency=8", "--stop-when-empty"]))
        .collect();
    for mut worker in workers {
        let exited = tokio::time::timeout(Duration::from_secs(600), worker.wait())
            .await
            .expect("a worker was still draining after 10 minutes")
            .expect("cannot wait for a worker");
        assert!(
            exited.success(),
            "a worker process ended with {exited}; its log is in {}",
            h.dir.display()
        );
    }
    let elapsed = started.elapsed();
    let (runs, distinct) = runs.count().await.expect("cannot count the runs");
    DrainReport {
        runs: runs as usize,
        jobs: distinct as usize,
        left: h.totals().await,
        elapsed,
    }
}
