//! Session start-up: the TLS handshake on an implicit-TLS listener, the
//! upstream connection (with a PROXY header when that is the identity mode,
//! and STARTTLS toward the upstream when configured), and the greeting.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::connection::Connection;
use super::transaction::Transaction;
use super::{Envelope, Session};
use crate::config::{ClientIdentity, ListenerTls};
use crate::metrics::{Reason, TlsLabels, metrics};
use crate::policy::banner;
use crate::replies;
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
}

/// Serves one client connection from greeting to close; `dialer` reaches
/// the upstream.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve<S: Io, D: Dialer>(
    stream: S,
    dialer: D,
    client: ClientInfo,
    id: String,
    shared: Arc<Shared>,
    spooled: Arc<std::sync::atomic::AtomicU64>,
    shutdown: CancellationToken,
) {
    let config = shared.config.clone();
    let greet_at = tokio::time::Instant::now() + config.banner.greet_delay;
    let mut conn = Connection::new(MaybeTls::Plain(stream), config.limits.idle_timeout);
    let helo_exempt = shared.helo.is_exempt(client.peer.ip());
    let client_check = shared.helo.has_client_checks(client.peer.ip()).then(|| {
        let policy = shared.helo.clone();
        let ip = client.peer.ip();
        tokio::spawn(async move { policy.check_client_named(ip).await })
    });
    if client.tls == ListenerTls::Implicit {
        let Some(acceptor) = shared.tls.as_ref() else {
            return;
        };
        let handshake = tokio::time::timeout(config.limits.idle_timeout, conn.start_tls(acceptor)).await;
        let ok = matches!(handshake, Ok(Ok(_)));
        let result = if ok { "ok" } else { "failed" };
        metrics().tls_handshakes.get_or_create(&TlsLabels { side: "client_implicit", result }).inc();
        if !ok {
            debug!("implicit TLS handshake failed");
            return;
        }
    }
    let host = config.hostname.as_str();
    let upstream = connect_upstream(&dialer, &shared, client).await;
    if !helo_exempt {
        match conn.talks_before(greet_at).await {
            Ok(false) => {}
            Ok(true) => {
                debug!("early talker: the client sent data before the greeting");
                metrics().reject(Reason::EarlyTalker);
                conn.queue(&replies::early_talker(host));
                conn.close().await;
                return;
            }
            Err(_) => return,
        }
    }
    let upstream = match upstream {
        Ok((upstream, greeting)) => {
            conn.queue(&banner::greeting(config.banner.mode, config.banner.template(), host, &greeting));
            upstream
        }
        Err(e) => {
            warn!(error = %e, stage = %e.stage(), "upstream unavailable");
            metrics().upstream_error(e.stage().as_str(), e.kind());
            conn.queue(&replies::service_unavailable(host));
            conn.close().await;
            return;
        }
    };
    debug!(peer = %client.peer, "session started");
    let max_message_size = config.limits.max_message_size.as_u64();
    let session = Session {
        conn,
        upstream,
        dialer,
        ehlo_policy: EhloPolicy {
            max_message_size,
            auth: config.auth.allow_plaintext,
            starttls: false,
            pass_keywords: config.ehlo.pass_keywords.clone(),
            no_soliciting: config.ehlo.no_soliciting.clone(),
        },
        shared,
        config,
        spooled,
        id,
        envelope: Envelope::default(),
        client,
        upstream_caps: Capabilities::default(),
        identity_sent: false,
        esmtp: false,
        helo_exempt,
        findings: Default::default(),
        client_check,
        client_name: None,
        helo: None,
        advertised: Advertised { size: max_message_size, keywords: Vec::new() },
        txn: Transaction::default(),
        errors: 0,
        junk: 0,
        authenticated: false,
        delivered: 0,
        verdicts: Vec::new(),
    };
    session.run(shutdown).await;
}

/// Connects to the upstream for this client: its PROXY header when that is
/// the identity mode, then as [`UpstreamClient::open`].
async fn connect_upstream<D: Dialer>(
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
