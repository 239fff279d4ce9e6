//! The shield against real daemons: bots never open a session at the real
//! Postfix, the late connect meets an upstream that went down, and two
//! doorman processes share one pass cache and one rate limit through the
//! real Redis (and survive it going down). The decisions themselves are
//! tested in memory (`src/session/tests/`).

mod support;

#[path = "shield/bots.rs"]
mod bots;
#[path = "shield/slow.rs"]
mod slow;
#[path = "shield/store.rs"]
mod store;
