//! Session start-up: the TLS handshake on an implicit-TLS listener, the
//! early-talker check, and the greeting. The upstream connection is opened
//! here only for `banner.mode: pass` (it needs the upstream's greeting);
//! otherwise later, by `link.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use tracing::{debug, warn};

use super::Session;
use super::connection::Connection;
use super::policy::{ClientCheck, Findings};
use super::transaction::Transaction;
use crate::config::{BannerMode, ClientIdentity, ListenerTls, SyncCheck};
use crate::metrics::{ConnectionResult, NoUpstream, Reason, TlsLabels, metrics};
use crate::policy::banner;
use crate::replies;
use crate::shield::{Admission, Passed, Shield};
use crate::state::Shared;
use crate::tls::{Io, MaybeTls};
use crate::upstream::identity::proxy_header;
use crate::upstream::{Dialer, UpstreamClient, UpstreamError};
use crate::wire::Capabilities;
use crate::wire::ehlo::{Advertised, EhloPolicy};

/// Where a client connection came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientInfo {
    /// The real client (from the PROXY header when the listener takes one).
    pub(crate) peer: SocketAddr,
    /// The address the client connected to.
    pub(crate) local: SocketAddr,
    /// The listener's TLS mode.
    pub(crate) tls: ListenerTls,
    /// The listener's `forbid_unauth_pipelining` (else `limits.`'s).
    pub(crate) sync: SyncCheck,
}

/// What the server gives every session besides its connection.
#[derive(Debug, Clone)]
pub(crate) struct SessionEnv<D> {
    /// The configuration and what is built from it, as of the session's start.
    pub(crate) shared: Arc<Shared>,
    /// Bytes spooled by all sessions (`data.spool_max_total`).
    pub(crate) spooled: Arc<AtomicU64>,
    /// How the upstream is reached.
    pub(crate) dialer: D,
    /// What doorman remembers across sessions.
    pub(crate) shield: Arc<Shield>,
    /// Cancelled at shutdown.
    pub(crate) shutdown: CancellationToken,
}

/// Serves one client connection from greeting to close.
pub(crate) async fn serve<S: Io, D: Dialer>(stream: S, client: ClientInfo, id: String, env: SessionEnv<D>) {
    let config = env.shared.config.clone();
    let mut conn = Connection::new(MaybeTls::Plain(stream), config.limits.idle_timeout);
    let ip = client.peer.ip();
    let exempt = env.shared.helo.is_exempt(ip);
    let admission = if exempt { Admission::default() } else { env.shield.admit(ip, &config).await };
    if admission.over_rate {
        // At debug: a flood is what the limit is for; the metrics count it.
        debug!(rule = "max_connection_rate_per_ip", "connection rate limit reached; refusing");
        metrics().connection(ConnectionResult::RefusedRate);
        metrics().session_without_upstream(NoUpstream::ConnectionRate);
        conn.queue(&replies::connection_rate(config.hostname.as_str(), ip));
        conn.close().await;
        return;
    }
    // A client from the pass cache is greeted at once, and its DNS results
    // (the verified PTR name) are reused instead of looked up again.
    let passed = admission.passed.is_some();
    let reuse_dns = admission.passed.as_ref().is_some_and(|p| p.reuse_dns);
    let delay = if passed { Duration::ZERO } else { config.banner.greet_delay };
    let greet_at = tokio::time::Instant::now() + delay;
    let client_check = (!reuse_dns && env.shared.helo.has_client_checks(ip)).then(|| {
        let policy = env.shared.helo.clone();
        // Boxed: a resolver's state machine is kilobytes, copied at each
        // move of an unboxed task.
        tokio::spawn(async move { Box::pin(policy.check_client_named(ip)).await })
    });
    if client.tls == ListenerTls::Implicit && !implicit_tls(&mut conn, &env.shared).await {
        return;
    }
    let Some(upstream) = greet(&mut conn, &env, client, greet_at, exempt).await else {
        return;
    };
    debug!(peer = %client.peer, passed, "session started");
    let shutdown = env.shutdown.clone();
    Session::new(conn, upstream, client, id, env, client_check, admission.passed).run(shutdown).await;
}

