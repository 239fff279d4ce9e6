//! What doorman's TLS offers clients (docs/security.md, "TLS toward
//! clients"): X25519MLKEM768 first with the classical groups kept, the
//! server's cipher-suite order, and nothing before TLS 1.2, no CBC, no RSA
//! key exchange. The modern clients are rustls in-process (the test
//! machine's OpenSSL 3.0 has no ML-KEM); the old ones are `openssl s_client`
//! offering what they offer.

use tokio_rustls::rustls::crypto::{CryptoProvider, SupportedKxGroup, aws_lc_rs};
use tokio_rustls::rustls::{CipherSuite, NamedGroup, ProtocolVersion, SupportedProtocolVersion, version};

use super::tls::proxy_with;
use crate::support::client::{Client, assert_code};
use crate::support::proxy::Proxy;
use crate::support::tls::{TestCert, server_name};

use aws_lc_rs::kx_group::{SECP256R1, SECP384R1, X25519, X25519MLKEM768};

const TLS13: &[&SupportedProtocolVersion] = &[&version::TLS13];
const TLS12: &[&SupportedProtocolVersion] = &[&version::TLS12];

/// A client provider with only these groups and, if any are named, only
/// these suites in this order.
fn offering(groups: &[&'static dyn SupportedKxGroup], suites: &[CipherSuite]) -> CryptoProvider {
    let base = aws_lc_rs::default_provider();
    let mut cipher_suites = base.cipher_suites.clone();
    if !suites.is_empty() {
        cipher_suites = suites
            .iter()
            .map(|want| *aws_lc_rs::ALL_CIPHER_SUITES.iter().find(|s| s.suite() == *want).expect("a known suite"))
            .collect();
    }
    CryptoProvider { kx_groups: groups.to_vec(), cipher_suites, ..base }
}

/// EHLO, STARTTLS and a handshake offering only `provider` and `versions`
/// (the handshake failing fails the test), then EHLO over TLS. The group,
/// suite and version negotiated.
async fn negotiate(
    proxy: &Proxy,
    cert: &TestCert,
    provider: CryptoProvider,
    versions: &[&'static SupportedProtocolVersion],
) -> (NamedGroup, CipherSuite, ProtocolVersion) {
    let mut c = Client::connect_from(proxy.addr, "127.0.0.2").await;
    assert_code(&c.reply().await, 220);
    assert_code(&c.cmd("EHLO client.example.net").await, 250);
    assert_code(&c.cmd("STARTTLS").await, 220);
    c.start_tls(&cert.connector_with(provider, versions), server_name()).await;
    assert_code(&c.cmd("EHLO client.example.net").await, 250);
    let tls = c.tls().expect("TLS");
    let group = tls.negotiated_key_exchange_group().expect("a group").name();
    let suite = tls.negotiated_cipher_suite().expect("a suite").suite();
    (group, suite, tls.protocol_version().expect("a version"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_offering_only_x25519mlkem768_gets_it() {
    let cert = TestCert::new();
    let proxy = proxy_with(&cert, "", "").await;
    let (group, _, version) = negotiate(&proxy, &cert, offering(&[X25519MLKEM768], &[]), TLS13).await;
    assert_eq!((group, version), (NamedGroup::X25519MLKEM768, ProtocolVersion::TLSv1_3));
}

/// A client offering the hybrid and the classical groups (hybrid first, as
/// browsers and OpenSSL 3.5 do) gets the hybrid; each classical group alone
/// still works; rustls follows the client's order among groups, so a client
/// listing X25519 first gets X25519; TLS 1.2 has no hybrid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x25519mlkem768_is_preferred_and_the_classical_groups_are_kept() {
    let cert = TestCert::new();
    let proxy = proxy_with(&cert, "", "").await;
    let both = offering(&[X25519MLKEM768, X25519, SECP256R1, SECP384R1], &[]);
    assert_eq!(negotiate(&proxy, &cert, both, TLS13).await.0, NamedGroup::X25519MLKEM768);
    let doormans_own = std::sync::Arc::unwrap_or_clone(doorman::tls::provider());
    assert_eq!(negotiate(&proxy, &cert, doormans_own, TLS13).await.0, NamedGroup::X25519MLKEM768);
    for classical in [X25519, SECP256R1, SECP384R1] {
        let (group, _, _) = negotiate(&proxy, &cert, offering(&[classical], &[]), TLS13).await;
        assert_eq!(group, classical.name());
    }
    let classical_first = offering(&[X25519, X25519MLKEM768], &[]);
    assert_eq!(negotiate(&proxy, &cert, classical_first, TLS13).await.0, NamedGroup::X25519);
    let tls12 = offering(&[X25519MLKEM768, X25519], &[]);
    assert_eq!(negotiate(&proxy, &cert, tls12, TLS12).await, (NamedGroup::X25519, suite12(), ProtocolVersion::TLSv1_2));
}

fn suite12() -> CipherSuite {
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
}

/// The client lists ChaCha20 first; doorman picks its own first choice
/// among what the client offers (testssl: "server cipher order").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_cipher_order_wins() {
    let cert = TestCert::new();
    let proxy = proxy_with(&cert, "", "").await;
    let groups = [X25519MLKEM768, X25519];
    let chacha_first = [CipherSuite::TLS13_CHACHA20_POLY1305_SHA256, CipherSuite::TLS13_AES_256_GCM_SHA384];
    let (_, suite, _) = negotiate(&proxy, &cert, offering(&groups, &chacha_first), TLS13).await;
    assert_eq!(suite, CipherSuite::TLS13_AES_256_GCM_SHA384);
    let chacha_first = [CipherSuite::TLS13_CHACHA20_POLY1305_SHA256, CipherSuite::TLS13_AES_128_GCM_SHA256];
    let (_, suite, _) = negotiate(&proxy, &cert, offering(&groups, &chacha_first), TLS13).await;
    assert_eq!(suite, CipherSuite::TLS13_AES_128_GCM_SHA256);
    let chacha_first = [
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ];
    let (_, suite, _) = negotiate(&proxy, &cert, offering(&groups, &chacha_first), TLS12).await;
    assert_eq!(suite, suite12());
}

/// `openssl s_client -starttls smtp` with `args` (security level 0 in
/// `-cipher`, so the client itself declines nothing): the suite negotiated,
/// or the transcript of the failure.
async fn openssl(proxy: &Proxy, args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new("openssl")
        .args(["s_client", "-brief", "-starttls", "smtp", "-connect", &proxy.addr.to_string()])
        .args(args)
        .env("OPENSSL_CONF", "/dev/null")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("openssl is not installed: run tests/support/install-deps.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let suite = text.lines().find_map(|l| l.strip_prefix("Ciphersuite: ")).map(str::to_owned);
    suite.ok_or(text)
}

/// What old clients offer, refused by doorman itself (a handshake alert
/// from the server, not the local OpenSSL declining to offer it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_before_tls_1_2_no_cbc_no_rsa_key_exchange() {
    let cert = TestCert::rsa();
    let proxy = proxy_with(&cert, "", "").await;
    // The harness: a TLS 1.2 client with every suite gets doorman's first.
    let any = ["-tls1_2", "-cipher", "ALL:@SECLEVEL=0"];
    assert_eq!(openssl(&proxy, &any).await.as_deref(), Ok("ECDHE-RSA-AES256-GCM-SHA384"));
    // IE 11 on Windows 7 and 8.1: with an RSA certificate, ECDHE only with CBC.
    let ie11 = "ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA:\
                DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-GCM-SHA256:\
                AES256-SHA256:AES128-SHA256:AES256-SHA:AES128-SHA:@SECLEVEL=0";
    let old = [
        ("TLS 1.1", vec!["-tls1_1", "-cipher", "ALL:@SECLEVEL=0"]),
        ("TLS 1.0 (Java 7)", vec!["-tls1", "-cipher", "ALL:@SECLEVEL=0"]),
        ("CBC with ECDHE", vec!["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA:@SECLEVEL=0"]),
        ("RSA key exchange", vec!["-tls1_2", "-cipher", "AES128-GCM-SHA256:AES256-GCM-SHA384:@SECLEVEL=0"]),
        ("IE 11 on Windows 7", vec!["-tls1_2", "-cipher", ie11]),
    ];
    for (what, args) in old {
        let refused = openssl(&proxy, &args).await.expect_err(what);
        // "SSL alert number": an alert received from doorman.
        assert!(refused.contains("SSL alert number"), "{what}: not refused by doorman:\n{refused}");
    }
}
