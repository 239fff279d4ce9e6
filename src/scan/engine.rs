//! The scan engine: the configured scanners, each with its endpoint pool and
//! failure policy, built once from the configuration and shared by
//! sessions. The scanners are one list, in `scanners:` order; a scanner is a
//! [`Client`], so adding one (an ICAP or milter client) is a new variant
//! here plus its client file and its configuration section.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::message::Stream;
use super::verdict::{Policy, Renderer};
use super::*;
use crate::config::Scanners;

/// The scanners, built once and shared by all sessions (it holds the
/// endpoint pools and their health).
#[derive(Debug, Clone, Default)]
pub struct ScanEngine {
    pub(super) scanners: Arc<[Configured]>,
    pub(super) render: Arc<Renderer>,
}

/// One configured scanner.
#[derive(Debug)]
pub(super) struct Configured {
    pub(super) client: Client,
    pub(super) policy: Policy,
    pub(super) skip_authenticated: bool,
    pub(super) max_size: u64,
    /// Limit for one chunk to be accepted by a streaming scanner.
    pub(super) feed_timeout: Duration,
}

/// A scanner client.
#[derive(Debug)]
pub(super) enum Client {
    /// clamd: streamed while the message arrives.
    Clamd(clamav::ClamdClient),
    /// spamd: the whole message after the final dot.
    Spamd(spamassassin::SpamdClient),
    /// rspamd: the whole message after the final dot.
    Rspamd(rspamd::RspamdClient),
}

impl Client {
    /// The scanner's name in logs, metrics and headers.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Clamd(c) => c.name(),
            Self::Spamd(c) => c.name(),
            Self::Rspamd(c) => c.name(),
        }
    }

    /// Takes the message while it arrives (see [`Client::stream`]).
    pub(super) fn streams(&self) -> bool {
        matches!(self, Self::Clamd(_))
    }

    /// Scans a complete message.
    pub(super) async fn scan(&self, message: Bytes, ctx: &ScanContext) -> Result<Verdict, ScanError> {
        match self {
            Self::Clamd(c) => c.scan(message, ctx).await,
            Self::Spamd(c) => c.scan(message, ctx).await,
            Self::Rspamd(c) => c.scan(message, ctx).await,
        }
    }

    /// Scans a message sent chunk by chunk over `chunks`; the end of the
    /// channel is the end of the message.
    pub(super) async fn stream(&self, chunks: mpsc::Receiver<Bytes>) -> Result<Verdict, ScanError> {
        match self {
            Self::Clamd(c) => c.stream(chunks).await,
            Self::Spamd(_) | Self::Rspamd(_) => Err(ScanError::Internal(format!("{} does not stream", self.name()))),
        }
    }

    /// Readiness: clamd answers PING and spamd accepts a connection.
    async fn probe(&self) -> Result<(), ScanError> {
        match self {
            Self::Clamd(c) => c.ping().await,
            Self::Spamd(c) => c.reachable().await,
            Self::Rspamd(_) => Ok(()),
        }
    }
}

impl ScanEngine {
    /// Builds the scanners and their pools from `scanners:`.
    pub fn from_config(cfg: &Scanners) -> Self {
        let mut scanners = Vec::new();
        if let Some(c) = &cfg.clamav {
            scanners.push(Configured {
                client: Client::Clamd(clamav::ClamdClient::new(c)),
                policy: Policy::new(c.on_error, c.on_too_big),
                skip_authenticated: c.skip_authenticated,
                max_size: c.max_size.as_u64(),
                feed_timeout: c.timeout,
            });
        }
        if let Some(c) = &cfg.spamassassin {
            scanners.push(Configured {
                client: Client::Spamd(spamassassin::SpamdClient::new(c)),
                policy: Policy::new(c.on_error, c.on_too_big).with_scores(c.tag_score, c.reject_score),
                skip_authenticated: c.skip_authenticated,
                max_size: c.max_size.as_u64(),
                feed_timeout: c.timeout,
            });
        }
        if let Some(c) = &cfg.rspamd {
            scanners.push(Configured {
                client: Client::Rspamd(rspamd::RspamdClient::new(c)),
                policy: Policy::new(c.on_error, c.on_too_big),
                skip_authenticated: c.skip_authenticated,
                max_size: c.max_size.as_u64(),
                feed_timeout: c.timeout,
            });
        }
        Self { scanners: scanners.into(), render: Arc::new(Renderer::new(&cfg.replies, cfg.url.clone())) }
    }

    /// Readiness: every scanner that can be probed answers.
    ///
    /// # Errors
    /// The first scanner that does not answer.
    pub async fn probe(&self) -> Result<(), String> {
        for s in self.scanners.iter() {
            s.client.probe().await.map_err(|e| format!("{}: {e}", s.client.name()))?;
        }
        Ok(())
    }

    /// Any scanner is configured.
    pub fn is_enabled(&self) -> bool {
        !self.scanners.is_empty()
    }

    /// Starts scanning one message: call it after the 354, inside the tokio
    /// runtime. Streaming scanners (clamd) connect in the background at once.
    pub fn start(&self, ctx: ScanContext) -> MessageScan {
        let skipped: Vec<bool> = self.scanners.iter().map(|s| s.skip_authenticated && ctx.authenticated).collect();
        let mut tasks = JoinSet::new();
        let mut task_index = Vec::new();
        let mut stream = None;
        let streaming = self.scanners.iter().enumerate().find(|(i, s)| s.client.streams() && !skipped[*i]);
        if let Some((index, s)) = streaming {
            let (tx, rx) = mpsc::channel(STREAM_QUEUE);
            let engine = self.clone();
            let abort = tasks.spawn(async move { engine.scanners[index].client.stream(rx).await });
            task_index.push((abort.id(), index));
            stream =
                Some(Stream { index, tx: Some(tx), abort, fed: 0, max_size: s.max_size, feed_timeout: s.feed_timeout });
        }
        let ctx = Arc::new(ctx);
        MessageScan { engine: self.clone(), ctx, stream, tasks, task_index, early: Vec::new(), skipped, released: None }
    }
}

/// Whether a streaming scan failed in a way a fresh connection may fix:
/// the connection broke or answered garbage (not a timeout, a refused
/// connection or a size limit).
pub(super) fn stream_broke(result: &Result<Verdict, ScanError>) -> bool {
    matches!(result, Err(ScanError::Io { .. } | ScanError::Protocol { .. }))
}