/// The early-talker wait and the greeting. `banner.mode: pass` needs the
/// upstream's greeting, so the upstream session opens now; every other mode
/// opens it late, when the client first needs it. `None`: the session is
/// over (an early talker, or the upstream down under `pass`).
async fn greet<S: Io, D: Dialer>(
    conn: &mut Connection<S>,
    env: &SessionEnv<D>,
    client: ClientInfo,
    greet_at: tokio::time::Instant,
    exempt: bool,
) -> Option<Option<UpstreamClient<D::Stream>>> {
    let config = &env.shared.config;
    let host = config.hostname.as_str();
    let early = match config.banner.mode {
        BannerMode::Pass => Some(connect_upstream(&env.dialer, &env.shared, client).await),
        _ => None,
    };
    if !exempt && !stays_quiet(conn, greet_at, host).await {
        metrics().session_without_upstream(NoUpstream::EarlyTalker);
        return None;
    }
    let (mode, template) = (config.banner.mode, config.banner.template());
    match early {
        None => {
            conn.queue(&banner::greeting(mode, template, host, None));
            Some(None)
        }
        Some(Ok((upstream, greeting))) => {
            metrics().upstream_sessions.inc();
            conn.queue(&banner::greeting(mode, template, host, Some(&greeting)));
            Some(Some(upstream))
        }
        Some(Err(e)) => {
            warn!(error = %e, stage = %e.stage(), "upstream unavailable");
            metrics().upstream_error(e.stage().as_str(), e.kind());
            metrics().session_without_upstream(NoUpstream::UpstreamDown);
            conn.queue(&replies::service_unavailable(host));
            conn.close().await;
            None
        }
    }
}

/// The TLS handshake of an implicit-TLS listener, within the idle timeout.
async fn implicit_tls<S: Io>(conn: &mut Connection<S>, shared: &Shared) -> bool {
    let Some(acceptor) = shared.tls.as_ref() else {
        return false;
    };
    let handshake = tokio::time::timeout(shared.config.limits.idle_timeout, conn.start_tls(acceptor)).await;
    let ok = matches!(handshake, Ok(Ok(_)));
    let result = if ok { "ok" } else { "failed" };
    metrics().tls_handshakes.get_or_create(&TlsLabels { side: "client_implicit", result }).inc();
    if !ok {
        debug!("implicit TLS handshake failed");
    }
    ok
}

/// Waits until `greet_at` for the client to stay quiet; an early talker is
/// refused and closed (false).
async fn stays_quiet<S: Io>(conn: &mut Connection<S>, greet_at: tokio::time::Instant, host: &str) -> bool {
    match conn.talks_before(greet_at).await {
        Ok(false) => true,
        Ok(true) => {
            debug!(rule = "early_talker", "refused: the client sent data before the greeting");
            metrics().reject(Reason::EarlyTalker);
            conn.queue(&replies::early_talker(host));
            conn.close().await;
            false
        }
        Err(_) => false,
    }
}

impl<S: Io, D: Dialer> Session<S, D> {
    /// A session that has greeted its client.
    fn new(
        conn: Connection<S>,
        upstream: Option<UpstreamClient<D::Stream>>,
        client: ClientInfo,
        id: String,
        env: SessionEnv<D>,
        client_check: ClientCheck,
        passed: Option<Passed>,
    ) -> Self {
        let config = env.shared.config.clone();
        let max_message_size = config.limits.max_message_size.as_u64();
        Self {
            conn,
            opened_upstream: upstream.is_some(),
            upstream,
            ended: None,
            sync_violations: 0,
            upstream_used: tokio::time::Instant::now(),
            releases: 0,
            dialer: env.dialer,
            shield: env.shield,
            ehlo_policy: EhloPolicy {
                max_message_size,
                auth: config.auth.allow_plaintext,
                starttls: false,
                pass_keywords: config.ehlo.pass_keywords.clone(),
                no_soliciting: config.ehlo.no_soliciting.clone(),
            },
            helo_exempt: env.shared.helo.is_exempt(client.peer.ip()),
            shared: env.shared,
            config,
            spooled: env.spooled,
            id,
            client,
            upstream_caps: Capabilities::default(),
            identity_sent: false,
            esmtp: false,
            findings: Findings::default(),
            client_check,
            passed: passed.is_some(),
            client_name: passed.and_then(|p| p.name),
            helo: None,
            advertised: Advertised { size: max_message_size, keywords: Vec::new() },
            txn: Transaction::default(),
            errors: 0,
            junk: 0,
            authenticated: false,
            delivered: 0,
            verdicts: Vec::new(),
            timer: crate::timer::Timer::new(),
            release_timer: crate::timer::Timer::new(),
        }
    }
}

/// Connects to the upstream for this client: its PROXY header when that is
/// the identity mode, then as [`UpstreamClient::open`].
pub(super) async fn connect_upstream<D: Dialer>(
    dialer: &D,
    shared: &Shared,
    client: ClientInfo,
) -> Result<(UpstreamClient<D::Stream>, crate::wire::Reply), UpstreamError> {
    let config = &shared.config;
    let preamble = match config.upstream.client_identity {
        ClientIdentity::ProxyV1 => Some(proxy_header(false, client.peer, client.local)),
        ClientIdentity::ProxyV2 => Some(proxy_header(true, client.peer, client.local)),
        _ => None,
    }
    .transpose()
    .map_err(|e| UpstreamError::Io { stage: crate::upstream::Stage::Connect, source: e })?;
    let tls = shared.upstream_tls.as_ref();
    UpstreamClient::open(dialer, &config.upstream, preamble.as_deref(), config.hostname.as_str(), tls).await
}
