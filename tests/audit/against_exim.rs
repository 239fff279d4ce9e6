//! Debian's Exim on loopback: its defaults name the version and offer a
//! throwaway self-signed certificate; the hardened flavour leaks nothing
//! above "low"; a legal notice in the greeting is flagged.

use doorman::audit::finding::{Check, Severity};

use super::exim_server::{default, hardened, legal_banner};
use super::run::{audit, finding, severity};

#[tokio::test]
async fn default_exim_names_its_version() {
    let r = audit(&default().addr()).await;
    let leak = finding(&r.direct, Check::SoftwareBanner);
    assert_eq!(leak.severity, Severity::Medium);
    assert!(leak.title.starts_with("the greeting names Exim, version 4."), "{leak:?}");
    assert!(leak.evidence.starts_with("220 mail.exim-default.test ESMTP Exim 4."), "{leak:?}");
    assert!(leak.fix.starts_with("Exim: smtp_banner = $smtp_active_hostname ESMTP"), "{leak:?}");
    assert_eq!(finding(&r.direct, Check::SoftwareKeywords).evidence, "PIPECONNECT (Exim)");
    assert_eq!(r.exit_code, 1);
}

#[tokio::test]
async fn default_exim_tls_is_a_throwaway_certificate() {
    let r = audit(&default().addr()).await;
    assert!(finding(&r.direct, Check::CertSelfSigned).evidence.contains("O=Exim Developers"));
    let expiring = finding(&r.direct, Check::CertExpiring);
    assert_eq!(expiring.severity, Severity::Medium, "Exim makes a certificate for hours: {expiring:?}");
    assert_eq!(severity(&r.direct, Check::CertExpired), None, "{:#?}", r.direct);
    // PIPECONNECT invites clients to talk before the greeting.
    assert_eq!(severity(&r.direct, Check::SyncEarlyTalker), Some(Severity::Low));
    // Exim refuses VRFY and EXPN unless an ACL allows them.
    assert_eq!(severity(&r.direct, Check::UsersVrfy), None);
    assert_eq!(severity(&r.direct, Check::UsersExpn), None);
    assert!(finding(&r.direct, Check::UsersRcpt).evidence.contains("550 Unrouteable address"));
}

#[tokio::test]
async fn hardened_exim_leaks_nothing_above_low() {
    let r = audit(&hardened().addr()).await;
    let v = &r.direct;
    for gone in [Check::SoftwareBanner, Check::SoftwareKeywords, Check::CertSelfSigned, Check::CertExpiring] {
        assert_eq!(severity(v, gone), None, "{gone:?}: {v:#?}");
    }
    assert_eq!(
        finding(v, Check::SyncEarlyTalker).evidence.rsplit("; got ").next(),
        Some("554 SMTP synchronization error")
    );
    assert_eq!(severity(v, Check::SyncPipelining), Some(Severity::Info));
    assert_eq!(v.worst, Some(Severity::Low), "{v:#?}");
    assert_eq!(r.exit_code, 0);
}

#[tokio::test]
async fn a_multi_line_banner_with_lines_over_512_octets_is_flagged() {
    let r = audit(&legal_banner().addr()).await;
    let long = finding(&r.direct, Check::BannerLineTooLong);
    assert_eq!(long.severity, Severity::Medium);
    assert_eq!(long.evidence, "line 2: 655 octets, line 3: 655 octets");
    let many = finding(&r.direct, Check::BannerTooManyLines);
    assert!(many.title.starts_with("a 5-line greeting"), "{many:?}");
    let banner = &r.direct.surface[0].lines;
    assert_eq!(banner.len(), 5);
    assert!(banner[0] == "220-mail.exim-legal.test ESMTP" && banner[4] == "220 Notice 4", "{banner:?}");
}
