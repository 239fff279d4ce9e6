//! STARTTLS outcomes and certificates, judged at a fixed `now`.

use super::{find, lacks, stock_postfix};
use crate::audit::cert::CertFacts;
use crate::audit::finding::{Check, Severity};
use crate::audit::findings::judge;
use crate::audit::transcript::{TlsFacts, TlsOutcome, Transcript};

const NOW: i64 = 2_000_000_000;
const DAY: i64 = 86_400;

fn leaf(not_after: i64) -> CertFacts {
    CertFacts {
        subject: "CN=mail.stock.test".into(),
        issuer: "CN=Example CA".into(),
        common_names: vec!["mail.stock.test".into()],
        dns_names: vec!["mail.stock.test".into()],
        ip_addresses: Vec::new(),
        not_before: NOW - 30 * DAY,
        not_after,
        key_type: "EC",
        key_bits: 256,
        self_signed: false,
    }
}

fn with_tls(cert: CertFacts, version: &str, tls12: Option<bool>) -> Transcript {
    let mut t = stock_postfix();
    t.tls = Some(TlsOutcome::Done(Box::new(TlsFacts {
        version: version.into(),
        suite: "TLS13_AES_256_GCM_SHA384".into(),
        tls12,
        tls13: version == "TLSv1_3",
        chain: vec![Ok(cert)],
        expected_name: "mail.stock.test".into(),
        ehlo_after: None,
    })));
    t
}

#[test]
fn a_good_certificate_gives_only_facts() {
    let f = judge(&with_tls(leaf(NOW + 90 * DAY), "TLSv1_3", Some(true)), NOW);
    let v = find(&f, Check::TlsVersions);
    assert_eq!(v.severity, Severity::Info);
    assert_eq!(v.title, "TLS: TLS 1.3 with TLS13_AES_256_GCM_SHA384; TLS 1.2 also accepted");
    for quiet in [
        Check::CertExpired,
        Check::CertExpiring,
        Check::CertName,
        Check::CertWeakKey,
        Check::CertSelfSigned,
        Check::TlsNo13,
    ] {
        lacks(&f, quiet);
    }
}

#[test]
fn expiry_is_judged_against_now() {
    let expired = judge(&with_tls(leaf(NOW - 3 * DAY), "TLSv1_3", Some(true)), NOW);
    let e = find(&expired, Check::CertExpired);
    assert_eq!((e.severity, e.title.as_str()), (Severity::High, "the certificate expired 3 days ago"));
    let soon = judge(&with_tls(leaf(NOW + 10 * DAY), "TLSv1_3", Some(true)), NOW);
    assert_eq!(find(&soon, Check::CertExpiring).severity, Severity::Medium);
    let later = judge(&with_tls(leaf(NOW + 20 * DAY), "TLSv1_3", Some(true)), NOW);
    assert_eq!(find(&later, Check::CertExpiring).severity, Severity::Low);
    let hour = judge(&with_tls(leaf(NOW + 7200), "TLSv1_3", None), NOW);
    assert_eq!(find(&hour, Check::CertExpiring).title, "the certificate expires in 2 hours");
    let mut just_made = leaf(NOW + 3600);
    just_made.not_before = NOW + 60;
    lacks(&judge(&with_tls(just_made, "TLSv1_3", None), NOW), Check::CertExpired);
    let mut young = leaf(NOW + 90 * DAY);
    young.not_before = NOW + DAY;
    assert_eq!(
        find(&judge(&with_tls(young, "TLSv1_3", None), NOW), Check::CertExpired).title,
        "the certificate is not valid yet"
    );
}

#[test]
fn name_key_and_issuer() {
    let mut c = leaf(NOW + 90 * DAY);
    c.dns_names = vec!["other.test".into()];
    c.key_type = "RSA";
    c.key_bits = 1024;
    c.self_signed = true;
    let f = judge(&with_tls(c, "TLSv1_2", None), NOW);
    assert_eq!(find(&f, Check::CertName).evidence, "it names other.test");
    assert_eq!(find(&f, Check::CertWeakKey).title, "a 1024-bit RSA key");
    assert_eq!(find(&f, Check::CertSelfSigned).severity, Severity::Low);
    assert_eq!(find(&f, Check::TlsNo13).severity, Severity::Low);
}

#[test]
fn missing_refused_or_broken_tls() {
    let mut t = stock_postfix();
    t.tls = Some(TlsOutcome::NotOffered);
    assert_eq!(find(&judge(&t, NOW), Check::TlsMissing).severity, Severity::Medium);
    t.tls = Some(TlsOutcome::Failed { stage: "handshake".into(), error: "handshake failed: no common cipher".into() });
    let f = judge(&t, NOW);
    assert_eq!(
        (find(&f, Check::TlsFailed).severity, find(&f, Check::TlsFailed).title.as_str()),
        (Severity::High, "STARTTLS fails at the handshake")
    );
    let only13 = judge(&with_tls(leaf(NOW + 90 * DAY), "TLSv1_3", Some(false)), NOW);
    assert_eq!(find(&only13, Check::TlsVersions).severity, Severity::Low);
    let mut t = with_tls(leaf(NOW), "TLSv1_3", None);
    if let Some(TlsOutcome::Done(facts)) = &mut t.tls {
        facts.chain = vec![Err("not an X.509 certificate".into())];
    }
    assert_eq!(find(&judge(&t, NOW), Check::CertUnreadable).evidence, "not an X.509 certificate");
}
