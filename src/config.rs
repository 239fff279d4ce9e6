//! Configuration: the YAML file's schema, loading with precise errors, and the
//! checks that need more than one key.
//!
//! Loading is two steps. Deserialization (serde-saphyr, every struct with
//! `deny_unknown_fields`) rejects unknown keys and bad values with the file,
//! line, column and key path. Then [`Config::validate`] runs the checks that
//! span keys (the banner text needs the host name). The structs are also the
//! effective configuration printed by `doorman check`.

pub mod banner;
mod commands;
mod dns;
mod helo;
mod limits;
mod network;
mod rules;
mod scanners;
mod schema;
mod shield;
pub(crate) mod types;

use std::path::{Path, PathBuf};

pub use banner::{Banner, BannerMode};
pub use commands::{Commands, Handling, Utf8WithoutSmtputf8};
pub use dns::{Dns, Nameserver};
pub use helo::{Dnsbl, Helo, HeloRules};
pub use limits::Limits;
pub use network::*;
pub use rules::{Mode, Rule, Setting, SyncCheck};
pub use scanners::{
    Clamav, OnError, ReplyTemplate, Rspamd, ScanReplies, ScannerAddress, Scanners, SpamAssassin, TEMPLATE_PLACEHOLDERS,
};
pub use schema::*;
pub use shield::{Shield, Store};
pub use types::{Hostname, Network};

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A syntax error, unknown key or bad value (`line` 0: position unknown,
    /// for checks that span keys).
    #[error("{}{key}: {message}", position(file, *line, *column))]
    Invalid { file: PathBuf, line: u64, column: u64, key: String, message: String },
}

fn position(file: &Path, line: u64, column: u64) -> String {
    if line == 0 { format!("{}: ", file.display()) } else { format!("{}:{line}:{column}: ", file.display()) }
}

impl Config {
    /// Reads, parses and validates a configuration file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, position and key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { file: path.to_owned(), source })?;
        Self::from_yaml(&text, path)
    }

    /// Parses and validates YAML text; `file` is only used in error messages.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn from_yaml(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let mut key = String::new();
        let parsed = serde_saphyr::with_deserializer_from_str(text, |de| {
            serde_path_to_error::deserialize(de).map_err(|e| {
                key = e.path().to_string();
                e.into_inner()
            })
        });
        let config: Self = parsed.map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            let message = e.without_snippet().to_string();
            // The message repeats the position; keep only the reason.
            let message = message
                .split_once(": ")
                .filter(|(pos, _)| pos.starts_with("line "))
                .map_or(message.clone(), |(_, reason)| reason.to_owned());
            ConfigError::Invalid { file: file.to_owned(), line, column, key: key.clone(), message }
        })?;
        config.validate(file)?;
        Ok(config)
    }

    /// Checks that span several keys.
    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            file: file.to_owned(),
            line: 0,
            column: 0,
            key,
            message,
        };
        for (i, l) in self.listen.iter().enumerate() {
            if l.tls_mode(self.tls.is_some()) != ListenerTls::None && self.tls.is_none() {
                return Err(invalid(
                    format!("listen[{i}].tls"),
                    "TLS needs the `tls` section (certificate and key)".into(),
                ));
            }
            if l.proxy_protocol && l.trusted_proxies.is_empty() {
                return Err(invalid(
                    format!("listen[{i}].trusted_proxies"),
                    "proxy_protocol needs the networks allowed to send the header".into(),
                ));
            }
        }
        let needed = self.scanners.after_final_dot() + self.upstream.data_timeout;
        if needed > self.limits.final_reply_timeout {
            return Err(invalid(
                "limits.final_reply_timeout".into(),
                format!(
                    "{} is less than the scanners ({}) and upstream.data_timeout ({}) may take after the final dot \
                     ({} in all): raise it (well under 10 minutes) or lower those timeouts",
                    humantime::format_duration(self.limits.final_reply_timeout),
                    humantime::format_duration(self.scanners.after_final_dot()),
                    humantime::format_duration(self.upstream.data_timeout),
                    humantime::format_duration(needed),
                ),
            ));
        }
        if let Some(text) = &self.banner.text {
            banner::validate_template(&text.value, self.hostname.as_str()).map_err(|message| ConfigError::Invalid {
                file: file.to_owned(),
                line: text.referenced.line(),
                column: text.referenced.column(),
                key: "banner.text".into(),
                message,
            })?;
        }
        Ok(())
    }

    /// Warnings for a valid but risky configuration, logged at load.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let lines = self.banner.text.as_ref().map_or(1, |t| banner::template_lines(&t.value).count());
        if self.banner.mode == BannerMode::Text && lines > 3 {
            out.push(format!(
                "banner.text has {lines} lines: multi-line greetings break some real clients \
                 (.NET System.Net.Mail among others); 3 or fewer is safer"
            ));
        }
        out.extend(self.helo.warnings());
        if self.upstream.client_identity == ClientIdentity::None {
            out.push(
                "upstream.client_identity is none: the upstream sees every client as doorman's own \
                 address. Make sure it does not trust that address for relaying, or use xclient or \
                 proxy-v2 (docs/deployment-identity.md)"
                    .into(),
            );
        }
        if self.banner.mode != BannerMode::Text && self.banner.text.is_some() {
            out.push("banner.text is set but banner.mode is not `text`: the text is not used".into());
        }
        out
    }

    /// The effective configuration as YAML, defaults included.
    ///
    /// # Errors
    /// Only if serialization fails, which would be a bug.
    pub fn to_yaml(&self) -> Result<String, serde_saphyr::SerializeError> {
        serde_saphyr::to_string(self)
    }
}

#[cfg(test)]
mod tests;
