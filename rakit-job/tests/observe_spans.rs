//! The tracing spans of DESIGN's observability promise: one `dispatch` span per dispatch and
//! one `run` span per job run, with their fields, seen by a subscriber that records them.

use rakit_job::prelude::*;
use rakit_job::{Queue, Worker};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[job(queue = "high")]
struct Greet {
    name: String,
}

impl Jobable for Greet {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        tracing::info!(who = %self.name, "greeting");
        if self.name.is_empty() {
            return Err(JobError::permanent("nobody to greet"));
        }
        Ok(())
    }
}

/// A closed span: its name and every field recorded on it, as text.
#[derive(Clone, Debug)]
struct Seen {
    name: &'static str,
    fields: BTreeMap<String, String>,
}

impl Seen {
    fn get(&self, field: &str) -> &str {
        self.fields
            .get(field)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no field {field} in {self:?}"))
    }
}

/// An event's message and the names of the spans it happened in, innermost first.
type EventScope = (String, Vec<&'static str>);

#[derive(Clone, Default)]
struct Recorder {
    open: Arc<Mutex<BTreeMap<u64, Seen>>>,
    closed: Arc<Mutex<Vec<Seen>>>,
    events: Arc<Mutex<Vec<EventScope>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let mut seen = Seen {
            name: attrs.metadata().name(),
            fields: BTreeMap::new(),
        };
        attrs.record(&mut Fields(&mut seen.fields));
        self.open.lock().unwrap().insert(id.into_u64(), seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        if let Some(seen) = self.open.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let scope = ctx
            .event_scope(event)
            .map(|s| s.map(|span| span.name()).collect())
            .unwrap_or_default();
        self.events
            .lock()
            .unwrap()
            .push((fields.remove("message").unwrap_or_default(), scope));
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        if let Some(seen) = self.open.lock().unwrap().remove(&id.into_u64()) {
            self.closed.lock().unwrap().push(seen);
        }
    }
}

impl Recorder {
    fn spans(&self, name: &str) -> Vec<Seen> {
        self.closed
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }
}

/// Runs `body` on a single-threaded runtime with `recorder` as the only subscriber.
fn traced<F: std::future::Future>(recorder: &Recorder, body: F) -> F::Output {
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(body)
    })
}

#[test]
fn each_dispatch_has_a_span_with_the_job_and_its_outcome() {
    let recorder = Recorder::default();
    let id = traced(&recorder, async {
        let queue = Queue::memory();
        let id = Greet::dispatch(Greet { name: "ada".into() })
            .via(&queue)
            .await
            .unwrap();
        Greet::dispatch(Greet { name: "bob".into() })
            .via(&queue)
            .delay(Duration::from_secs(60))
            .await
            .unwrap();
        let first = Greet::dispatch(Greet { name: "ada".into() })
            .via(&queue)
            .unique()
            .await
            .unwrap();
        let second = Greet::dispatch(Greet { name: "ada".into() })
            .via(&queue)
            .unique()
            .await
            .unwrap();
        assert!(
            first.is_some() && second.is_none(),
            "the second unique dispatch finds the first pending"
        );
        Greet::dispatch(Greet { name: "x".into() })
            .via(&queue)
            .on_queue("no spaces allowed")
            .await
            .unwrap_err();
        id
    });
    let spans = recorder.spans("dispatch");
    assert_eq!(spans.len(), 5, "{spans:?}");
    let first = &spans[0];
    assert_eq!(
        (first.get("job"), first.get("queue"), first.get("outcome")),
        ("greet", "high", "stored")
    );
    assert_eq!(first.get("id"), id.as_str());
    assert_eq!(first.get("delay_ms"), "0");
    let delayed: u64 = spans[1].get("delay_ms").parse().unwrap();
    assert!((59_000..=60_000).contains(&delayed), "{delayed}");
    assert_eq!(
        (spans[2].get("outcome"), spans[3].get("outcome")),
        ("stored", "skipped")
    );
    assert_eq!(spans[4].get("outcome"), "refused");
    assert!(
        !spans[4].fields.contains_key("id"),
        "a refused dispatch has no id"
    );
    let added = recorder
        .events
        .lock()
        .unwrap()
        .iter()
        .find(|(m, _)| m.starts_with("Job added: greet"))
        .cloned();
    assert_eq!(
        added.expect("a `Job added` line").1,
        ["dispatch"],
        "the log line happens inside the dispatch span"
    );
}

#[test]
fn each_job_run_has_a_span_with_attempt_outcome_duration_and_error() {
    let recorder = Recorder::default();
    let ids = traced(&recorder, async {
        let queue = Queue::memory();
        let ok = Greet::dispatch(Greet { name: "ada".into() })
            .via(&queue)
            .await
            .unwrap();
        let bad = Greet::dispatch(Greet {
            name: String::new(),
        })
        .via(&queue)
        .await
        .unwrap();
        let report = Worker::new(&queue)
            .quiet()
            .stop_when_empty()
            .run()
            .await
            .unwrap();
        assert_eq!((report.succeeded, report.failed), (1, 1));
        (ok, bad)
    });
    let runs = recorder.spans("run");
    assert_eq!(runs.len(), 2, "{runs:?}");
    let ok = runs
        .iter()
        .find(|s| s.get("id") == ids.0.as_str())
        .expect("the good job's span");
    assert_eq!(
        (
            ok.get("job"),
            ok.get("queue"),
            ok.get("attempt"),
            ok.get("outcome")
        ),
        ("greet", "high", "1", "succeeded")
    );
    assert!(ok.get("duration_ms").parse::<u64>().is_ok(), "{ok:?}");
    assert!(!ok.fields.contains_key("error"), "{ok:?}");
    let bad = runs
        .iter()
        .find(|s| s.get("id") == ids.1.as_str())
        .expect("the failing job's span");
    assert_eq!(
        (bad.get("outcome"), bad.get("error")),
        ("failed", "nobody to greet")
    );

    let events = recorder.events.lock().unwrap().clone();
    let greeting = events
        .iter()
        .find(|(m, _)| m == "greeting")
        .expect("the job's own event");
    assert_eq!(
        greeting.1,
        ["run"],
        "a job's own events happen inside its run span"
    );
    let executed = events
        .iter()
        .find(|(m, _)| m.starts_with("Job executed: greet"))
        .expect("a `Job executed` line");
    assert_eq!(executed.1, ["run"]);
    let failed = events
        .iter()
        .find(|(m, _)| m.starts_with("Job failed: greet"))
        .expect("a `Job failed` line");
    assert_eq!(failed.1, ["run"]);
}
