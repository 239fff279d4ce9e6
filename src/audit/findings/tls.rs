//! STARTTLS: offered or not, the handshake, the versions, the certificate
//! (validity against `now`, name, key size, issuer), and AUTH in plaintext.

use crate::audit::cert::CertFacts;
use crate::audit::finding::{Check, Finding, Severity};
use crate::audit::transcript::{TlsFacts, TlsOutcome};

const DAY: i64 = 86_400;

/// Clock skew tolerated before a certificate counts as not valid yet: the
/// audit's clock is read once at its start, and some servers (Exim by
/// default) make a certificate at the handshake.
const SKEW: i64 = 300;

/// STARTTLS findings; `now` is Unix seconds.
pub(crate) fn judge(outcome: &TlsOutcome, now: i64, out: &mut Vec<Finding>) {
    match outcome {
        TlsOutcome::NotOffered => out.push(
            Finding::new(Check::TlsMissing, Severity::Medium, "STARTTLS is not offered: mail arrives in clear text")
                .fix(
                    "Offer STARTTLS (Postfix: smtpd_tls_security_level = may and a certificate; Exim: tls_certificate)",
                ),
        ),
        TlsOutcome::Failed { stage, error } => out.push(
            Finding::new(Check::TlsFailed, Severity::High, format!("STARTTLS fails at the {stage}"))
                .evidence(error.clone())
                .fix("Fix the TLS setup: senders that try STARTTLS and fail may not deliver at all"),
        ),
        TlsOutcome::Done(facts) => {
            versions(facts, out);
            match facts.chain.first() {
                Some(Ok(leaf)) => certificate(leaf, &facts.expected_name, now, out),
                Some(Err(e)) => out.push(
                    Finding::new(Check::CertUnreadable, Severity::Medium, "the certificate cannot be parsed")
                        .evidence(e.clone())
                        .fix("Serve a well-formed X.509 certificate"),
                ),
                None => out.push(
                    Finding::new(Check::CertUnreadable, Severity::Medium, "the server sent no certificate")
                        .fix("Configure a certificate and its key"),
                ),
            }
        }
    }
}

fn versions(facts: &TlsFacts, out: &mut Vec<Finding>) {
    let name = |v: &str| v.replace("TLSv1_", "TLS 1.");
    let mut title = format!("TLS: {} with {}", name(&facts.version), facts.suite);
    let mut severity = Severity::Info;
    match facts.tls12 {
        Some(true) => title.push_str("; TLS 1.2 also accepted"),
        Some(false) => {
            title.push_str("; TLS 1.2 refused: senders without TLS 1.3 fall back to clear text");
            severity = Severity::Low;
        }
        None => {}
    }
    out.push(
        Finding::new(Check::TlsVersions, severity, title)
            .evidence("versions below TLS 1.2 are not probed")
            .fix(if severity == Severity::Info { "" } else { "Accept TLS 1.2 and 1.3" }),
    );
    if !facts.tls13 {
        out.push(
            Finding::new(Check::TlsNo13, Severity::Low, "TLS 1.3 is not accepted")
                .evidence(format!("negotiated {}", name(&facts.version)))
                .fix("Enable TLS 1.3 (OpenSSL 1.1.1 or later; Postfix: smtpd_tls_protocols = >=TLSv1.2)"),
        );
    }
}

fn certificate(leaf: &CertFacts, expected: &str, now: i64, out: &mut Vec<Finding>) {
    let renew = "Renew the certificate (automate it, e.g. ACME) and reload the server";
    let left = leaf.not_after - now;
    if now > leaf.not_after || now + SKEW < leaf.not_before {
        let title = if now > leaf.not_after {
            format!("the certificate expired {} days ago", (now - leaf.not_after).div_euclid(DAY))
        } else {
            "the certificate is not valid yet".to_owned()
        };
        out.push(Finding::new(Check::CertExpired, Severity::High, title).evidence(leaf.subject.clone()).fix(renew));
    } else if left < 30 * DAY {
        let severity = if left < 14 * DAY { Severity::Medium } else { Severity::Low };
        let when = match left {
            l if l >= 2 * DAY => format!("{} days", l / DAY),
            l if l >= DAY => "1 day".to_owned(),
            l if l >= 2 * 3600 => format!("{} hours", l / 3600),
            l if l >= 3600 => "1 hour".to_owned(),
            _ => "less than an hour".to_owned(),
        };
        out.push(
            Finding::new(Check::CertExpiring, severity, format!("the certificate expires in {when}"))
                .evidence(leaf.subject.clone())
                .fix(renew),
        );
    }
    if !leaf.matches(expected) {
        out.push(
            Finding::new(Check::CertName, Severity::Medium, format!("the certificate does not name {expected}"))
                .evidence(format!("it names {}", leaf.names().join(", ")))
                .fix("Use a certificate for the name senders connect to (the MX host name); or pass --tls-name"),
        );
    }
    let weak = match leaf.key_type {
        "RSA" => leaf.key_bits < 2048,
        "EC" => leaf.key_bits < 256,
        "DSA" => true,
        _ => false,
    };
    if weak {
        out.push(
            Finding::new(Check::CertWeakKey, Severity::High, format!("a {}-bit {} key", leaf.key_bits, leaf.key_type))
                .evidence(leaf.subject.clone())
                .fix("Use RSA of 2048 bits or more, or ECDSA P-256 or better"),
        );
    }
    if leaf.self_signed {
        out.push(
            Finding::new(Check::CertSelfSigned, Severity::Low, "the certificate is self-signed")
                .evidence(leaf.subject.clone())
                .fix("Use a certificate from a CA (ACME), or publish DANE TLSA records for it"),
        );
    }
}

/// AUTH in the EHLO reply before TLS.
pub(crate) fn auth_before_tls(keywords: &[(String, String)], out: &mut Vec<Finding>) {
    if let Some((_, mechanisms)) = keywords.iter().find(|(k, _)| k == "AUTH") {
        out.push(
            Finding::new(
                Check::AuthBeforeTls,
                Severity::High,
                "AUTH is offered before STARTTLS: passwords in clear text",
            )
            .evidence(format!("AUTH {mechanisms}"))
            .fix(
                "Postfix: smtpd_tls_auth_only = yes; Exim: auth_advertise_hosts = ${if eq{$tls_in_cipher}{}{}{*}}; \
                     doorman: auth.allow_plaintext: false",
            ),
        );
    }
}
