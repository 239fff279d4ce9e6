//! The compose topology, run for real: the programs of
//! docker/docker-compose.yml (doorman, Postfix, clamd with the project's
//! test signatures, spamd with Debian's rules) as processes on loopback,
//! doorman with the very configuration compose mounts
//! (docker/compose/doorman.yaml), only its addresses moved to loopback ports
//! (and its certificate, spool directory and resolver to test ones). Over
//! STARTTLS, clean mail is delivered with the scan headers and EICAR and
//! GTUBE get `554 5.7.1` (docs/scanning.md); relaying is refused; and the
//! compose healthchecks of doorman and spamd pass against the running
//! programs. The test Postfix is configured like the compose one where it
//! matters: XCLIENT authorized for doorman's address, which is not in
//! `mynetworks` (tests/support/postfix.sh; docker/postfix/main.cf).

use std::path::Path;
use std::time::{Duration, Instant};

use doorman::Config;
use doorman::wire::Reply;
use serde_json::{Value, json};

use super::support::client::{Client, assert_code};
use super::support::content::{eicar, gtube};
use super::support::http;
use super::support::postfix::postfix;
use super::support::proxy::Proxy;
use super::support::scanners::{clamd, spamd};
use super::support::tap::Tap;
use super::support::tls::TestCert;
use super::support::{PATIENCE, message, rcpt, repo};
use super::tools::{list_at, str_at, yaml};

/// A compose doorman configuration (docker/compose/doorman*.yaml) with its
/// addresses on loopback: the listener and admin endpoint on free ports,
/// the upstream `upstream`, the scanner pools the test clamd and spamd; the
/// certificate, the spool directory and the resolver (a closed port:
/// loopback clients need none) are the test's. Nothing else changes.
pub(crate) fn compose_config_on_loopback(compose: &Value, upstream: &str, cert: &TestCert, spool: &Path) -> Config {
    let mut v = compose.clone();
    for listener in v["listen"].as_array_mut().expect("listen") {
        listener["address"] = json!("127.0.0.1:0");
    }
    v["admin"]["address"] = json!("127.0.0.1:0");
    v["upstream"]["address"] = json!(upstream);
    v["scanners"]["clamav"]["addresses"] = json!([clamd().addr()]);
    v["scanners"]["spamassassin"]["addresses"] = json!([spamd().addr()]);
    v["tls"] = json!({ "certificate": cert.cert, "key": cert.key });
    v["data"]["spool_dir"] = json!(spool);
    v["dns"] = json!({ "nameservers": ["127.0.0.1:9"] });
    // JSON is YAML: the configuration loads through the same path as a file.
    Config::from_yaml(&v.to_string(), Path::new("a compose doorman configuration (on loopback)"))
        .unwrap_or_else(|e| panic!("{e}\n{v:#}"))
}

