//! The dashboard as a person uses it: headless Chromium (Debian's `chromium`, driven
//! through `chromedriver` by WebDriver) on every store, and the sign-in, cross-origin and
//! read-only guards. `scripts/services.sh` installs both programs.
//!
//! Each page visited is saved as a PNG under `target/dashboard-screenshots/`.

use fantoccini::{Client, ClientBuilder, Locator};
use rakit_job::dashboard::{self, Options};
use rakit_job::prelude::*;
use rakit_job::{JobId, Queue, State};
use rakit_job_tests::stores::{TestStore, config};
use rakit_job_tests::{Harness, temp_dir, wait_until};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

/// The figure of pending jobs over every queue, on the overview and queues pages.
const ALL_PENDING: &str = "tfoot [data-key='queues * ready']";

/// Markup that would run if the dashboard let a payload through as HTML.
const XSS: &str =
    "<script>window.__xss='script'</script><img src=x onerror=\"window.__xss='img'\">";

/// Writes a file: the proof that it ran.
#[job(queue = "dash", retries = 0)]
pub struct Touch {
    /// The file to write.
    pub path: String,
}

impl Jobable for Touch {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        std::fs::write(&self.path, "ran")?;
        Ok(())
    }
}

/// Fails for good until its marker file exists, then writes `done`.
#[job(queue = "dash", retries = 0)]
pub struct NeedsMarker {
    /// Created by the test before retrying.
    pub marker: String,
    /// Written once it succeeds.
    pub done: String,
}

impl Jobable for NeedsMarker {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        if !Path::new(&self.marker).exists() {
            return Err(JobError::permanent("the marker file is missing"));
        }
        std::fs::write(&self.done, "ran")?;
        Ok(())
    }
}

/// Headless Chromium under its own chromedriver, with a fresh profile.
struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: PathBuf,
    label: String,
}

impl Browser {
    /// Starts chromedriver and a session; a port taken by another test between
    /// `free_port` and chromedriver's bind is retried on a fresh port.
    async fn start(label: &str) -> Browser {
        let mut last_error = String::new();
        for _ in 0..3 {
            match Browser::try_start(label).await {
                Ok(browser) => return browser,
                Err(e) => last_error = e,
            }
        }
        panic!("chromedriver could not start chromium ({last_error}); run scripts/services.sh")
    }

