//! Pure SMTP wire code: no tokio, no sockets, no clocks.
//!
//! Everything that turns bytes into protocol items (and back) lives here so it
//! can be tested exhaustively without I/O: command-line framing ([`line`]),
//! command parsing ([`command`]), replies ([`reply`]), EHLO capabilities
//! ([`ehlo`]), and the DATA phase: end-of-data detection, dot-unstuffing, bare
//! CR/LF policy and dot-stuffing for the relay ([`data`]), and the removal
//! of spoofed copies of doorman's own header fields ([`own_headers`]). The limits they
//! enforce, with their RFC sources, are in [`limits`].
//!
//! A CI check asserts that nothing under `src/wire` names tokio or std::net.

pub mod command;
pub mod data;
pub mod domain;
pub mod ehlo;
pub mod limits;
pub mod line;
pub mod own_headers;
pub mod params;
pub mod reply;

pub use command::{Command, CommandError, Param};
pub use data::{DataDecoder, DataSummary, DotStuffer, LineEndingPolicy};
pub use domain::{Charset, domain_error, is_domain};
pub use ehlo::Capabilities;
pub use line::{Line, LineDecoder, LineError};
pub use own_headers::{OwnHeaderFilter, is_own_header};
pub use reply::{Reply, ReplyError, ReplyParser};
