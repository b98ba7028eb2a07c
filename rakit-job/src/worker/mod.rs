//! The worker: a builder ([`Worker`]) and one run of it ([`session`]), which fetches jobs
//! in priority order ([`fetch`], [`ahead`]), runs each ([`execute`]) while [`upkeep`]
//! renews leases and heartbeats, and hands every outcome to [`complete`], the one owner
//! of final writes.

mod ahead;
mod builder;
mod complete;
mod execute;
mod fetch;
#[cfg(test)]
mod overlap_tests;
mod progress;
mod report;
mod running;
mod session;
mod shutdown;
#[cfg(test)]
mod spy;
mod upkeep;

pub use builder::Worker;
pub use report::WorkerReport;
pub use shutdown::{ShutdownHandle, signals};
