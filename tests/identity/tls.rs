//! TLS toward clients (STARTTLS, implicit, required), STARTTLS injection,
//! AUTH over TLS without a trace in the logs, and STARTTLS toward the
//! upstream (a second doorman with TLS stands in as a TLS-speaking upstream;
//! the response-injection case uses the scripted fake, fault injection only).

use std::path::Path;

use crate::support::binary::Binary;
use crate::support::client::{Client, assert_code, swaks};
use crate::support::postfix::trap;
use crate::support::proxy::{Proxy, config_yaml};
use crate::support::tls::TestCert;
use crate::support::{message, rcpt};

pub(crate) async fn proxy_with(cert: &TestCert, listen_extra: &str, extra: &str) -> Proxy {
    let yaml = config_yaml(&trap().addr(), &format!("{}{extra}", cert.config()))
        .replace("  - address: 127.0.0.1:0", &format!("  - address: 127.0.0.1:0{listen_extra}"))
        .replace("connect_timeout: 2s", "connect_timeout: 2s\n  client_identity: xclient");
    Proxy::start_with(doorman::Config::from_yaml(&yaml, Path::new("t.yaml")).expect("config")).await
}

/// CVE-2011-0411: `STARTTLS\r\nRSET\r\n` in one packet. The RSET must never
/// be answered after the handshake; the session is reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_plaintext_after_starttls_is_discarded() {
    let cert = TestCert::new();
    let proxy = proxy_with(&cert, "", "").await;
    let (connector, name) = cert.connector();
    let mut c = Client::connect_from(proxy.addr, "127.0.0.2").await;
    assert_code(&c.reply().await, 220);
    let ehlo = c.cmd("EHLO client.example.net").await;
    assert!(ehlo.lines().contains(&"STARTTLS".to_owned()), "{ehlo}");
    assert!(!ehlo.lines().iter().any(|l| l.starts_with("AUTH")), "AUTH offered before TLS: {ehlo}");
    c.send(b"STARTTLS\r\nRSET\r\n").await;
    assert_eq!(c.reply().await.to_bytes().as_ref(), b"220 2.0.0 Ready to start TLS\r\n");
    c.start_tls(&connector, name).await;
    // First reply after the handshake answers HELP, not the injected RSET.
    assert_code(&c.cmd("HELP").await, 214);
    // The state was reset: MAIL needs a new EHLO.
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 503);
    let ehlo = c.cmd("EHLO client.example.net").await;
    assert!(!ehlo.lines().contains(&"STARTTLS".to_owned()), "STARTTLS offered again: {ehlo}");
    assert!(ehlo.lines().iter().any(|l| l.starts_with("AUTH")), "AUTH not offered after TLS: {ehlo}");
    assert_eq!(c.cmd("STARTTLS").await.code(), 554);
    let to = rcpt("starttls");
    assert_code(&c.cmd("MAIL FROM:<a@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{to}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    c.send(format!("{}.\r\n", message(&to, "tls", &["over TLS"])).as_bytes()).await;
    assert_code(&c.reply().await, 250);
    let got = trap().wait_for(&to, 1).await;
    assert!(String::from_utf8_lossy(&got[0]).contains("[127.0.0.2]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_tls_refuses_mail_in_plaintext() {
    let cert = TestCert::new();
    let proxy = proxy_with(&cert, "\n    tls: required", "").await;
    let (mut c, _) = Client::connect(proxy.addr).await;
    c.cmd("EHLO client.example.net").await;
    assert_eq!(
        c.cmd("MAIL FROM:<a@sender.example>").await.to_bytes().as_ref(),
        b"530 5.7.0 Must issue a STARTTLS command first\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_listener() {
    let cert = TestCert::new();
    let proxy = proxy_with(&cert, "\n    tls: implicit", "").await;
    let (connector, name) = cert.connector();
    let mut c = Client::connect_raw(proxy.addr).await;
    c.start_tls(&connector, name).await;
    assert_eq!(c.reply().await.to_bytes().as_ref(), b"220 mx.example.test ESMTP\r\n");
    let ehlo = c.cmd("EHLO client.example.net").await;
    assert!(!ehlo.lines().contains(&"STARTTLS".to_owned()), "{ehlo}");
    // swaks with implicit TLS (--tlsc), as users on port 465 do.
    let to = rcpt("implicit");
    let (ok, out) =
        swaks(proxy.addr, &["--tlsc", "--to", &to, "--from", "a@sender.example", "--helo", "c.example.net"]).await;
    assert!(ok, "{out}");
    trap().wait_for(&to, 1).await;
}

/// A load balancer's PROXY header and the client's ClientHello in one TCP
/// segment: the handshake must see the ClientHello (it used to be dropped
/// with the bytes read past the header, and the handshake stalled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_header_and_client_hello_in_one_segment() {
    use tokio::io::AsyncReadExt;
    let cert = TestCert::new();
    let listen = "\n    tls: implicit\n    proxy_protocol: true\n    trusted_proxies: [127.0.0.1/32]";
    let proxy = proxy_with(&cert, listen, "").await;
    let (connector, name) = cert.connector();
    let tcp = tokio::net::TcpStream::connect(proxy.addr).await.expect("connect");
    let prefixed = crate::support::tls::Prefixed::new(tcp, b"PROXY TCP4 127.0.0.1 127.0.0.1 40001 465\r\n");
    let handshake = tokio::time::timeout(crate::support::PATIENCE, connector.connect(name, prefixed)).await;
    let mut tls = handshake.expect("the handshake stalled").expect("TLS handshake");
    let mut greeting = vec![0u8; 256];
    let n = tls.read(&mut greeting).await.expect("greeting");
    assert_eq!(&greeting[..n], b"220 mx.example.test ESMTP\r\n");
}

/// swaks STARTTLS with AUTH: the credentials pass to Postfix and never
/// appear in doorman's log, even at trace level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_over_starttls_is_relayed_and_never_logged() {
    let cert = TestCert::new();
    let extra = format!("{}log:\n  level: trace\n", cert.config());
    let d = Binary::start(&trap().addr(), &extra).await;
    let to = rcpt("auth-tls");
    let (ok, out) = swaks(
        d.addr,
        &[
            "--tls",
            "--to",
            &to,
            "--from",
            "alice@example.test",
            "--auth",
            "LOGIN",
            "--auth-user",
            "alice@example.test",
            "--auth-password",
            "s3cret-Pa55",
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("235 2.7.0 Authentication successful"), "{out}");
    trap().wait_for(&to, 1).await;
    let log = d.wait_log("session closed").await;
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "the log is not at trace level:\n{log}");
    for secret in ["s3cret-Pa55", "czNjcmV0LVBhNTU=", "YWxpY2VAZXhhbXBsZS50ZXN0"] {
        assert!(!log.contains(secret), "{secret:?} leaked into the log");
    }
}

/// STARTTLS toward the upstream, verified against the upstream's certificate:
/// doorman A (upstream.tls: required) in front of doorman B (STARTTLS) in
/// front of Postfix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_toward_the_upstream() {
    let cert = TestCert::new();
    let b = proxy_with(&cert, "", "auth:\n  allow_plaintext: false\n").await;
    let yaml = config_yaml(&b.addr.to_string(), "").replace(
        "connect_timeout: 2s",
        &format!(
            "connect_timeout: 2s\n  tls: required\n  tls_ca_file: {}\n  tls_name: mx.example.test",
            cert.cert.display()
        ),
    );
    let a = Proxy::start_with(doorman::Config::from_yaml(&yaml, Path::new("t.yaml")).expect("config")).await;
    let to = rcpt("upstream-tls");
    let (ok, out) = swaks(a.addr, &["--to", &to, "--from", "a@sender.example", "--helo", "c.example.net"]).await;
    assert!(ok, "{out}");
    trap().wait_for(&to, 1).await;

    // The same, but the name does not match the certificate: no relay, a 421.
    let yaml = yaml.replace("tls_name: mx.example.test", "tls_name: other.example.test");
    let a = Proxy::start_with(doorman::Config::from_yaml(&yaml, Path::new("t.yaml")).expect("config")).await;
    let (mut c, _) = Client::connect(a.addr).await;
    let refused = c.until_refused(&["EHLO c.example.net", "MAIL FROM:<a@sender.example>"]).await;
    assert_code(&refused, 421);
}

/// Python's smtplib with STARTTLS, from 127.0.0.2: delivered locally over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_starttls() {
    let cert = TestCert::new();
    let proxy = proxy_with(&cert, "", "").await;
    let to = rcpt("smtplib-tls");
    let body = message(&to, "smtplib-tls", &["over TLS from Python"]);
    let (ok, out) = crate::support::client::smtplib_send_from(
        proxy.addr,
        "127.0.0.2",
        Some(&cert.cert),
        "alice@sender.example",
        &to,
        &body,
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("tls: True"), "{out}");
    let got = trap().wait_for(&to, 1).await;
    assert!(String::from_utf8_lossy(&got[0]).contains("[127.0.0.2]"));
}

