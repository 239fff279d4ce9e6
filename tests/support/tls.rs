//! Test certificates, generated at test time (rcgen); no key is committed.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};

/// A self-signed certificate for mx.example.test, localhost and 127.0.0.1.
pub struct TestCert {
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCert {
    /// Generates a new certificate and key (ECDSA P-256) in a temp dir.
    pub fn new() -> Self {
        Self::with_key(rcgen::KeyPair::generate().expect("generate a test key"))
    }

    /// The same with an RSA 2048 key, the kind most servers have.
    pub fn rsa() -> Self {
        Self::with_key(rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("generate an RSA key"))
    }

    fn with_key(key_pair: rcgen::KeyPair) -> Self {
        let names = vec!["mx.example.test".to_owned(), "localhost".to_owned(), "127.0.0.1".to_owned()];
        let params = rcgen::CertificateParams::new(names).expect("certificate names");
        let signed = params.self_signed(&key_pair).expect("generate a test certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, signed.pem()).expect("write cert");
        std::fs::write(&key, key_pair.serialize_pem()).expect("write key");
        Self { dir, cert, key }
    }

    /// The `tls:` config section for doorman.
    pub fn config(&self) -> String {
        format!("tls:\n  certificate: {}\n  key: {}\n", self.cert.display(), self.key.display())
    }

    /// A TLS client that trusts exactly this certificate, with doorman's
    /// own provider.
    pub fn connector(&self) -> (TlsConnector, ServerName<'static>) {
        let versions = tokio_rustls::rustls::DEFAULT_VERSIONS;
        (self.connector_with(Arc::unwrap_or_clone(doorman::tls::provider()), versions), server_name())
    }

    /// A TLS client that trusts exactly this certificate and offers only
    /// what `provider` has (key exchange groups, cipher suites in order) and
    /// `versions`.
    pub fn connector_with(
        &self,
        provider: CryptoProvider,
        versions: &[&'static SupportedProtocolVersion],
    ) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        let der = CertificateDer::from_pem_file(&self.cert).expect("read cert");
        roots.add(der).expect("add root");
        let config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// The name the test certificate carries.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from("mx.example.test").expect("name")
}

/// A stream whose first write goes out with `prefix` in front of it, in one
/// write: a load balancer's PROXY header and the client's first bytes (a TLS
/// ClientHello) in one TCP segment.
pub struct Prefixed<S> {
    inner: S,
    prefix: Option<Vec<u8>>,
}

impl<S> Prefixed<S> {
    pub fn new(inner: S, prefix: &[u8]) -> Self {
        Self { inner, prefix: Some(prefix.to_vec()) }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let Some(prefix) = self.prefix.take() else {
            return std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        };
        // A fresh connection's send buffer takes a few KiB at once.
        let combined = [prefix.as_slice(), buf].concat();
        match std::pin::Pin::new(&mut self.inner).poll_write(cx, &combined) {
            std::task::Poll::Ready(Ok(n)) if n == combined.len() => std::task::Poll::Ready(Ok(buf.len())),
            other => panic!("the prefixed first write did not go out whole: {other:?}"),
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
