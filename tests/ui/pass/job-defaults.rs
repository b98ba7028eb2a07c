//! A job without arguments: its name is the struct's in kebab-case, the rest defaults.
use rakit_job::JobOptions;
use rakit_job::prelude::*;

#[job]
pub struct SendEmail {
    pub to: String,
}

#[job()]
pub struct GenerateHTMLReport {
    pub month: u8,
}

/// A unit struct is a job without payload.
#[job]
pub struct Ping;

/// So is a tuple struct.
#[job]
pub struct Resize(pub u32, pub u32);

macro_rules! noop_jobs {
    ($($t:ty),*) => {$(
        impl Jobable for $t {
            async fn run(&self, _ctx: &JobContext) -> JobResult {
                Ok(())
            }
        }
    )*};
}
noop_jobs!(SendEmail, GenerateHTMLReport, Ping, Resize);

fn main() {
    assert_eq!(SendEmail::NAME, "send-email");
    assert_eq!(SendEmail::QUEUE, "default");
    assert_eq!(SendEmail::OPTIONS, JobOptions::DEFAULT);
    assert_eq!(GenerateHTMLReport::NAME, "generate-html-report");
    assert_eq!(Ping::NAME, "ping");
    assert_eq!(Resize::NAME, "resize");

    let names: Vec<&str> = rakit_job::__private::all().iter().map(|e| e.name).collect();
    for name in ["generate-html-report", "ping", "resize", "send-email"] {
        assert!(names.contains(&name), "{name} is not registered: {names:?}");
    }
}