/// SIGHUP re-reads the certificate: new sessions get the new one, a session
/// already in TLS keeps going.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_reload_on_sighup_without_dropping_sessions() {
    let old = TestCert::new();
    let d = Binary::start(&trap().addr(), &old.config()).await;
    let (old_connector, name) = old.connector();
    let (mut open, _) = Client::connect(d.addr).await;
    open.cmd("EHLO client.example.net").await;
    assert_code(&open.cmd("STARTTLS").await, 220);
    open.start_tls(&old_connector, name.clone()).await;
    assert_code(&open.cmd("EHLO client.example.net").await, 250);

    let new = TestCert::new();
    std::fs::copy(&new.cert, &old.cert).expect("replace cert");
    std::fs::copy(&new.key, &old.key).expect("replace key");
    d.signal("HUP");
    let (new_connector, _) = new.connector();
    let mut switched = false;
    let start = std::time::Instant::now();
    while start.elapsed() < crate::support::PATIENCE {
        let (mut c, _) = Client::connect(d.addr).await;
        c.cmd("EHLO client.example.net").await;
        assert_code(&c.cmd("STARTTLS").await, 220);
        let tcp = c.into_plain();
        if new_connector.connect(name.clone(), tcp).await.is_ok() {
            switched = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(switched, "new sessions never got the new certificate");
    // The session opened before the reload is still alive.
    assert_code(&open.cmd("NOOP").await, 250);
}
