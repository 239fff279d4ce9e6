//! `doorman audit` end to end: against Debian's Postfix and Exim on
//! loopback, in their default and hardened configurations; through doorman
//! (`--config`, in-process); against doorman itself; against hostile fake
//! servers (fault injection only); and the command line: exit codes, JSON,
//! colour, the progress line. A missing Postfix or Exim is a failure naming
//! tests/support/install-deps.sh, never a skip.

mod support;

#[path = "audit/certs.rs"]
mod certs;
#[path = "audit/exim_server.rs"]
mod exim_server;
#[path = "audit/postfix_server.rs"]
mod postfix_server;
#[path = "audit/run.rs"]
mod run;

#[path = "audit/against_exim.rs"]
mod against_exim;
#[path = "audit/against_postfix.rs"]
mod against_postfix;
#[path = "audit/cli.rs"]
mod cli;
#[path = "audit/docs.rs"]
mod docs;
#[path = "audit/hostile.rs"]
mod hostile;
#[path = "audit/through_doorman.rs"]
mod through_doorman;
