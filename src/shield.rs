//! What doorman remembers across sessions, and across reloads, to spare the
//! MTA: the upstream's extensions (so a client's EHLO is answered before any
//! upstream session exists). One value per process, built at start-up and
//! shared by every session.

use crate::upstream::known::KnownCapabilities;

/// The process-wide memory of the shield; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Shield {
    /// The upstream's extensions as last seen.
    pub(crate) upstream_caps: KnownCapabilities,
}
