//! doorman: a hardened SMTP front door. It accepts SMTP connections, opens one
//! to the MTA behind it, and relays the dialogue, stepping in where it must.
//!
//! # Layout
//! - [`wire`]: pure SMTP codec (framing, commands, replies, EHLO, DATA). No I/O.
//! - [`config`]: the YAML schema, loading with positioned errors, validation.
//! - [`policy`]: decisions without I/O: the banner, the HELO/EHLO and client rules.
//! - [`date`]: RFC 5322 date-time text from the clock (`Received:`, `{date}`).
//! - [`dns`]: the asynchronous, bounded, cached resolver behind the HELO rules.
//! - [`replies`]: every reply doorman composes, in one place.
//! - [`scan`]: content scanning (clamd, spamd, rspamd), verdicts and failure policy.
//! - [`spool`]: a message's content while it arrives, memory then temp file.
//! - [`upstream`]: the SMTP client toward the MTA.
//! - `session`: one client session (the state machine and one file per verb).
//! - [`server`]: listeners, connection limit, one task per connection.
//! - [`logging`]: tracing setup.
//! - [`metrics`]: every exported metric, in one place.
//! - [`admin`]: the HTTP endpoint for metrics and health probes.
//! - [`readiness`]: `/readyz`: not shutting down, upstream and scanners answer (cached).
//! - [`state`]: what sessions share; swapped whole on reload.
//! - [`tls`]: rustls configurations and the plain-or-TLS stream.
//! - `fuzzing` (feature `fuzzing` only): entry points for the fuzz targets in `fuzz/`.
//! - [`audit`]: `doorman audit`: a server's outside view, judged; the same through doorman.

pub(crate) mod admin;
pub mod audit;
pub mod config;
pub(crate) mod date;
pub mod dns;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod logging;
pub mod metrics;
pub mod policy;
pub(crate) mod readiness;
pub(crate) mod replies;
pub mod scan;
pub mod server;
mod session;
pub(crate) mod shield;
pub mod spool;
pub(crate) mod state;
pub(crate) mod timer;
pub mod tls;
pub(crate) mod upstream;
pub mod wire;

pub use config::Config;
pub use server::Server;
