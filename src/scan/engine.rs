//! The scan engine: the configured scanners with their endpoint pools and
//! failure policies, built once from the configuration and shared by sessions.

use std::sync::Arc;
use std::time::Duration;

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
    pub(super) clamav: Option<Arc<Clamav>>,
    pub(super) spamassassin: Option<Arc<SpamAssassin>>,
    pub(super) rspamd: Option<Arc<Rspamd>>,
    pub(super) render: Arc<Renderer>,
}

#[derive(Debug)]
pub(super) struct Clamav {
    pub(super) client: clamav::ClamdClient,
    pub(super) policy: Policy,
    pub(super) skip_authenticated: bool,
    pub(super) max_size: u64,
    /// Limit for one chunk to be accepted by the streaming task.
    pub(super) feed_timeout: Duration,
}

#[derive(Debug)]
pub(super) struct SpamAssassin {
    pub(super) client: spamassassin::SpamdClient,
    pub(super) policy: Policy,
    pub(super) skip_authenticated: bool,
    pub(super) max_size: u64,
}

#[derive(Debug)]
pub(super) struct Rspamd {
    pub(super) client: rspamd::RspamdClient,
    pub(super) policy: Policy,
    pub(super) skip_authenticated: bool,
    pub(super) max_size: u64,
}

/// Which scanner: also the order of results and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Slot {
    Clamav,
    SpamAssassin,
    Rspamd,
}

impl Slot {
    pub(super) const ALL: [Self; 3] = [Self::Clamav, Self::SpamAssassin, Self::Rspamd];

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Clamav => clamav::NAME,
            Self::SpamAssassin => spamassassin::NAME,
            Self::Rspamd => rspamd::NAME,
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

impl ScanEngine {
    /// Builds the scanners and their pools from `scanners:`.
    pub fn from_config(cfg: &Scanners) -> Self {
        let clamav = cfg.clamav.as_ref().map(|c| {
            Arc::new(Clamav {
                client: clamav::ClamdClient::new(c),
                policy: Policy::new(c.on_error, c.on_too_big),
                skip_authenticated: c.skip_authenticated,
                max_size: c.max_size.as_u64(),
                feed_timeout: c.timeout,
            })
        });
        let spamassassin = cfg.spamassassin.as_ref().map(|c| {
            Arc::new(SpamAssassin {
                client: spamassassin::SpamdClient::new(c),
                policy: Policy::new(c.on_error, c.on_too_big).with_scores(c.tag_score, c.reject_score),
                skip_authenticated: c.skip_authenticated,
                max_size: c.max_size.as_u64(),
            })
        });
        let rspamd = cfg.rspamd.as_ref().map(|c| {
            Arc::new(Rspamd {
                client: rspamd::RspamdClient::new(c),
                policy: Policy::new(c.on_error, c.on_too_big),
                skip_authenticated: c.skip_authenticated,
                max_size: c.max_size.as_u64(),
            })
        });
        Self { clamav, spamassassin, rspamd, render: Arc::new(Renderer::new(&cfg.replies, cfg.url.clone())) }
    }

    /// Readiness: clamd answers PING and spamd accepts a connection.
    ///
    /// # Errors
    /// The first scanner that does not answer.
    pub async fn probe(&self) -> Result<(), String> {
        if let Some(c) = &self.clamav {
            c.client.ping().await.map_err(|e| format!("clamd: {e}"))?;
        }
        if let Some(s) = &self.spamassassin {
            s.client.reachable().await.map_err(|e| format!("spamd: {e}"))?;
        }
        Ok(())
    }

    /// Any scanner is configured.
    pub fn is_enabled(&self) -> bool {
        self.clamav.is_some() || self.spamassassin.is_some() || self.rspamd.is_some()
    }

    /// Starts scanning one message: call it after the 354, inside the tokio
    /// runtime. Streaming scanners (clamd) connect in the background at once.
    pub fn start(&self, ctx: ScanContext) -> MessageScan {
        let skip = |skip_authenticated: bool| skip_authenticated && ctx.authenticated;
        let mut skipped = Vec::new();
        let mut tasks = JoinSet::new();
        let mut task_slots = Vec::new();
        let mut stream = None;
        if let Some(c) = &self.clamav {
            if skip(c.skip_authenticated) {
                skipped.push(Slot::Clamav);
            } else {
                let (tx, rx) = mpsc::channel(STREAM_QUEUE);
                let scanner = c.clone();
                let abort = tasks.spawn(async move { scanner.client.stream(rx).await });
                task_slots.push((abort.id(), Slot::Clamav));
                stream =
                    Some(Stream { tx: Some(tx), abort, fed: 0, max_size: c.max_size, feed_timeout: c.feed_timeout });
            }
        }
        if self.spamassassin.as_ref().is_some_and(|s| skip(s.skip_authenticated)) {
            skipped.push(Slot::SpamAssassin);
        }
        if self.rspamd.as_ref().is_some_and(|s| skip(s.skip_authenticated)) {
            skipped.push(Slot::Rspamd);
        }
        MessageScan { engine: self.clone(), ctx: Arc::new(ctx), stream, tasks, task_slots, early: Vec::new(), skipped }
    }
}

/// Whether a streaming scan failed in a way a fresh connection may fix:
/// the connection broke or answered garbage (not a timeout, a refused
/// connection or a size limit).
pub(super) fn stream_broke(result: &Result<Verdict, ScanError>) -> bool {
    matches!(result, Err(ScanError::Io { .. } | ScanError::Protocol { .. }))
}