/// One transaction; returns the reply to the final dot.
pub(crate) async fn send(c: &mut Client, to: &str, body: &str) -> Reply {
    assert_code(&c.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    c.send(format!("{body}.\r\n").as_bytes()).await;
    c.reply().await
}

/// Runs a compose healthcheck's command (after `CMD`) here; fails the test
/// unless it exits 0.
async fn healthcheck(argv: &[String]) {
    let out = tokio::process::Command::new(&argv[0]).args(&argv[1..]).output().await.expect("run the healthcheck");
    assert!(
        out.status.success(),
        "healthcheck {argv:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A service's healthcheck command in docker/docker-compose.yml (the file
/// itself, not rendered: this test needs no compose tool).
fn compose_healthcheck(compose_file: &Value, service: &str) -> Vec<String> {
    let test = list_at(compose_file, &format!("/services/{service}/healthcheck/test"));
    assert_eq!(test.first().and_then(Value::as_str), Some("CMD"), "{service}: {test:?}");
    test[1..].iter().map(|a| a.as_str().expect("a string").to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_topology_delivers_clean_mail_and_refuses_eicar_and_gtube() {
    let path = repo().join("docker/compose/doorman.yaml");
    let compose = yaml(&std::fs::read_to_string(&path).expect("docker/compose/doorman.yaml"), "doorman.yaml");
    // The shape compose runs: XCLIENT toward the MTA, both scanners.
    assert_eq!(str_at(&compose, "/upstream/client_identity", "doorman.yaml"), "xclient");
    let cert = TestCert::new();
    let spool = tempfile::tempdir().expect("spool dir");
    // A recording tap before Postfix shows what reached it.
    let tap = Tap::start(&postfix().addr()).await;
    let proxy = Proxy::start_with(compose_config_on_loopback(&compose, &tap.addr(), &cert, spool.path())).await;
    ready_and_healthy(&compose, proxy.admin.expect("doorman.yaml enables the admin endpoint")).await;

    let (mut c, greeting) = Client::connect(proxy.addr).await;
    assert_eq!(greeting.to_string().trim_end(), "220 mx.example.test ESMTP");
    let ehlo = c.cmd("EHLO client.example.net").await;
    assert!(ehlo.lines().iter().any(|l| l == "STARTTLS"), "no STARTTLS with the compose certificate: {ehlo}");
    assert_code(&c.cmd("STARTTLS").await, 220);
    let (connector, name) = cert.connector();
    c.start_tls(&connector, name).await;
    assert_code(&c.cmd("EHLO client.example.net").await, 250);

    let clean = rcpt("compose-clean");
    let body = message(&clean, "clean", &["Hi Bob,", "", "the minutes of Tuesday's meeting are below.", "", "Alice"]);
    assert_code(&send(&mut c, &clean, &body).await, 250);
    let virus = rcpt("compose-eicar");
    let r = send(&mut c, &virus, &message(&virus, "eicar", &[&eicar()])).await;
    assert_eq!((r.code(), r.enhanced_code()), (554, Some("5.7.1")), "{r}");
    let spam = rcpt("compose-gtube");
    let r = send(&mut c, &spam, &message(&spam, "gtube", &[&gtube()])).await;
    assert_eq!((r.code(), r.enhanced_code()), (554, Some("5.7.1")), "{r}");
    // Postfix judges the real client (XCLIENT), not doorman's address: no relay.
    assert_code(&c.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    let r = c.cmd("RCPT TO:<bob@elsewhere.example>").await;
    assert_eq!(r.code(), 554, "relaying through the compose doorman: {r}");
    assert_code(&c.cmd("QUIT").await, 221);

    let delivered = postfix().wait_for(&clean, 1).await;
    let text = String::from_utf8_lossy(&delivered[0]);
    assert!(text.contains("X-Virus-Scanned: clamav (doorman)") && text.contains("X-Spam-Status: No"), "{text}");
    proxy.stop().await;
    tap.wait_all_closed().await;
    let sent = tap.sent_text();
    for refused in ["Subject: eicar", "Subject: gtube"] {
        assert!(!sent.contains(refused), "{refused:?} reached Postfix");
    }
}

/// `/readyz` says ready (Postfix greets, clamd answers PING, spamd accepts),
/// and the compose healthcheck commands of doorman and spamd pass, pointed
/// at the loopback ports: doorman's asks the admin address doorman.yaml
/// sets; spamd's is `spamc -K`.
async fn ready_and_healthy(compose: &Value, admin: std::net::SocketAddr) {
    let start = Instant::now();
    loop {
        let (status, body) = http::get(admin, "/readyz").await;
        if status == 200 {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "/readyz: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let compose_file = yaml(
        &std::fs::read_to_string(repo().join("docker/docker-compose.yml")).expect("docker-compose.yml"),
        "docker-compose.yml",
    );
    let configured_admin = str_at(compose, "/admin/address", "doorman.yaml").replace(':', "/");
    let doorman_check: Vec<String> = compose_healthcheck(&compose_file, "doorman")
        .into_iter()
        .map(|a| {
            assert!(
                !a.contains("/dev/tcp/") || a.contains(&configured_admin),
                "healthcheck not on {configured_admin}: {a}"
            );
            a.replace(&configured_admin, &format!("{}/{}", admin.ip(), admin.port()))
        })
        .collect();
    healthcheck(&doorman_check).await;
    let mut spamd_check = compose_healthcheck(&compose_file, "spamd");
    spamd_check.extend(["-d".into(), "127.0.0.1".into(), "-p".into(), spamd().port.to_string()]);
    healthcheck(&spamd_check).await;
}
