//! The senders a mail exchanger really sees, each delivering through doorman
//! to the test Postfix: Postfix's own smtp client (a second, sending
//! Postfix), Exim's smtp transport and msmtp, which puts a UTF-8 address in
//! MAIL and RCPT without the SMTPUTF8 parameter. Each message must arrive
//! exactly once, for the right recipient, with doorman's Received header
//! naming the sender's HELO.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::support::postfix::{postfix, sender};
use crate::support::proxy::Proxy;
use crate::support::{PATIENCE, message, rcpt};

/// Waits (at most [`PATIENCE`]) until the test Postfix delivered a message
/// to `to`; asserts it is the only one and doorman relayed it for `helo`.
/// `sender_log` explains a failure from the sender's side.
async fn arrives_once(to: &str, helo: &str, sender_log: impl Fn() -> String) -> String {
    let start = Instant::now();
    while postfix().messages_for(to).is_empty() {
        assert!(
            start.elapsed() < PATIENCE,
            "nothing delivered to {to} after {PATIENCE:?}\nsender's log:\n{}\nbackend's log:\n{}",
            sender_log(),
            postfix().log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = postfix().messages_for(to);
    assert_eq!(got.len(), 1, "{to} got {} messages", got.len());
    let text = String::from_utf8_lossy(&got[0]).into_owned();
    let received = format!("Received: from {helo} ");
    assert!(text.contains(&received), "no {received:?}:\n{text}");
    assert!(text.contains("by mx.example.test (doorman) with ESMTP"), "not relayed by doorman:\n{text}");
    text
}

/// Postfix's smtp client: a second Postfix with `relayhost` = doorman, the
/// message injected with its `sendmail`, so pickup, cleanup and qmgr hand
/// it to smtp(8), which delivers it through doorman (PIPELINING, its own
/// EHLO name) to the test Postfix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_smtp_client_relays_through_doorman() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let relay = sender(proxy.addr);
    let to = rcpt("postfix-sender");
    let body = message(&to, "from Postfix", &["Relayed by a second Postfix's smtp client."]);
    let (ok, out) = relay.sendmail("alice@sender.example", &to, &body).await;
    assert!(ok, "sendmail failed: {out}");
    let text = arrives_once(&to, "mta.sender.example", || relay.log_tail()).await;
    assert!(text.contains("Relayed by a second Postfix's smtp client."), "{text}");
    let sent = format!("to=<{to}>, relay=127.0.0.1[127.0.0.1]:{}", proxy.addr.port());
    let log = relay.wait_log(&sent).await;
    assert!(log.lines().any(|l| l.contains(&sent) && l.contains("status=sent")), "{log}");
    // The relay oracle counts the 250 this sender got from doorman.
    crate::support::oracle::client_accepted(proxy.addr);
}

/// An Exim that only sends: no daemon, one manualroute router sending
/// everything to doorman at `relay` by the smtp transport. doorman listens
/// on loopback, so the router and transport must be told that a local
/// address is fine (`self = send`, `allow_localhost`).
fn exim_sender_config(state: &Path, exim: &Path, relay: SocketAddr) -> String {
    let s = state.display();
    format!(
        "exim_path = {exim}
keep_environment =
primary_hostname = mta.exim-sender.example
qualify_domain = sender.example
spool_directory = {s}/spool
log_file_path = {s}/log/%slog
host_lookup =
rfc1413_hosts =

begin routers
doorman:
  driver = manualroute
  route_list = * {ip}
  self = send
  transport = doorman_smtp

begin transports
doorman_smtp:
  driver = smtp
  port = {port}
  allow_localhost
  hosts_try_fastopen =

begin retry
* * F,1h,10m
",
        exim = exim.display(),
        ip = relay.ip(),
        port = relay.port()
    )
}

/// Exim's main, reject and panic logs under `state`.
fn exim_log(state: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(state.join("log").join(name)).unwrap_or_default();
    read("mainlog") + &read("rejectlog") + &read("paniclog")
}

/// Runs `exim -C conf -odi -oi -f from to` with `message` on stdin.
async fn exim_send(exim: &Path, conf: &Path, from: &str, to: &str, message: &str) -> (bool, String) {
    let mut child = tokio::process::Command::new(exim)
        .arg("-C")
        .arg(conf)
        .args(["-odi", "-oi", "-f", from, "--", to])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run exim");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(message.as_bytes()).await.expect("write the message to exim");
    drop(stdin);
    let out = child.wait_with_output().await.expect("exim");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Exim's smtp transport: a message submitted on the command line and
/// delivered at once (`-odi`) by a manualroute router to doorman.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exim_smtp_transport_relays_through_doorman() {
    let exim = crate::support::exim_binary();
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path();
    for sub in ["spool", "log"] {
        std::fs::create_dir(state.join(sub)).expect("mkdir");
    }
    // Run with -C, Exim drops root for Debian-exim: that user writes the
    // spool and the log; the configuration stays root's.
    let chown = std::process::Command::new("chown")
        .arg("Debian-exim:Debian-exim")
        .arg(state.join("spool"))
        .arg(state.join("log"))
        .status();
    assert!(chown.is_ok_and(|s| s.success()), "chown for Exim");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(state, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let conf = state.join("exim4.conf");
    std::fs::write(&conf, exim_sender_config(state, &exim, proxy.addr)).expect("write exim4.conf");

    let to = rcpt("exim-sender");
    let body = message(&to, "from Exim", &["Sent by Exim's smtp transport."]);
    let (ok, out) = exim_send(&exim, &conf, "alice@sender.example", &to, &body).await;
    assert!(ok, "exim failed: {out}\n{}", exim_log(state));
    let text = arrives_once(&to, "mta.exim-sender.example", || exim_log(state)).await;
    assert!(text.contains("Sent by Exim's smtp transport."), "{text}");
    let log = exim_log(state);
    assert!(log.contains(&format!("=> {to} R=doorman T=doorman_smtp")), "Exim did not deliver it:\n{log}");
    crate::support::oracle::client_accepted(proxy.addr);
}

/// msmtp 1.8.23 (Debian 12) from `alice@sender.example` to `to` through
/// doorman at `addr`, with `--debug`: returns (success, the dialogue).
async fn msmtp(addr: SocketAddr, to: &str, message: &str) -> (bool, String) {
    let mut child = tokio::process::Command::new("msmtp")
        .arg(format!("--host={}", addr.ip()))
        .arg(format!("--port={}", addr.port()))
        .args(["--domain=client.example.net", "--auth=off", "--tls=off", "--from=alice@sender.example"])
        .args(["--debug", "--", to])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("msmtp is not installed: run tests/support/install-deps.sh");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(message.as_bytes()).await.expect("write the message to msmtp");
    drop(stdin);
    let out = child.wait_with_output().await.expect("msmtp");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        crate::support::oracle::client_accepted(addr);
    }
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msmtp_delivers() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let to = rcpt("msmtp");
    let body = message(&to, "from msmtp", &["Sent by msmtp."]);
    let (ok, out) = msmtp(proxy.addr, &to, &body).await;
    assert!(ok, "msmtp failed:\n{out}");
    let text = arrives_once(&to, "client.example.net", || out.clone()).await;
    assert!(text.contains("Sent by msmtp."), "{text}");
}

/// msmtp sends a UTF-8 local part without SMTPUTF8 (RFC 6531 3.5 says it
/// must not); by default (`commands.utf8_without_smtputf8: upstream`)
/// doorman relays it because the test Postfix offers SMTPUTF8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msmtp_utf8_address_without_smtputf8_is_relayed() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let to = rcpt("m\u{fc}nchen");
    let body = message(&to, "from msmtp, UTF-8", &["Sent by msmtp to a UTF-8 address."]);
    let (ok, out) = msmtp(proxy.addr, &to, &body).await;
    assert!(ok, "msmtp failed:\n{out}");
    let rcpt_line = format!("--> RCPT TO:<{to}>");
    assert!(out.lines().any(|l| l.trim_end() == rcpt_line), "msmtp did not send {rcpt_line:?}:\n{out}");
    let mail = out.lines().find(|l| l.starts_with("--> MAIL FROM:")).unwrap_or_default();
    assert!(!mail.contains("SMTPUTF8"), "msmtp asked for SMTPUTF8: {mail}");
    let text = arrives_once(&to, "client.example.net", || out.clone()).await;
    assert!(text.contains("Sent by msmtp to a UTF-8 address."), "{text}");
}

/// With `commands.utf8_without_smtputf8: reject` the same message is
/// refused with `553 5.6.7`, and msmtp reports the failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msmtp_utf8_address_without_smtputf8_can_be_refused() {
    let proxy = Proxy::start(&postfix().addr(), "commands:\n  utf8_without_smtputf8: reject").await;
    let to = rcpt("m\u{fc}nchen");
    let body = message(&to, "from msmtp, UTF-8", &["Refused."]);
    let (ok, out) = msmtp(proxy.addr, &to, &body).await;
    assert!(!ok, "msmtp succeeded:\n{out}");
    assert!(out.contains("<-- 553 5.6.7"), "no 553 5.6.7:\n{out}");
    assert!(out.contains("msmtp: recipient address m\u{fc}nchen-"), "{out}");
}
