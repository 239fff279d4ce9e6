//! Readiness: whether doorman should get new connections. It is not
//! shutting down, the upstream greets when connected to as sessions connect
//! (the PROXY header of the identity mode, the STARTTLS policy) and answers
//! EHLO (its extensions are recorded for the late connect), and the
//! scanners answer. The probe runs at most once per `admin.probe_interval`
//! and one at a time; other requests get its last result, so `/readyz`
//! cannot be used to flood the upstream or the scanners.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::ClientIdentity;
use crate::shield::Shield;
use crate::state::Shared;
use crate::upstream::identity::proxy_header_local;
use crate::upstream::{TcpDialer, UpstreamClient};

/// The answer to "ready?", with the reason when not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    /// New connections are welcome.
    pub ready: bool,
    /// One line for people: `ready`, or what is wrong.
    pub detail: String,
}

impl Report {
    fn not(detail: String) -> Self {
        Self { ready: false, detail }
    }
}

/// Whether doorman should receive new connections; see the module docs.
#[derive(Debug)]
pub(crate) struct Readiness {
    /// Where a probe records the upstream's extensions.
    shield: Arc<Shield>,
    shutting_down: AtomicBool,
    /// The last probe and when it ran; held while a probe runs.
    last: Mutex<Option<(Instant, Report)>>,
}

impl Readiness {
    /// Readiness that records what its probes learn in `shield`.
    pub(crate) fn new(shield: Arc<Shield>) -> Self {
        Self { shield, shutting_down: AtomicBool::new(false), last: Mutex::new(None) }
    }

    /// Marks the start of a shutdown: not ready from now on.
    pub(crate) fn shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// A shutdown has started.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Ready or not, probing only when the last probe is older than
    /// `admin.probe_interval`.
    pub(crate) async fn check(&self, shared: &Shared) -> Report {
        if self.is_shutting_down() {
            return Report::not("shutting down".into());
        }
        let mut last = self.last.lock().await;
        let interval = shared.config.admin.probe_interval;
        if let Some((at, report)) = last.as_ref().filter(|(at, _)| at.elapsed() < interval) {
            tracing::trace!(age = ?at.elapsed(), "readiness from the last probe");
            return report.clone();
        }
        let report = probe(shared, &self.shield).await;
        *last = Some((Instant::now(), report.clone()));
        report
    }
}

/// Opens an upstream session as sessions do, says EHLO, records the
/// upstream's extensions in `shield`, and closes; all within `timeout`.
/// Run at start-up (so the first client's EHLO is answered from what the
/// upstream offers) and by every readiness probe.
///
/// # Errors
/// A line saying what failed.
pub(crate) async fn learn_upstream(shared: &Shared, shield: &Shield, timeout: Duration) -> Result<(), String> {
    let config = &shared.config;
    let preamble = match config.upstream.client_identity {
        ClientIdentity::ProxyV1 => proxy_header_local(false).ok(),
        ClientIdentity::ProxyV2 => proxy_header_local(true).ok(),
        _ => None,
    };
    let mut upstream = config.upstream.clone();
    upstream.connect_timeout = timeout;
    let tls = shared.upstream_tls.as_ref();
    let host = config.hostname.as_str();
    let session = async {
        let (mut client, _) = UpstreamClient::open(&TcpDialer, &upstream, preamble.as_deref(), host, tls).await?;
        let caps = client.ehlo(host).await;
        client.close_quietly().await;
        caps
    };
    match tokio::time::timeout(timeout, session).await {
        Ok(Ok(caps)) => {
            shield.upstream_caps.learn(&caps);
            Ok(())
        }
        Ok(Err(e)) => Err(format!("upstream unavailable: {e}")),
        Err(_) => Err(format!("upstream probe timed out after {timeout:?}")),
    }
}

/// One probe: the upstream, then the scanners, each within `admin.probe_timeout`.
async fn probe(shared: &Shared, shield: &Shield) -> Report {
    let timeout = shared.config.admin.probe_timeout;
    if let Err(detail) = learn_upstream(shared, shield, timeout).await {
        return Report::not(detail);
    }
    match tokio::time::timeout(timeout, shared.scan.probe()).await {
        Ok(Ok(())) => Report { ready: true, detail: "ready".into() },
        Ok(Err(e)) => Report::not(format!("scanner unreachable: {e}")),
        Err(_) => Report::not("scanner probe timed out".into()),
    }
}
