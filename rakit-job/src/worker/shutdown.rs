//! Stopping a worker: a [`ShutdownHandle`] held by the application, or a future given to
//! [`Worker::shutdown_on`](super::Worker::shutdown_on), such as [`signals`] (what the CLI
//! uses). A library call never takes over the process's signals on its own.

use crate::context::CancelSignal;

/// Asks a worker to stop taking jobs and finish the running ones within its grace period.
///
/// ```standalone_crate
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let queue = rakit_job::Queue::memory();
/// let worker = rakit_job::Worker::new(&queue);
/// let stop = worker.shutdown_handle();
/// let running = tokio::spawn(worker.run());
/// stop.shutdown();
/// assert_eq!(running.await.unwrap().unwrap().processed(), 0);
/// # });
/// ```
#[derive(Clone, Default)]
pub struct ShutdownHandle(CancelSignal);

impl ShutdownHandle {
    /// Requests the stop; the worker's `run` then returns once its jobs are done or handed back.
    pub fn shutdown(&self) {
        self.0.cancel();
    }

    /// True once a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.0.is_cancelled()
    }

    pub(crate) async fn requested(&self) {
        self.0.cancelled().await
    }
}

/// Completes on the process's first SIGINT (Ctrl-C) or SIGTERM: pass it to
/// [`Worker::shutdown_on`](super::Worker::shutdown_on) in a program that runs only a worker.
/// A program that serves more (a web server) should combine it with its own shutdown
/// instead, since once awaited, tokio keeps those signals from ending the process.
///
/// ```no_run
/// # async fn demo() -> Result<(), rakit_job::Error> {
/// let queue = rakit_job::init().await?;
/// rakit_job::Worker::new(&queue).shutdown_on(rakit_job::shutdown_signal()).run().await?;
/// # Ok(()) }
/// ```
pub async fn signals() {
    wait_for_signal().await;
    tracing::info!(target: "rakit_job", "shutdown requested: no new jobs will be taken");
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
