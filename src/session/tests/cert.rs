//! A certificate for `mx.example.test`, for sessions with TLS toward the
//! client: the YAML that configures it, and a client configuration that
//! trusts it.

use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A self-signed certificate in a temporary directory (kept while this lives).
pub(crate) struct TestCert {
    /// `tls:` with the certificate and key files.
    pub(crate) yaml: String,
    /// Trusts only this certificate.
    pub(crate) client: ClientConfig,
    _dir: tempfile::TempDir,
}

impl TestCert {
    pub(crate) fn new() -> Self {
        let cert = rcgen::generate_simple_self_signed(vec!["mx.example.test".to_owned()]).expect("certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert.cert.pem()).expect("cert");
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("key");
        let yaml = format!("tls:\n  certificate: {}\n  key: {}", cert_path.display(), key_path.display());
        let mut roots = RootCertStore::empty();
        roots.add(cert.cert.der().clone()).expect("root");
        let client = ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self { yaml, client, _dir: dir }
    }
}
