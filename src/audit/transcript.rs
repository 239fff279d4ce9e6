//! What the probes recorded: plain data, no I/O. The probes (`probe`) fill
//! a [`Transcript`]; the judging (`findings`) reads it. Unit tests build
//! transcripts by hand to test the judging without a server.

use super::cert::CertFacts;
use super::raw_reply::RawReply;

/// One command and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The command line as sent, without CRLF.
    pub command: String,
    /// The reply, complete or not.
    pub reply: RawReply,
}

/// The main session: what any client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surface {
    /// The greeting, with the number of reads it took.
    pub greeting: RawReply,
    /// EHLO (absent when the greeting failed).
    pub ehlo: Option<Exchange>,
    /// HELO, sent only when EHLO was refused.
    pub helo: Option<Exchange>,
    /// HELP.
    pub help: Option<Exchange>,
    /// VRFY of each address that surely exists.
    pub vrfy_known: Vec<Exchange>,
    /// VRFY of a random address.
    pub vrfy_unknown: Option<Exchange>,
    /// EXPN of the first address that surely exists.
    pub expn: Option<Exchange>,
}

impl Surface {
    /// A surface with only a greeting.
    pub fn greeting(greeting: RawReply) -> Self {
        Self { greeting, ehlo: None, helo: None, help: None, vrfy_known: Vec::new(), vrfy_unknown: None, expn: None }
    }

    /// The EHLO reply, if EHLO was answered 250.
    pub fn ehlo_reply(&self) -> Option<&RawReply> {
        self.ehlo.as_ref().map(|e| &e.reply).filter(|r| r.is_positive())
    }

    /// The EHLO keywords (upper case, parameters dropped) of a 250 reply.
    pub fn keywords(&self) -> Vec<(String, String)> {
        self.ehlo_reply().map(keywords).unwrap_or_default()
    }
}

/// The keywords of an EHLO reply with their parameters (the first line is
/// the server's name).
pub fn keywords(reply: &RawReply) -> Vec<(String, String)> {
    reply
        .texts()
        .iter()
        .skip(1)
        .filter_map(|t| {
            let (k, p) = t.split_once([' ', '=']).unwrap_or((t, ""));
            (!k.is_empty()).then(|| (k.to_ascii_uppercase(), p.trim().to_owned()))
        })
        .collect()
}

/// `MAIL FROM:<>` then RCPT for an existing and an unknown user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enumeration {
    /// `MAIL FROM:<>`.
    pub mail: Exchange,
    /// RCPT of each address that surely exists.
    pub known: Vec<Exchange>,
    /// RCPT of a random address in the same domain.
    pub unknown: Option<Exchange>,
}

/// The certificate chain and the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFacts {
    /// The version negotiated by default (`TLSv1_3`, `TLSv1_2`).
    pub version: String,
    /// The cipher suite negotiated by default.
    pub suite: String,
    /// Whether a TLS 1.2-only handshake worked (`None`: not tried).
    pub tls12: Option<bool>,
    /// Whether a TLS 1.3 handshake worked.
    pub tls13: bool,
    /// The chain as sent, leaf first, each parsed or why not.
    pub chain: Vec<Result<CertFacts, String>>,
    /// The name the certificate should carry.
    pub expected_name: String,
    /// The EHLO reply after the handshake.
    pub ehlo_after: Option<RawReply>,
}

/// What STARTTLS gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsOutcome {
    /// STARTTLS is not in the EHLO reply.
    NotOffered,
    /// STARTTLS was refused or the handshake failed.
    Failed {
        /// Where: `starttls` (the command) or `handshake`.
        stage: String,
        /// The reply or error.
        error: String,
    },
    /// A handshake worked.
    Done(Box<TlsFacts>),
}

/// A synchronisation probe: bytes sent out of turn, and the replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncProbe {
    /// What was sent, escaped (`EHLO x\r\nNOOP\r\n`).
    pub sent: String,
    /// Every reply read after sending, in order; the last may be incomplete.
    pub replies: Vec<RawReply>,
    /// Connections used; the replies are the last one's.
    pub attempts: usize,
}

/// A probe that did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure {
    /// Which probe (`session`, `starttls`, `early-talker`, ...).
    pub probe: &'static str,
    /// What went wrong.
    pub error: String,
}

/// The addresses the user probes use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Users {
    /// Addresses that surely exist: `postmaster@domain` (RFC 5321 4.5.1
    /// requires it), and `--user`.
    pub known: Vec<String>,
    /// A random address in the same domain.
    pub unknown: String,
}

/// Everything the probes recorded about one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// `host:port` as audited.
    pub target: String,
    /// The addresses probed.
    pub users: Users,
    /// The main session.
    pub surface: Surface,
    /// The RCPT probe, if it got that far.
    pub enumeration: Option<Enumeration>,
    /// The STARTTLS probe, if it got that far.
    pub tls: Option<TlsOutcome>,
    /// EHLO sent right after connecting, before the greeting.
    pub early_talker: Option<SyncProbe>,
    /// `EHLO` and `NOOP` in one write, before PIPELINING was offered.
    pub pipelining: Option<SyncProbe>,
    /// Probes that did not finish.
    pub failures: Vec<ProbeFailure>,
}
