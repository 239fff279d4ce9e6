//! doorman: an SMTP proxy/filter that stands in front of an existing MTA.
pub mod config;
pub mod policy;
pub mod wire;
