//! Where a message's content goes while it arrives: through the filter of
//! doorman's own header fields (when scanning, so spoofed verdicts are gone
//! before anyone judges the message), into the spool, and to the streaming
//! scanners. The scanners and the upstream get the same bytes.

use crate::scan::MessageScan;
use crate::spool::Spool;
use crate::wire::OwnHeaderFilter;

/// One message's intake; see the module docs.
pub(super) struct Intake {
    pub(super) spool: Spool,
    pub(super) scan: Option<MessageScan>,
    filter: Option<OwnHeaderFilter>,
    filtered: Vec<u8>,
    /// The spool failed (disk full, budget): later content is dropped.
    pub(super) error: Option<std::io::Error>,
}

impl Intake {
    /// An intake into `spool`; spoofed own header fields are removed when
    /// `scan` runs.
    pub(super) fn new(spool: Spool, scan: Option<MessageScan>) -> Self {
        let filter = scan.is_some().then(OwnHeaderFilter::new);
        Self { spool, scan, filter, filtered: Vec::new(), error: None }
    }

    /// An intake for a chunk that is read only to be dropped: its decoder
    /// passes nothing on, and the spool would stay in memory anyway.
    pub(super) fn dropping() -> Self {
        Self::new(Spool::new(usize::MAX, None), None)
    }

    /// A scanner stream is open (see [`Intake::release_stream`]).
    pub(super) fn holds_stream(&self) -> bool {
        self.scan.as_ref().is_some_and(MessageScan::holds_stream)
    }

    /// The client is slow: the streaming scanner's connection goes back,
    /// and the spooled message is scanned after the final dot.
    pub(super) fn release_stream(&mut self) {
        if let Some(scan) = &mut self.scan {
            scan.release_stream();
        }
    }

    /// Takes the next piece of decoded content.
    pub(super) async fn push(&mut self, content: &[u8]) {
        if self.error.is_some() || content.is_empty() {
            return;
        }
        let content = match &mut self.filter {
            Some(f) => {
                self.filtered.clear();
                f.push(content, &mut self.filtered);
                &self.filtered[..]
            }
            None => content,
        };
        Self::store(&mut self.spool, self.scan.as_mut(), &mut self.error, content).await;
    }

    /// The message is complete: what the filter still holds goes in.
    pub(super) async fn finish(&mut self) {
        let Some(f) = &mut self.filter else {
            return;
        };
        self.filtered.clear();
        f.finish(&mut self.filtered);
        if self.error.is_none() && !self.filtered.is_empty() {
            Self::store(&mut self.spool, self.scan.as_mut(), &mut self.error, &self.filtered).await;
        }
    }

    async fn store(
        spool: &mut Spool,
        scan: Option<&mut MessageScan>,
        error: &mut Option<std::io::Error>,
        content: &[u8],
    ) {
        if let Some(scan) = scan {
            scan.feed(content).await;
        }
        if let Err(e) = spool.append(content).await {
            *error = Some(e);
        }
    }
}
