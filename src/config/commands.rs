//! The `commands` section: which informational commands doorman answers
//! itself, and how tolerant the envelope is of what real clients send.

use serde::{Deserialize, Serialize};

/// Whether doorman answers a command or passes it to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    /// doorman answers; the upstream never sees it.
    #[default]
    Local,
    /// Relayed to the upstream.
    Pass,
}

/// Commands that reveal information about the upstream.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Commands {
    /// VRFY: local answers `252 2.5.2`.
    #[serde(default)]
    pub vrfy: Handling,
    /// EXPN: local answers `502 5.5.1`.
    #[serde(default)]
    pub expn: Handling,
    /// HELP: local answers a text without software names.
    #[serde(default)]
    pub help: Handling,
    /// A UTF-8 address in MAIL or RCPT without the SMTPUTF8 parameter.
    #[serde(default)]
    pub utf8_without_smtputf8: Utf8WithoutSmtputf8,
}

/// What doorman does with a UTF-8 address sent without SMTPUTF8 (msmtp
/// does it). RFC 6531 3.5 says to refuse it; Postfix takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Utf8WithoutSmtputf8 {
    /// As the upstream would: relayed when it offers SMTPUTF8 (it takes
    /// such an address from a client directly), else `553 5.6.7`.
    #[default]
    Upstream,
    /// Always `553 5.6.7`.
    Reject,
}
