//! What doorman knows of the upstream between sessions: the extensions of
//! its last EHLO reply to doorman's own name. With the late connect,
//! doorman answers a client's EHLO before any upstream session exists, from
//! what it learned at start-up, from the readiness probe and from the EHLO
//! before each XCLIENT (a reply to a client's own EHLO may be tailored to
//! that client, so it is used only while nothing else is known).

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::wire::Capabilities;

/// The upstream's extensions as last seen; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct KnownCapabilities {
    last: ArcSwapOption<Capabilities>,
}

impl KnownCapabilities {
    /// Records the extensions of an EHLO reply (no allocation when unchanged).
    pub(crate) fn learn(&self, caps: &Capabilities) {
        if self.last.load().as_deref() != Some(caps) {
            self.last.store(Some(Arc::new(caps.clone())));
        }
    }

    /// The extensions last seen, if any upstream EHLO succeeded yet.
    pub(crate) fn get(&self) -> Option<Arc<Capabilities>> {
        self.last.load_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Reply;

    #[test]
    fn learns_and_replaces() {
        let known = KnownCapabilities::default();
        assert!(known.get().is_none());
        let ehlo = |lines: &[&str]| {
            Capabilities::from_ehlo(&Reply::multi(250, lines.iter().map(|l| (*l).to_owned()).collect()))
        };
        known.learn(&ehlo(&["mx", "PIPELINING", "SIZE 100"]));
        assert!(known.get().is_some_and(|c| c.has("PIPELINING")));
        known.learn(&ehlo(&["mx", "8BITMIME"]));
        let now = known.get().unwrap();
        assert!(now.has("8BITMIME") && !now.has("PIPELINING"));
    }
}
