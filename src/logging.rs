//! Log output: `tracing` to stderr, plain or JSON, filtered by `log.level`
//! (or the `DOORMAN_LOG` environment variable, which wins).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{Log, LogFormat};

/// Installs the global subscriber; call once at startup.
///
/// # Errors
/// The filter expression is invalid.
pub fn init(log: &Log) -> Result<(), String> {
    let filter = match std::env::var("DOORMAN_LOG") {
        Ok(f) if !f.is_empty() => f,
        _ => log.level.clone(),
    };
    let filter = EnvFilter::try_new(&filter).map_err(|e| format!("invalid log filter {filter:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match log.format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| e.to_string())
}
