//! Serving the dashboard alone (what `job:dashboard` runs): loopback unless told
//! otherwise, and never reachable from other machines without a token.

use super::{Options, router_with};
use crate::error::Error;
use crate::queue::Queue;
use std::net::SocketAddr;

/// Where and how [`serve`] serves the dashboard.
///
/// ```
/// let options = rakit_job::dashboard::ServeOptions {
///     listen: "127.0.0.1:9090".into(),
///     read_only: true,
///     ..Default::default()
/// };
/// assert_eq!(options.token, None); // then RAKIT_JOB_DASHBOARD_TOKEN is read
/// ```
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The address to listen on, `127.0.0.1:9090` unless set; any other than a loopback
    /// address needs a token.
    pub listen: String,
    /// Hide and refuse every action.
    pub read_only: bool,
    /// The sign-in token; `None` reads `RAKIT_JOB_DASHBOARD_TOKEN` (unset or empty: no
    /// sign-in, allowed on loopback only).
    pub token: Option<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: "127.0.0.1:9090".into(),
            read_only: false,
            token: None,
        }
    }
}

/// The variable holding the sign-in token.
pub const TOKEN_VARIABLE: &str = "RAKIT_JOB_DASHBOARD_TOKEN";

/// The shortest token accepted.
const MIN_TOKEN: usize = 16;

/// Serves the dashboard of `queue` until SIGINT or SIGTERM. Prints its address once it
/// listens. Refuses to start on an address other machines can reach unless a token is set.
///
/// ```no_run
/// # async fn demo() -> Result<(), rakit_job::Error> {
/// let queue = rakit_job::init().await?;
/// rakit_job::dashboard::serve(queue, Default::default()).await?;
/// # Ok(()) }
/// ```
pub async fn serve(queue: Queue, options: ServeOptions) -> Result<(), Error> {
    let token = options
        .token
        .clone()
        .or_else(|| std::env::var(TOKEN_VARIABLE).ok())
        .filter(|t| !t.is_empty());
    let addresses = resolve(&options.listen).await?;
    check_guard(&options.listen, &addresses, token.as_deref())?;
    let listener = tokio::net::TcpListener::bind(addresses.as_slice())
        .await
        .map_err(|e| {
            Error::Io(format!(
                "cannot listen on {}: {e}; pick a free port with --listen",
                options.listen
            ))
        })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Io(format!("cannot read the listening address: {e}")))?;
    let mut dashboard = Options::default().read_only(options.read_only);
    if let Some(token) = &token {
        dashboard = dashboard.token(token.clone());
    }
    println!(
        "the dashboard of {} is at http://{bound}/{}{}",
        queue.describe(),
        if token.is_some() {
            " (sign in with RAKIT_JOB_DASHBOARD_TOKEN)"
        } else {
            ""
        },
        if options.read_only { ", read-only" } else { "" },
    );
    axum::serve(listener, router_with(queue, dashboard))
        .with_graceful_shutdown(crate::shutdown_signal())
        .await
        .map_err(|e| Error::Io(format!("the dashboard stopped serving: {e}")))
}

/// The addresses `listen` names.
async fn resolve(listen: &str) -> Result<Vec<SocketAddr>, Error> {
    let refused = |why: String| {
        Error::Usage(format!(
            "cannot listen on {listen:?}: {why}; give an address like 127.0.0.1:9090"
        ))
    };
    let found = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| refused(e.to_string()))?;
    let addresses: Vec<SocketAddr> = found.collect();
    if addresses.is_empty() {
        return Err(refused("it names no address".into()));
    }
    Ok(addresses)
}

/// Refuses an address other machines can reach without a token, and a short token.
fn check_guard(listen: &str, addresses: &[SocketAddr], token: Option<&str>) -> Result<(), Error> {
    match token {
        Some(token) if token.chars().count() < MIN_TOKEN => Err(Error::Config(format!(
            "{TOKEN_VARIABLE} is shorter than {MIN_TOKEN} characters; set it to a longer random secret"
        ))),
        Some(_) => Ok(()),
        None if addresses.iter().all(|a| a.ip().is_loopback()) => Ok(()),
        None => Err(Error::Config(format!(
            "the dashboard would listen on {listen}, which other machines can reach, but \
             {TOKEN_VARIABLE} is not set; set it to a secret of at least {MIN_TOKEN} characters, \
             or listen on 127.0.0.1"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reachable_address_needs_a_token_and_loopback_does_not() {
        let open = resolve("0.0.0.0:9090").await.unwrap();
        let refused = check_guard("0.0.0.0:9090", &open, None).unwrap_err();
        assert!(refused.to_string().contains(TOKEN_VARIABLE), "{refused}");
        assert!(check_guard("0.0.0.0:9090", &open, Some("0123456789abcdef")).is_ok());
        assert!(check_guard("0.0.0.0:9090", &open, Some("short")).is_err());
        let local = resolve("localhost:9090").await.unwrap();
        assert!(check_guard("localhost:9090", &local, None).is_ok());
        let v6 = resolve("[::1]:9090").await.unwrap();
        assert!(check_guard("[::1]:9090", &v6, None).is_ok());
        assert!(resolve("nonsense").await.is_err());
    }

    #[tokio::test]
    async fn serve_refuses_to_start_on_a_reachable_address_without_a_token() {
        let options = ServeOptions {
            listen: "0.0.0.0:0".into(),
            ..Default::default()
        };
        let refused = serve(Queue::memory(), options).await.unwrap_err();
        assert!(
            refused
                .to_string()
                .starts_with("the dashboard would listen on 0.0.0.0:0")
        );
    }
}
