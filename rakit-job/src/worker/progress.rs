//! The live progress line a worker can draw on a terminal.

use super::WorkerReport;
use std::io::{IsTerminal, Write};

pub(crate) struct Progress {
    on: bool,
    drawn: bool,
}

impl Progress {
    /// Draws only when asked to and standard error is a terminal.
    pub(crate) fn new(wanted: bool) -> Self {
        Progress {
            on: wanted && std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    pub(crate) fn show(&mut self, report: &WorkerReport, running: usize) {
        if !self.on {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K[rakit-job] {} done, {} retried, {} failed, {} running",
            report.succeeded, report.retried, report.failed, running
        );
        let _ = err.flush();
        self.drawn = true;
    }

    pub(crate) fn finish(&mut self, report: &WorkerReport) {
        if self.drawn {
            self.show(report, 0);
            eprintln!();
        }
    }
}
