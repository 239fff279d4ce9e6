//! Debian's Postfix on loopback: stock (main.cf.debian and main.cf.tls as
//! the package writes them) leaks its name and its users; the hardened
//! configuration of docs/audit.md leaks nothing above "low".

use doorman::audit::finding::{Check, Severity};

use super::postfix_server::{hardened, stock};
use super::run::{audit, finding, severity};

#[tokio::test]
async fn stock_postfix_names_postfix_in_its_banner() {
    let r = audit(&stock().addr()).await;
    let leak = finding(&r.direct, Check::SoftwareBanner);
    assert!(leak.title.contains("Postfix"), "{leak:?}");
    assert_eq!(leak.evidence, "220 mail.stock.test ESMTP Postfix (Debian/GNU)");
    assert!(leak.fix.contains("smtpd_banner = $myhostname ESMTP"), "{leak:?}");
}

#[tokio::test]
async fn stock_postfix_lets_vrfy_and_rcpt_enumerate_users() {
    let r = audit(&stock().addr()).await;
    let vrfy = finding(&r.direct, Check::UsersVrfy);
    assert_eq!(vrfy.severity, Severity::Medium);
    assert!(vrfy.evidence.starts_with("VRFY postmaster@mail.stock.test → 252 2.0.0"), "{vrfy:?}");
    assert!(vrfy.evidence.contains("→ 550 5.1.1"), "{vrfy:?}");
    let rcpt = finding(&r.direct, Check::UsersRcpt);
    assert_eq!(rcpt.severity, Severity::Low);
    assert!(rcpt.evidence.starts_with("RCPT TO:<postmaster@mail.stock.test> → 250 2.1.5 Ok; RCPT TO:<doorman-audit-"));
    assert!(rcpt.evidence.contains("User unknown in local recipient table"), "{rcpt:?}");
    assert_eq!(r.direct.worst, Some(Severity::Medium));
    assert_eq!(r.exit_code, 1);
}

#[tokio::test]
async fn stock_postfix_tls_and_synchronisation() {
    let r = audit(&stock().addr()).await;
    let v = finding(&r.direct, Check::TlsVersions);
    assert!(v.title.starts_with("TLS: TLS 1.3 with ") && v.title.ends_with("TLS 1.2 also accepted"), "{v:?}");
    assert_eq!(finding(&r.direct, Check::CertSelfSigned).evidence, "CN=mail.stock.test");
    for absent in [Check::CertName, Check::CertExpired, Check::CertExpiring, Check::CertWeakKey, Check::AuthBeforeTls] {
        assert_eq!(severity(&r.direct, absent), None, "{absent:?}: {:#?}", r.direct);
    }
    assert_eq!(severity(&r.direct, Check::SyncEarlyTalker), Some(Severity::Low));
    assert_eq!(severity(&r.direct, Check::SyncPipelining), Some(Severity::Low));
    assert!(finding(&r.direct, Check::ExtChunking).title.starts_with("CHUNKING offered"));
    assert_eq!(finding(&r.direct, Check::ExtSize).title, "SIZE 10240000 (9 MiB)");
    let ehlo = r.direct.surface.iter().find(|i| i.item == "EHLO").expect("EHLO in the surface");
    assert!(ehlo.lines.contains(&"250-STARTTLS".to_owned()), "{ehlo:?}");
}

#[tokio::test]
async fn hardened_postfix_leaks_nothing_above_low() {
    let r = audit(&hardened().addr()).await;
    let v = &r.direct;
    for gone in [Check::SoftwareBanner, Check::SoftwareEhlo, Check::SoftwareHelp, Check::UsersVrfy, Check::UsersExpn] {
        assert_eq!(severity(v, gone), None, "{gone:?}: {v:#?}");
    }
    for cert in [Check::CertSelfSigned, Check::CertName, Check::CertExpiring, Check::TlsNo13] {
        assert_eq!(severity(v, cert), None, "{cert:?}: {v:#?}");
    }
    // smtpd_forbid_unauth_pipelining. Its check at connect time races
    // Postfix's own greeting (docs/audit.md, Limits), so only the pipelining
    // probe, which does not race, is asserted.
    let pipelining = finding(v, Check::SyncPipelining);
    assert_eq!(pipelining.severity, Severity::Info);
    assert!(pipelining.evidence.ends_with("got 554 5.5.0 Error: SMTP protocol synchronization"), "{pipelining:?}");
    assert_eq!(v.surface[0].lines, ["220 mail.hardened.test ESMTP"]);
    // RCPT still tells users apart: that cannot be hidden without backscatter.
    assert_eq!(severity(v, Check::UsersRcpt), Some(Severity::Low));
    assert_eq!(v.worst, Some(Severity::Low));
    assert_eq!(r.exit_code, 0);
}

/// Read-only: Postfix's own count of the commands of every session the
/// audit opened shows no DATA, BDAT or AUTH, and nothing was queued.
#[tokio::test]
async fn the_audit_sends_no_message_and_no_credentials() {
    let r = audit(&stock().addr()).await;
    assert!(r.direct.error.is_none(), "{:#?}", r.direct);
    let start = std::time::Instant::now();
    let log = loop {
        let log = stock().log();
        // The main session is the one that says MAIL.
        if log.lines().any(|l| l.contains("disconnect from") && l.contains(" mail=1")) {
            break log;
        }
        assert!(start.elapsed() < super::support::PATIENCE, "no session summary in the log:\n{log}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let sessions: Vec<&str> = log.lines().filter(|l| l.contains("disconnect from")).collect();
    assert!(sessions.len() >= 4, "{log}");
    for s in &sessions {
        assert!(!s.contains(" data=") && !s.contains(" bdat=") && !s.contains(" auth="), "{s}");
    }
    assert!(!log.contains("queued as") && !log.contains(": message-id="), "{log}");
}
