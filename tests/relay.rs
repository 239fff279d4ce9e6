//! Integration tests: doorman in front of a real Postfix (one instance for
//! this whole binary), driven by real clients. Upstream faults and timing are
//! tested in memory against a scripted upstream (`src/session/tests/`).

mod support;

#[path = "relay/banner.rs"]
mod banner;
#[path = "relay/fingerprint.rs"]
mod fingerprint;
#[path = "relay/harvest.rs"]
mod harvest;
#[path = "relay/helo.rs"]
mod helo;
#[path = "relay/interop.rs"]
mod interop;
#[path = "relay/limits.rs"]
mod limits;
#[path = "relay/ops.rs"]
mod ops;
#[path = "relay/oracle.rs"]
mod oracle;
#[path = "relay/scanning.rs"]
mod scanning;
#[path = "relay/session.rs"]
mod session;
#[path = "relay/smuggling.rs"]
mod smuggling;
