//! A store for the worker's tests: the in-memory store, watched — it records the size of
//! each batch of final writes, and can hold one chosen claim until the test lets it go.

use crate::{Config, Queue};
use rakit_job_core::{Driver, Finish, Hooks, MemoryDriver, ReserveRequest, Watched};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, Semaphore};

/// Holds the `hold`-th claim until [`open`](Gate::open) is called.
pub(crate) struct Gate {
    hold: usize,
    pub(crate) claims: AtomicUsize,
    pub(crate) holding: AtomicBool,
    /// Notified when the held claim starts waiting.
    pub(crate) started: Notify,
    open: Semaphore,
    /// Jobs the test saw run while the held claim waited.
    pub(crate) ran_while_held: AtomicUsize,
}

impl Gate {
    pub(crate) fn new(hold: usize) -> Gate {
        Gate {
            hold,
            claims: AtomicUsize::new(0),
            holding: AtomicBool::new(false),
            started: Notify::new(),
            open: Semaphore::new(0),
            ran_while_held: AtomicUsize::new(0),
        }
    }

    pub(crate) fn open(&self) {
        self.open.add_permits(1);
    }
}

/// What the spy watches for.
#[derive(Default)]
struct Watch {
    /// The size of each `complete` call.
    batches: Mutex<Vec<usize>>,
    gate: Option<Gate>,
}

#[async_trait::async_trait]
impl Hooks for Watch {
    async fn reserving(&self, _request: &ReserveRequest<'_>) {
        if let Some(gate) = &self.gate
            && gate.claims.fetch_add(1, Ordering::SeqCst) + 1 == gate.hold
        {
            gate.holding.store(true, Ordering::SeqCst);
            gate.started.notify_one();
            gate.open.acquire().await.unwrap().forget();
            gate.holding.store(false, Ordering::SeqCst);
        }
    }

    fn completed(&self, finished: &[Finish], _written: &[bool]) {
        self.batches.lock().unwrap().push(finished.len());
    }
}

/// The in-memory store, watched; clones share it.
#[derive(Clone)]
pub(crate) struct Spy(Arc<Watched<Watch>>);

impl Spy {
    pub(crate) fn new() -> Spy {
        Spy::with(Watch::default())
    }

    /// A spy whose claims pass through the gate.
    pub(crate) fn gated(gate: Gate) -> Spy {
        Spy::with(Watch {
            gate: Some(gate),
            ..Watch::default()
        })
    }

    fn with(watch: Watch) -> Spy {
        Spy(Arc::new(Watched::new(Arc::new(MemoryDriver::new()), watch)))
    }

    pub(crate) fn store(&self) -> Arc<dyn Driver> {
        self.0.clone()
    }

    /// A queue on this store.
    pub(crate) fn queue(&self) -> Queue {
        Queue::with_driver(self.store(), Config::default())
    }

    pub(crate) fn gate(&self) -> &Gate {
        self.0.hooks().gate.as_ref().expect("this spy has no gate")
    }

    /// The size of each batch of final writes so far.
    pub(crate) fn batches(&self) -> Vec<usize> {
        self.0.hooks().batches.lock().unwrap().clone()
    }
}