    async fn try_start(label: &str) -> Result<Browser, String> {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is missing; run scripts/services.sh to install chromium-driver");
        let profile = temp_dir("chromium-profile");
        let mut browser = Browser {
            client: None,
            driver,
            profile,
            label: label.to_string(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut exited = false;
        let deadline = std::time::Instant::now() + LONG;
        while std::time::Instant::now() < deadline {
            if browser.driver.try_wait().ok().flatten().is_some() {
                exited = true;
                break;
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if exited {
            return Err(format!("chromedriver exited at once on port {port}"));
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", browser.profile.display()),
                    "--window-size=1280,1000",
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object");
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&url)
            .await
            .map_err(|e| e.to_string())?;
        browser.client = Some(client);
        Ok(browser)
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a started browser")
    }

    async fn open(&self, url: &str) {
        self.client().goto(url).await.unwrap();
    }

    /// Saves the page as `target/dashboard-screenshots/<label>-<name>.png`.
    async fn shot(&self, name: &str) {
        let png = self.client().screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{}-{name}.png", self.label)), png).unwrap();
    }

    async fn text(&self, css: &str) -> String {
        let element = self.client().find(Locator::Css(css)).await;
        let element = element.unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
        element.text().await.unwrap()
    }

    /// Clicks a button that submits a form, and waits for the page it leads to.
    async fn submit(&self, locator: Locator<'_>) {
        let element = self.client().find(locator).await;
        let element = element.unwrap_or_else(|e| panic!("nothing to click at {locator:?}: {e}"));
        self.run_js("window.__before = true").await;
        element.click().await.unwrap();
        wait_until("the next page to load", LONG, || async {
            let now = self
                .client()
                .execute(
                    "return window.__before === undefined && document.readyState === 'complete'",
                    Vec::new(),
                )
                .await;
            now.is_ok_and(|loaded| loaded == json!(true))
        })
        .await;
    }

    /// Waits until the element at `css` reads `expected`, as the page's script refreshes it.
    async fn wait_text(&self, css: &str, expected: &str) {
        let what = format!("{css} to read {expected:?}");
        wait_until(&what, LONG, || async {
            let found = self.client().find(Locator::Css(css)).await;
            match found {
                Ok(element) => element.text().await.is_ok_and(|t| t.trim() == expected),
                Err(_) => false,
            }
        })
        .await;
    }

    async fn run_js(&self, script: &str) -> Value {
        self.client().execute(script, Vec::new()).await.unwrap()
    }

    /// True when no injected markup ran or became an element.
    async fn no_script_ran(&self) -> bool {
        let found = self
            .run_js("return [window.__xss === undefined, document.querySelectorAll('main script, main img:not(.chart)').length]")
            .await;
        found == json!([true, 0])
    }

    async fn quit(mut self) {
        if let Some(client) = self.client.take() {
            client.close().await.unwrap();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A killed chromedriver leaves its Chromium behind: end those of this profile only.
        for pid in processes_using(&self.profile) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// The processes whose command line names `profile`.
fn processes_using(profile: &Path) -> Vec<u32> {
    let needle = profile.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Serves `app` on a free loopback port for the rest of the test; its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

async fn state_of(queue: &Queue, id: &JobId) -> Option<State> {
    queue.job(id).await.unwrap().map(|j| j.state)
}

/// Everything a person does on one store, in Chromium.
async fn walk_through(store: TestStore) {
    let label = format!("{store:?}").to_lowercase();
    let h = Harness::new(config(store), env!("CARGO_BIN_EXE_test-worker")).await;
    let q = h.queue.clone();
    let dir = temp_dir("dashboard");
    let file = |name: &str| dir.join(name).display().to_string();
    let site = serve(dashboard::router(q.clone())).await;
    let browser = Browser::start(&label).await;

    // A job dispatched while the overview is open is counted there without a reload, and
    // listed on the jobs page.
    browser.open(&format!("{site}/")).await;
    assert_eq!(browser.text(ALL_PENDING).await, "0");
    let first = Touch::dispatch(Touch {
        path: file("first"),
    })
    .via(&q)
    .await
    .unwrap();
    browser.wait_text(ALL_PENDING, "1").await;
    browser.open(&format!("{site}/jobs?queue=dash")).await;
    let listed = browser.text(&format!("a[href$='/jobs/{first}']")).await;
    assert_eq!(listed, first.as_str());
    browser.shot("jobs").await;

    // Paused from the queues page, the queue is held by a live worker until resumed.
    browser.open(&format!("{site}/queues")).await;
    browser
        .submit(Locator::XPath(
            "//tr[th[starts-with(normalize-space(.), 'dash')]]//button[text()='Pause']",
        ))
        .await;
    assert!(browser.text(".note").await.contains("Queue dash is paused"));
    assert_eq!(q.paused().await.unwrap(), ["dash"]);
    let worker = Worker::new(&q)
        .queues(["dash"])
        .sleep(Duration::from_millis(50))
        .quiet();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    browser.open(&format!("{site}/workers")).await;
    let pid = std::process::id().to_string();
    browser
        .wait_text(
            "table[data-src='api/workers'] tbody tr td:nth-child(2)",
            &pid,
        )
        .await;
    browser.shot("workers").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        state_of(&q, &first).await,
        Some(State::Pending),
        "the worker took a job of a paused queue"
    );
    browser.open(&format!("{site}/queues")).await;
    assert!(browser.text("table.counts tbody").await.contains("paused"));
    browser.shot("queues").await;
    browser
        .submit(Locator::XPath(
            "//tr[th[starts-with(normalize-space(.), 'dash')]]//button[text()='Resume']",
        ))
        .await;
    assert!(
        browser
            .text(".note")
            .await
            .contains("Queue dash runs again")
    );
    wait_until("the resumed job to run", LONG, || async {
        Path::new(&file("first")).exists()
    })
    .await;
    browser.wait_text(ALL_PENDING, "0").await;

    // A scheduled job is cancelled from its page.
    let later = Touch::dispatch(Touch {
        path: file("never"),
    })
    .delay(Duration::from_secs(600))
    .via(&q)
    .await
    .unwrap();
    browser.open(&format!("{site}/jobs/{later}")).await;
    assert_eq!(browser.text("[data-key='state']").await, "scheduled");
    browser
        .submit(Locator::XPath("//button[text()='Cancel']"))
        .await;
    assert!(
        browser
            .text(".note")
            .await
            .contains("The job was cancelled")
    );
    assert_eq!(browser.text("[data-key='state']").await, "cancelled");
    assert_eq!(state_of(&q, &later).await, Some(State::Cancelled));

    // A job that fails is retried from the failed page and runs.
    let marker = file("marker");
    let fails = NeedsMarker::dispatch(NeedsMarker {
        marker: marker.clone(),
        done: file("retried"),
    })
    .via(&q)
    .await
    .unwrap();
    wait_until("the job to fail", LONG, || async {
        state_of(&q, &fails).await == Some(State::Failed)
    })
    .await;
    browser.open(&format!("{site}/failed")).await;
    assert!(
        browser
            .text("table tbody")
            .await
            .contains("the marker file is missing")
    );
    browser.shot("failed").await;
    std::fs::write(&marker, "").unwrap();
    let retry = format!("//tr[td/a[text()='{fails}']]//button[text()='Retry']");
    browser.submit(Locator::XPath(&retry)).await;
    assert!(
        browser
            .text(".note")
            .await
            .contains("1 job put back on their queues")
    );
    wait_until("the retried job to run", LONG, || async {
        Path::new(&file("retried")).exists()
    })
    .await;

    // A batch's progress is redrawn as its jobs end, and its `then` runs once they have.
    let batch = Batch::new(XSS)
        .add_all((0..3).map(|i| Touch {
            path: file(&format!("row-{i}")),
        }))
        .then(Touch {
            path: file("batch-then"),
        })
        .via(&q)
        .dispatch()
        .await
        .unwrap();
    browser.open(&format!("{site}/batches")).await;
    let row = "table[data-src='api/batches'] tbody tr";
    assert_eq!(
        browser.text(&format!("{row} td:nth-child(2)")).await,
        batch.as_str()
    );
    browser
        .wait_text(&format!("{row} td:nth-child(6)"), "0")
        .await;
    assert_eq!(browser.text(&format!("{row} td:nth-child(4)")).await, "3");
    wait_until("the batch's then to run", LONG, || async {
        Path::new(&file("batch-then")).exists()
    })
    .await;
    assert!(browser.no_script_ran().await);
    browser.shot("batches").await;

    // Markup in a payload is shown as text and runs nothing, drawn here or by the script.
    let probe = Job::dispatch("xss-probe", json!({ "html": XSS }))
        .on_queue("held")
        .via(&q)
        .await
        .unwrap();
    browser.open(&format!("{site}/jobs/{probe}")).await;
    assert!(
        browser
            .text("pre.payload")
            .await
            .contains("<script>window.__xss")
    );
    assert!(browser.no_script_ran().await);
    browser.shot("job").await;
    browser.open(&format!("{site}/jobs?queue=held")).await;
    let refreshed = browser
        .run_js("return document.documentElement.getAttribute('data-refreshed')")
        .await;
    wait_until("the script to redraw the list", LONG, || async {
        browser
            .run_js("return document.documentElement.getAttribute('data-refreshed')")
            .await
            != refreshed
    })
    .await;
    assert!(browser.no_script_ran().await);
    browser.open(&format!("{site}/")).await;
    browser.shot("overview").await;

    stop.shutdown();
    running.await.unwrap().unwrap();
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_a_browser() {
    walk_through(TestStore::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_in_a_browser() {
    walk_through(TestStore::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_in_a_browser() {
    walk_through(TestStore::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_in_a_browser() {
    walk_through(TestStore::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_in_a_browser() {
    walk_through(TestStore::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_in_a_browser() {
    walk_through(TestStore::Memcached).await;
}

/// A memory queue holding one pending job.
async fn queue_with_a_job() -> Queue {
    let q = Queue::memory();
    Job::dispatch("send-report", json!({ "to": "ops" }))
        .via(&q)
        .await
        .unwrap();
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_asked_for_once_and_a_wrong_one_is_refused() {
    let token = "a-test-token-of-some-length";
    let site = serve(dashboard::router_with(
        queue_with_a_job().await,
        Options::default().token(token),
    ))
    .await;
    let browser = Browser::start("auth").await;
    browser.open(&format!("{site}/jobs")).await;
    let at = browser.client().current_url().await.unwrap();
    assert_eq!(at.path(), "/login");
    browser.shot("login").await;
    let field = browser.client().find(Locator::Id("token")).await.unwrap();
    field.send_keys("not-the-token").await.unwrap();
    browser
        .submit(Locator::XPath("//button[text()='Sign in']"))
        .await;
    assert!(
        browser
            .text("[role=alert]")
            .await
            .contains("That token is not the dashboard's")
    );
    let field = browser.client().find(Locator::Id("token")).await.unwrap();
    field.send_keys(token).await.unwrap();
    browser
        .submit(Locator::XPath("//button[text()='Sign in']"))
        .await;
    browser.wait_text("h1", "Overview").await;
    assert_eq!(
        browser.run_js("return document.cookie").await,
        json!(""),
        "the cookie is HttpOnly"
    );
    browser.open(&format!("{site}/jobs")).await;
    assert_eq!(
        browser.text("h1").await,
        "Jobs",
        "asked once: the cookie is kept"
    );
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_posted_from_another_site_is_refused() {
    let q = queue_with_a_job().await;
    let site = serve(dashboard::router(q.clone())).await;
    let browser = Browser::start("cross-origin").await;
    browser.open(&format!("{site}/queues")).await;
    let csrf = browser
        .client()
        .find(Locator::Css("input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    // Even with a leaked CSRF token, a form on another origin is refused.
    let evil = format!(
        "<form method=post action=\"{site}/queues/pause\"><input name=csrf value=\"{csrf}\">\
         <input name=queue value=default><button>Win a prize</button></form>"
    );
    let other = serve(axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(evil) }),
    ))
    .await
    .replace("127.0.0.1", "localhost");
    browser.open(&format!("{other}/")).await;
    browser
        .submit(Locator::XPath("//button[text()='Win a prize']"))
        .await;
    assert!(
        browser
            .text("body")
            .await
            .contains("sent from another site")
    );
    assert!(
        q.paused().await.unwrap().is_empty(),
        "the queue was paused from another site"
    );
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_shows_no_action_and_refuses_one_posted_anyway() {
    let q = queue_with_a_job().await;
    let site = serve(dashboard::router_with(
        q.clone(),
        Options::default().read_only(true),
    ))
    .await;
    let browser = Browser::start("read-only").await;
    let id = q.jobs().await.unwrap().jobs[0].id.clone();
    let pages = [
        ("overview", "/".to_string()),
        ("queues", "/queues".into()),
        ("failed", "/failed".into()),
        ("batches", "/batches".into()),
        ("job", format!("/jobs/{id}")),
    ];
    for (name, page) in pages {
        browser.open(&format!("{site}{page}")).await;
        assert_eq!(browser.text(".badge").await, "read-only");
        let forms = browser
            .client()
            .find_all(Locator::Css("form[method=post]"))
            .await
            .unwrap();
        assert!(forms.is_empty(), "{page} offers an action");
        browser.shot(name).await;
    }
    let status = browser
        .client()
        .execute_async(
            "const done = arguments[0]; \
             fetch('/queues/pause', {method: 'POST', body: new URLSearchParams({queue: 'default', csrf: 'x'})}) \
             .then(r => done(r.status))",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(status, json!(403));
    assert!(q.paused().await.unwrap().is_empty());
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_screen() {
    let q = queue_with_a_job().await;
    let id = q.jobs().await.unwrap().jobs[0].id.clone();
    let site = serve(dashboard::router(q)).await;
    let browser = Browser::start("phone").await;
    browser.client().set_window_size(390, 844).await.unwrap();
    let pages = [
        "/",
        "/queues",
        "/jobs",
        "/failed",
        "/batches",
        "/workers",
        &format!("/jobs/{id}"),
    ];
    for page in pages {
        browser.open(&format!("{site}{page}")).await;
        let fits = browser
            .run_js("return document.documentElement.scrollWidth <= window.innerWidth")
            .await;
        assert_eq!(fits, json!(true), "{page} is wider than a phone");
    }
    browser.open(&format!("{site}/")).await;
    browser.shot("overview").await;
    browser.quit().await;
}
