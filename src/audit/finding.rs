//! What the audit reports: a [`Finding`] names its [`Check`] (a stable id),
//! a [`Severity`], the evidence seen on the wire, and a one-line fix.

use serde::Serialize;

/// How much a finding matters. Ordered: `Info < Low < Medium < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A fact worth knowing; nothing to fix.
    Info,
    /// Helps an attacker a little, or breaks rare clients.
    Low,
    /// Leaks users or software versions, breaks real senders, or weakens TLS.
    Medium,
    /// Credentials or mail exposed, impersonation possible, or the session is broken.
    High,
}

impl Severity {
    /// The lower-case name used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

macro_rules! checks {
    ($($variant:ident => $id:literal, $doc:literal;)*) => {
        /// Every check the audit makes; the id is stable (JSON, docs/audit.md).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Check {
            $(#[doc = $doc] $variant,)*
        }

        impl Check {
            /// Every check, in report order.
            pub const ALL: &[Check] = &[$(Check::$variant,)*];

            /// The stable id, e.g. `banner.line_too_long`.
            pub fn id(self) -> &'static str {
                match self {
                    $(Self::$variant => $id,)*
                }
            }
        }
    };
}

checks! {
    BannerIncomplete => "banner.incomplete", "The greeting never completed: no CRLF, too big, or cut off.";
    BannerMixedCodes => "banner.mixed_codes", "Greeting lines carry different reply codes.";
    BannerMalformed => "banner.malformed", "Greeting lines without a proper code, separator or CRLF.";
    BannerLineTooLong => "banner.line_too_long", "A greeting line over 512 octets (RFC 5321 4.5.3.1.5).";
    BannerNonAscii => "banner.non_ascii", "Bytes outside printable US-ASCII in the greeting.";
    BannerTooManyLines => "banner.too_many_lines", "A greeting of more than 3 lines.";
    BannerNoDomain => "banner.no_domain", "Line 1 of the greeting does not start with a domain (RFC 5321 4.3.1).";
    BannerSplit => "banner.split", "The greeting arrived in several writes.";
    SoftwareBanner => "software.banner", "Software names or versions in the greeting.";
    SoftwareEhlo => "software.ehlo", "Software names or versions in the EHLO reply.";
    SoftwareHelp => "software.help", "Software names or versions in the HELP reply.";
    SoftwareKeywords => "software.keywords", "EHLO keywords that identify the software.";
    EhloRefused => "ehlo.refused", "EHLO was not answered 250.";
    EhloXclient => "ehlo.xclient", "XCLIENT or XFORWARD offered to this client.";
    UsersVrfy => "users.vrfy", "VRFY answers differ for an existing and an unknown user.";
    UsersExpn => "users.expn", "EXPN answers.";
    UsersRcpt => "users.rcpt", "RCPT answers differ for an existing and an unknown user.";
    UsersRcptUnknown => "users.rcpt_inconclusive", "The RCPT probe could not tell.";
    TlsMissing => "tls.missing", "STARTTLS not offered.";
    TlsFailed => "tls.failed", "The STARTTLS handshake failed.";
    TlsVersions => "tls.versions", "The TLS versions and cipher suite negotiated.";
    TlsNo13 => "tls.no_tls13", "TLS 1.3 not accepted.";
    CertExpired => "tls.cert_expired", "The certificate has expired or is not valid yet.";
    CertExpiring => "tls.cert_expiring", "The certificate expires within 30 days.";
    CertName => "tls.cert_name", "The certificate does not name the server.";
    CertWeakKey => "tls.cert_weak_key", "The certificate's key is too small.";
    CertSelfSigned => "tls.cert_self_signed", "The certificate is self-signed.";
    CertUnreadable => "tls.cert_unreadable", "No certificate, or one that cannot be parsed.";
    AuthBeforeTls => "auth.before_tls", "AUTH offered before STARTTLS.";
    SyncEarlyTalker => "sync.early_talker", "A client that talks before the greeting is served.";
    SyncPipelining => "sync.unauth_pipelining", "Commands pipelined without PIPELINING are served.";
    ExtChunking => "ext.chunking", "CHUNKING (BDAT).";
    ExtPipelining => "ext.pipelining", "PIPELINING.";
    ExtSize => "ext.size", "SIZE and its limit.";
    ExtSmtputf8 => "ext.smtputf8", "SMTPUTF8.";
    ExtNoSoliciting => "ext.no_soliciting", "NO-SOLICITING (RFC 3865).";
    ProbeIncomplete => "probe.incomplete", "A probe could not finish.";
}

/// One thing the audit found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's stable id.
    #[serde(serialize_with = "check_id")]
    pub id: Check,
    /// How much it matters.
    pub severity: Severity,
    /// What was found, in one line.
    pub title: String,
    /// What the server sent (or did) that shows it; may be empty.
    pub evidence: String,
    /// How to fix it, in one line; empty for facts.
    pub fix: String,
}

fn check_id<S: serde::Serializer>(check: &Check, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(check.id())
}

impl Finding {
    /// A finding without a fix yet.
    pub fn new(id: Check, severity: Severity, title: impl Into<String>) -> Self {
        Self { id, severity, title: title.into(), evidence: String::new(), fix: String::new() }
    }

    /// Adds the evidence.
    #[must_use]
    pub fn evidence(mut self, evidence: impl Into<String>) -> Self {
        self.evidence = evidence.into();
        self
    }

    /// Adds the fix.
    #[must_use]
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }
}

/// The worst severity among `findings`, if any.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_dotted() {
        let mut ids: Vec<_> = Check::ALL.iter().map(|c| c.id()).collect();
        assert!(ids.iter().all(|id| id.split('.').count() == 2));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Check::ALL.len());
        assert!(Severity::High > Severity::Medium && Severity::Low > Severity::Info);
    }
}
