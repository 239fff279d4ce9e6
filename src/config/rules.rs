//! The vocabulary of the HELO/EHLO and client rules: each [`Rule`], what it
//! may be set to ([`Setting`]) and `helo.mode` ([`Mode`]). One spelling for
//! the config key, the log field and the metric label.

use serde::{Deserialize, Serialize};

/// One rule. [`Rule::as_str`] is its config key (`helo.rules.<name>`), log
/// field and metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// MAIL without HELO/EHLO first.
    NoHelo,
    /// An empty or malformed HELO argument.
    InvalidSyntax,
    /// Our host name or a local domain.
    OurName,
    /// One of our addresses.
    OurIp,
    /// `localhost` or a loopback literal from a client not on loopback.
    Localhost,
    /// An address without brackets.
    BareIp,
    /// An address literal that is not the client's address.
    LiteralMismatch,
    /// A private or reserved address from a public client.
    PrivateAddress,
    /// A name without a dot.
    Dotless,
    /// A name under our host name or a local domain.
    UnderOurDomain,
    /// A HELO name that does not exist in the DNS.
    Unresolvable,
    /// A client address without a PTR record.
    NoPtr,
    /// PTR names that do not resolve back to the client's address.
    FcrdnsMismatch,
    /// The client address is on a DNS blocklist.
    Dnsbl,
    /// Commands sent before their replies, where PIPELINING was not offered.
    Pipelining,
    /// Something that is not SMTP sent as a command (an HTTP verb, a header line).
    NonSmtpCommand,
    /// A command ended by a bare LF instead of CRLF.
    BareNewline,
    /// Sent something before the greeting.
    EarlyTalker,
}

impl Rule {
    /// Every rule, in the order they are documented.
    pub const ALL: [Rule; 18] = [
        Rule::NoHelo,
        Rule::InvalidSyntax,
        Rule::OurName,
        Rule::OurIp,
        Rule::Localhost,
        Rule::BareIp,
        Rule::LiteralMismatch,
        Rule::PrivateAddress,
        Rule::Dotless,
        Rule::UnderOurDomain,
        Rule::Unresolvable,
        Rule::NoPtr,
        Rule::FcrdnsMismatch,
        Rule::Dnsbl,
        Rule::Pipelining,
        Rule::NonSmtpCommand,
        Rule::BareNewline,
        Rule::EarlyTalker,
    ];

    /// The fixed label: config key, log field, metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::NoHelo => "no_helo",
            Rule::InvalidSyntax => "invalid_syntax",
            Rule::OurName => "our_name",
            Rule::OurIp => "our_ip",
            Rule::Localhost => "localhost",
            Rule::BareIp => "bare_ip",
            Rule::LiteralMismatch => "literal_mismatch",
            Rule::PrivateAddress => "private_address",
            Rule::Dotless => "dotless",
            Rule::UnderOurDomain => "under_our_domain",
            Rule::Unresolvable => "unresolvable",
            Rule::NoPtr => "no_ptr",
            Rule::FcrdnsMismatch => "fcrdns_mismatch",
            Rule::Dnsbl => "dnsbl",
            Rule::Pipelining => "pipelining",
            Rule::NonSmtpCommand => "non_smtp_command",
            Rule::BareNewline => "bare_newline",
            Rule::EarlyTalker => "early_talker",
        }
    }

    /// The default setting: `reject` only for the clear forgeries; the rules
    /// that real, broken clients trip are `monitor` or `off`.
    pub fn default_setting(self) -> Setting {
        match self {
            Rule::NoHelo
            | Rule::InvalidSyntax
            | Rule::OurName
            | Rule::OurIp
            | Rule::Localhost
            | Rule::BareIp
            | Rule::NonSmtpCommand => Setting::Reject,
            Rule::Dotless => Setting::Off,
            Rule::LiteralMismatch
            | Rule::PrivateAddress
            | Rule::UnderOurDomain
            | Rule::Unresolvable
            | Rule::NoPtr
            | Rule::FcrdnsMismatch
            | Rule::Dnsbl
            | Rule::Pipelining
            | Rule::BareNewline
            | Rule::EarlyTalker => Setting::Monitor,
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule does when it matches (`helo.rules.<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// A 5xx reply.
    Reject,
    /// A 4xx reply: the client retries later.
    #[serde(rename = "tempfail")]
    TempFail,
    /// Log "would reject"; the session goes on.
    Monitor,
    /// The rule is not evaluated (and its DNS lookups are not made).
    Off,
}

impl Setting {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Setting::Reject => "reject",
            Setting::TempFail => "tempfail",
            Setting::Monitor => "monitor",
            Setting::Off => "off",
        }
    }
}

/// `helo.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Findings reject or tempfail as their rule says.
    #[default]
    Enforce,
    /// Every reject and tempfail becomes a logged "would reject".
    Monitor,
}

/// What doorman does about a client that breaks SMTP's command
/// synchronization (`limits.forbid_unauth_pipelining`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncCheck {
    /// `554 5.5.0 Error: SMTP protocol synchronization`, and the connection closes.
    #[default]
    Reject,
    /// Log it and go on.
    Monitor,
    /// Not checked.
    Off,
}
