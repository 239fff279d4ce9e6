//! Policies: decisions about what the client is told, kept apart from I/O.
//! Each module takes plain values and returns replies or verdicts.

pub mod banner;
pub mod helo;
