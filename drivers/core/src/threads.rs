//! The few threads that blocking stores (a folder, memcached) run their steps on.
//!
//! Tokio's blocking pool starts a thread for every call that finds the others busy and
//! keeps it for ten seconds, so a busy worker gathers threads, and glibc gives each its
//! own malloc arena, about a MiB of resident memory apiece once a step has read a large
//! folder. A worker's store steps are few at a time (a claim or two, a batch
//! of acks, a renewal), so threads are added only when every one is busy, up to a small
//! limit, and kept for the life of the process.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

/// The most threads that run store steps. Two keep a claim from waiting behind a batch
/// of acks; side by side, a folder or memcached worker at concurrency 64 drained as fast
/// on two as on six, with 1–3 MiB less resident memory.
const MAX_THREADS: usize = 2;

/// One store step, boxed to travel to a thread.
pub(crate) type Task = Box<dyn FnOnce() + Send>;

/// Work waiting for a thread, and who is free to take it.
struct Pool {
    tasks: VecDeque<Task>,
    /// Threads running.
    threads: usize,
    /// Threads waiting for a task.
    idle: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    tasks: VecDeque::new(),
    threads: 0,
    idle: 0,
});
static READY: Condvar = Condvar::new();

/// Hands `task` to the store threads, adding one if every thread is busy and the limit
/// allows; gives it back if no thread runs and the operating system refused a new one,
/// so the caller can run it elsewhere.
pub(crate) fn run(task: Task) -> Result<(), Task> {
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    // Idle threads already woken for queued tasks are not free for this one.
    if pool.idle <= pool.tasks.len() && pool.threads < MAX_THREADS {
        let n = pool.threads;
        let spawned = std::thread::Builder::new()
            .name(format!("rakit-store-{n}"))
            .spawn(serve);
        match spawned {
            Ok(_) => pool.threads += 1,
            Err(_) if pool.threads == 0 => return Err(task),
            // The threads there are will take it when free.
            Err(_) => {}
        }
    }
    pool.tasks.push_back(task);
    drop(pool);
    READY.notify_one();
    Ok(())
}

/// Runs tasks one after another for the life of the process.
fn serve() {
    loop {
        let task = {
            let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(task) = pool.tasks.pop_front() {
                    break task;
                }
                pool.idle += 1;
                pool = READY.wait(pool).unwrap_or_else(|p| p.into_inner());
                pool.idle -= 1;
            }
        };
        task();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn tasks_run_on_the_store_threads_and_more_at_once_than_one() {
        let (sent, got) = mpsc::channel();
        // Two tasks that each wait for the other: they finish only if they run at once.
        let (a_tx, a_rx) = mpsc::channel::<()>();
        let (b_tx, b_rx) = mpsc::channel::<()>();
        for (tell, hear) in [(a_tx, b_rx), (b_tx, a_rx)] {
            let sent = sent.clone();
            let task: Task = Box::new(move || {
                tell.send(()).unwrap();
                hear.recv_timeout(std::time::Duration::from_secs(10))
                    .unwrap();
                let name = std::thread::current().name().map(str::to_string);
                sent.send(name).unwrap();
            });
            assert!(run(task).is_ok());
        }
        for _ in 0..2 {
            let name = got
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap();
            assert!(name.unwrap().starts_with("rakit-store-"));
        }
    }
}
