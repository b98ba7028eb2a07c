//! Stopping a worker: SIGINT/SIGTERM, or a [`ShutdownHandle`] held by the application.

use crate::context::CancelSignal;

/// Asks a worker to stop taking jobs and finish the running ones within its grace period.
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

/// Turns the first SIGINT or SIGTERM into a shutdown request.
pub(crate) fn listen_for_signals(handle: ShutdownHandle) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(target: "rakit_job", "shutdown requested: no new jobs will be taken");
        handle.shutdown();
    });
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
