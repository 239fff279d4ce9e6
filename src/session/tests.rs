//! Whole sessions in memory: a scripted client, a scripted upstream
//! (`tests/upstream.rs`, fault injection and transcripts only) and paused
//! time (`tests/harness.rs`). Protocol behaviour that needs no real daemon is
//! tested here, in milliseconds and without sleeps; what only the real
//! Postfix, clamd and spamd can show is tested against them in `tests/`.

mod cert;
mod harness;
mod upstream;

mod chunking;
mod commands;
mod data;
mod envelope;
mod fault_matrix;
mod greeting;
mod harvest;
mod helo_rules;
mod hostile;
mod identity;
mod late_connect;
mod pipelining;
mod shield;
mod slow_clients;
mod timeouts;
mod upstream_faults;
