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
use crate::policy::helo::{Action, Finding, Rule};
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
    let Some((upstream, heard)) = greet(&mut conn, &env, client, greet_at, exempt).await else {
        return;
    };
    debug!(peer = %client.peer, passed, "session started");
    let shutdown = env.shutdown.clone();
    let mut session = Session::new(conn, upstream, client, id, env, client_check, admission.passed);
    if let Heard::Early(finding) = heard {
        session.talked_early(finding);
    }
    session.run(shutdown).await;
}

/// What the wait before the greeting heard from the client.
enum Heard {
    Quiet,
    /// It talked first, and the `early_talker` rule let it stay: its
    /// `monitor` finding, if any.
    Early(Option<Finding>),
}

/// The early-talker wait and the greeting. `banner.mode: pass` needs the
/// upstream's greeting, so the upstream session opens now; every other mode
/// opens it late, when the client first needs it. `None`: the session is
/// over (an early talker refused, or the upstream down under `pass`); else
/// the upstream session, if open, and what the wait heard.
async fn greet<S: Io, D: Dialer>(
    conn: &mut Connection<S>,
    env: &SessionEnv<D>,
    client: ClientInfo,
    greet_at: tokio::time::Instant,
    exempt: bool,
) -> Option<(Option<UpstreamClient<D::Stream>>, Heard)> {
    let config = &env.shared.config;
    let host = config.hostname.as_str();
    let upstream = match config.banner.mode {
        BannerMode::Pass => Some(connect_upstream(&env.dialer, &env.shared, client).await),
        _ => None,
    };
    let heard = if exempt { Some(Heard::Quiet) } else { early_talk(conn, &env.shared, greet_at).await };
    let Some(heard) = heard else {
        metrics().session_without_upstream(NoUpstream::EarlyTalker);
        return None;
    };
    let (mode, template) = (config.banner.mode, config.banner.template());
    match upstream {
        None => {
            conn.queue(&banner::greeting(mode, template, host, None));
            Some((None, heard))
        }
        Some(Ok((upstream, greeting))) => {
            metrics().upstream_sessions.inc();
            conn.queue(&banner::greeting(mode, template, host, Some(&greeting)));
            Some((Some(upstream), heard))
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

/// Waits until `greet_at` for the client to stay quiet. An early talker is
/// judged by the `early_talker` rule: refused instead of greeted (`554`, or
/// `421` under `tempfail`) and closed (`None`), or let stay (`monitor`,
/// `off`).
async fn early_talk<S: Io>(conn: &mut Connection<S>, shared: &Shared, greet_at: tokio::time::Instant) -> Option<Heard> {
    match conn.talks_before(greet_at).await {
        Ok(false) => Some(Heard::Quiet),
        Ok(true) => {
            let found = shared.helo.check_protocol(Rule::EarlyTalker, "sent data before the greeting");
            let finding = match found {
                Some(f) if f.blocks() => f,
                other => return Some(Heard::Early(other)),
            };
            finding.log();
            super::policy::count(&finding);
            metrics().reject(Reason::EarlyTalker);
            let reply = match finding.action {
                Action::TempFail => replies::early_talker_tempfail(shared.config.hostname.as_str()),
                _ => finding.reply(),
            };
            conn.queue(&reply);
            conn.close().await;
            None
        }
        Err(_) => None,
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
            refused_rcpts: 0,
            talked_early: false,
            upstream_used: tokio::time::Instant::now(),
            releases: 0,
            dialer: env.dialer,
            shield: env.shield,
            ehlo_policy: EhloPolicy {
                max_message_size,
                auth: config.auth.allow_plaintext,
                starttls: false,
                chunking: config.ehlo.chunking,
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
            chunks: None,
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
