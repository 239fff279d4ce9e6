//! The same servers through doorman (`--config`, doorman in-process on
//! loopback), and doorman itself audited as any server would be.

use doorman::audit::finding::{Check, Severity};
use serde_json::Value;

use super::exim_server::legal_banner;
use super::postfix_server::stock;
use super::run::{DEADLINE, STEP, audit, audit_plan, command, finding, plan, severity};
use super::support::postfix::postfix;
use super::support::proxy::Proxy;
use super::support::tls::TestCert;

/// A doorman configuration file for `upstream` as an operator would write it
/// (listening on port 25 of every address: the audit moves it to loopback).
pub(crate) fn config_file(dir: &tempfile::TempDir, upstream: &str) -> String {
    let path = dir.path().join("proxy.yaml");
    let yaml = format!(
        "hostname: mx.example.test\nlisten:\n  - address: 0.0.0.0:25\nupstream:\n  address: {upstream}\n\
         dns:\n  nameservers: [\"127.0.0.1:9\"]\n"
    );
    std::fs::write(&path, yaml).expect("write proxy.yaml");
    path.display().to_string()
}

/// The configuration of [`config_file`], loaded.
fn doorman_config(upstream: &str) -> doorman::Config {
    let dir = tempfile::tempdir().expect("tempdir");
    doorman::Config::load(std::path::Path::new(&config_file(&dir, upstream))).expect("a valid configuration")
}

fn ids(view: &Value) -> Vec<String> {
    view["findings"].as_array().expect("findings").iter().map(|f| f["id"].as_str().expect("id").to_owned()).collect()
}

#[tokio::test]
async fn through_doorman_the_postfix_leak_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(&dir, &stock().addr());
    let (code, stdout, stderr) = command(&[&stock().addr(), "--config", &config, "--format", "json"]).await;
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    let (direct, doorman) = (&report["direct"], &report["doorman"]);
    let leak = direct["findings"].as_array().unwrap().iter().find(|f| f["id"] == "software.banner").expect("the leak");
    assert!(leak["title"].as_str().unwrap().contains("Postfix"), "{leak}");
    assert!(ids(direct).contains(&"users.vrfy".to_owned()));
    let through = ids(doorman);
    assert!(through.iter().all(|id| !id.starts_with("software.")), "{doorman:#}");
    assert!(!through.contains(&"users.vrfy".to_owned()), "doorman answers VRFY itself: {doorman:#}");
    assert_eq!(doorman["surface"][0]["lines"][0], "220 mx.example.test ESMTP");
    assert!(doorman["address"].as_str().unwrap().starts_with("127.0.0.1:"), "{doorman:#}");
    let early = doorman["findings"].as_array().unwrap().iter().find(|f| f["id"] == "sync.early_talker").unwrap();
    // The `early_talker` rule monitors by default: served, and the fix names it.
    assert_eq!(early["severity"], "low", "{early}");
    assert!(early["fix"].as_str().unwrap().contains("helo.rules.early_talker: reject"), "{early}");
    // Without a `tls` section doorman offers no STARTTLS, though Postfix does.
    assert!(through.contains(&"tls.missing".to_owned()) && !ids(direct).contains(&"tls.missing".to_owned()));
    // The exit code follows what clients see through doorman.
    assert_eq!(report["exit_code"], code);
    assert_eq!(report["exit_code"], if doorman["worst"] == "medium" { 1 } else { 0 }, "{doorman:#}");
}

/// The test suite's Postfix offers AUTH in clear text and XCLIENT to
/// loopback clients; through doorman neither is offered.
#[tokio::test]
async fn through_doorman_plaintext_auth_and_xclient_are_gone() {
    let upstream = postfix().addr();
    let r = audit_plan(plan(&upstream, STEP, DEADLINE), Some(doorman_config(&upstream))).await;
    let doorman = r.doorman.as_ref().expect("a view through doorman");
    assert_eq!(finding(&r.direct, Check::AuthBeforeTls).evidence, "AUTH PLAIN LOGIN");
    assert_eq!(severity(&r.direct, Check::EhloXclient), Some(Severity::High));
    for gone in [Check::AuthBeforeTls, Check::EhloXclient, Check::SoftwareKeywords] {
        assert_eq!(severity(doorman, gone), None, "{gone:?}: {doorman:#?}");
    }
}

#[tokio::test]
async fn the_table_shows_both_side_by_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(&dir, &stock().addr());
    let (_, stdout, _) = command(&[&stock().addr(), "--config", &config]).await;
    assert!(stdout.contains("What a client sees"), "{stdout}");
    let banner = stdout.lines().find(|l| l.trim_start().starts_with("banner")).expect("the banner row");
    assert!(
        banner.contains("220 mail.stock.test ESMTP Postfix (Debian/GNU)")
            && banner.ends_with("220 mx.example.test ESMTP")
    );
    let vrfy = stdout.lines().find(|l| l.trim_start().starts_with("VRFY postmaster@")).expect("a VRFY row");
    assert!(
        vrfy.contains("252 2.0.0 postmaster@mail.stock.test") && vrfy.contains("252 2.5.2 Cannot VRFY user"),
        "{vrfy}"
    );
    assert!(stdout.contains(", through doorman (in-process on 127.0.0.1:"), "{stdout}");
}

#[tokio::test]
async fn doorman_itself_shows_no_software_and_sound_tls() {
    let cert = TestCert::new();
    let proxy = Proxy::start(&stock().addr(), &cert.config()).await;
    let r = audit(&proxy.addr.to_string()).await;
    let v = &r.direct;
    assert_eq!(v.surface[0].lines, ["220 mx.example.test ESMTP"]);
    for none in [Check::SoftwareBanner, Check::SoftwareEhlo, Check::SoftwareHelp, Check::SoftwareKeywords] {
        assert_eq!(severity(v, none), None, "{none:?}: {v:#?}");
    }
    for none in [Check::AuthBeforeTls, Check::EhloXclient, Check::UsersVrfy, Check::UsersExpn, Check::CertName] {
        assert_eq!(severity(v, none), None, "{none:?}: {v:#?}");
    }
    assert!(finding(v, Check::TlsVersions).title.starts_with("TLS: TLS 1.3"));
    assert_eq!(severity(v, Check::CertSelfSigned), Some(Severity::Low), "the test certificate signs itself");
    assert_eq!(severity(v, Check::SyncEarlyTalker), Some(Severity::Low), "served under the default monitor");
    assert_eq!(v.worst, Some(Severity::Low), "{v:#?}");
    proxy.stop().await;
}

/// A long legal banner with lines over 512 octets, what doorman is put in
/// front of an MTA to fix: the direct view flags it, and through doorman
/// clients get `220 mx.example.test ESMTP` and sessions work (doorman reads
/// the upstream's greeting with lines of up to 4096 octets and replaces it).
#[tokio::test]
async fn doorman_fronts_a_greeting_with_overlong_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(&dir, &legal_banner().addr());
    let (_, stdout, _) = command(&[&legal_banner().addr(), "--config", &config, "--format", "json"]).await;
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(ids(&report["direct"]).contains(&"banner.line_too_long".to_owned()));
    let doorman = &report["doorman"];
    assert!(doorman["error"].is_null(), "{doorman:#}");
    let found = ids(doorman);
    assert!(!found.iter().any(|id| id.starts_with("banner.")), "{found:?}");
    let said = |v: &Value| v.as_str().is_some_and(|t| t.contains("421 4.3.0"));
    assert!(!doorman["findings"].as_array().unwrap().iter().any(|f| said(&f["evidence"])), "{doorman:#}");
}
