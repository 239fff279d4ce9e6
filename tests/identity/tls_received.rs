//! ESMTPS through doorman: XCLIENT has no attribute for TLS, so Postfix
//! writes `with ESMTP` for every client doorman passes on. doorman's own
//! `Received:` header records a TLS client's session (`with ESMTPS`, the
//! version and the cipher); a plaintext session gets no TLS text.

use super::tls::proxy_with;
use crate::support::client::{Client, assert_code};
use crate::support::postfix::trap;
use crate::support::proxy::Proxy;
use crate::support::rcpt;
use crate::support::tls::TestCert;

/// The `Received:` headers of a delivered message, each unfolded on one line.
fn received(delivered: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(delivered);
    let head = text.split("\n\n").next().unwrap_or_default();
    let unfolded = head.replace("\n\t", " ").replace("\n ", " ");
    unfolded.lines().filter(|l| l.starts_with("Received: ")).map(str::to_owned).collect()
}

/// A message from 127.0.0.2 over STARTTLS or not; its `Received:` headers.
async fn deliver(proxy: &Proxy, cert: &TestCert, tls: bool) -> Vec<String> {
    let mut c = Client::connect_from(proxy.addr, "127.0.0.2").await;
    assert_code(&c.reply().await, 220);
    if tls {
        assert_code(&c.cmd("EHLO mail.client.example").await, 250);
        assert_code(&c.cmd("STARTTLS").await, 220);
        let (connector, name) = cert.connector();
        c.start_tls(&connector, name).await;
    }
    let to = rcpt(if tls { "esmtps" } else { "esmtp" });
    c.deliver(&to, "received").await;
    received(&trap().wait_for(&to, 1).await[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_is_recorded_as_esmtps_by_doormans_received_header() {
    let cert = TestCert::new();
    let proxy = proxy_with(&cert, "", "").await;
    let headers = deliver(&proxy, &cert, true).await;
    let ours: Vec<_> = headers.iter().filter(|h| h.contains("(doorman)")).collect();
    assert_eq!(ours.len(), 1, "{headers:#?}");
    let ours = ours[0];
    assert!(ours.contains(" with ESMTPS id "), "{ours}");
    assert!(ours.contains("(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"), "{ours}");
    assert!(ours.contains("key-exchange X25519MLKEM768)"), "{ours}");
    assert!(ours.starts_with("Received: from mail.client.example (") && ours.contains("[127.0.0.2])"), "{ours}");
    // Postfix's own header above it: the real client (XCLIENT), but ESMTP.
    let postfix = headers.iter().find(|h| h.contains("(Postfix)")).expect("Postfix's Received header");
    assert!(postfix.contains("[127.0.0.2]") && postfix.contains(" with ESMTP id "), "{postfix}");
}

/// Plaintext: under XCLIENT no header of doorman's and no TLS text; under
/// `client_identity: none` doorman's header says ESMTP, no TLS text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_client_has_esmtp_and_no_tls_text() {
    let cert = TestCert::new();
    let proxy = proxy_with(&cert, "", "").await;
    let headers = deliver(&proxy, &cert, false).await;
    assert!(headers.iter().all(|h| !h.contains("(doorman)")), "{headers:#?}");
    assert!(headers.iter().any(|h| h.contains("(Postfix)") && h.contains(" with ESMTP id ")), "{headers:#?}");
    for h in &headers {
        assert!(!h.contains("TLSv1.") && !h.contains("cipher") && !h.contains("ESMTPS"), "{h}");
    }

    let yaml = crate::support::proxy::config_yaml(&trap().addr(), &cert.config());
    let none =
        Proxy::start_with(doorman::Config::from_yaml(&yaml, std::path::Path::new("t.yaml")).expect("config")).await;
    let headers = deliver(&none, &cert, false).await;
    let ours = headers.iter().find(|h| h.contains("(doorman)")).expect("doorman's Received header");
    assert!(ours.contains(" with ESMTP id ") && ours.contains("[127.0.0.2]"), "{ours}");
    for h in &headers {
        assert!(!h.contains("TLSv1.") && !h.contains("cipher") && !h.contains("ESMTPS"), "{h}");
    }
}
