//! TLS: the server configuration for clients (STARTTLS and implicit TLS,
//! TLS 1.2 and 1.3 only, as rustls offers), and the client configuration for
//! STARTTLS toward the upstream. Certificates and keys are read from PEM files
//! at load and again on SIGHUP. Every configuration uses [`provider`]:
//! aws-lc-rs, X25519MLKEM768 first.

mod stream;
mod summary;

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub use stream::{ClientStream, Io, MaybeTls, UpstreamStream};
pub use summary::TlsSummary;

use crate::config;

/// The crypto provider of every TLS configuration doorman builds: aws-lc-rs
/// with its default suites (AEAD only, server order: AES-256-GCM,
/// AES-128-GCM, ChaCha20-Poly1305) and the key exchange groups
/// X25519MLKEM768 (the post-quantum hybrid), X25519, secp256r1, secp384r1,
/// in that order. A client's first offered group among these is taken
/// (rustls follows the client's group order); clients that offer
/// X25519MLKEM768 offer it first.
#[must_use]
pub fn provider() -> Arc<CryptoProvider> {
    use aws_lc_rs::kx_group::{SECP256R1, SECP384R1, X25519, X25519MLKEM768};
    Arc::new(CryptoProvider {
        kx_groups: vec![X25519MLKEM768, X25519, SECP256R1, SECP384R1],
        ..aws_lc_rs::default_provider()
    })
}

/// Builds the acceptor for client connections from the certificate and key files.
/// The server's cipher-suite order wins over the client's.
///
/// # Errors
/// A file is missing or holds no usable certificate or key; the message names it.
pub fn server_acceptor(files: &config::TlsFiles) -> Result<TlsAcceptor, String> {
    let certs = read_certs(&files.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("tls.key {}: no usable private key ({e})", files.key.display()))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls: certificate and key do not work together: {e}"))?;
    config.ignore_client_order = true;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(certs)
}

/// The connector and the name to verify for STARTTLS toward the upstream.
pub struct UpstreamTls {
    /// The TLS client configuration.
    pub connector: TlsConnector,
    /// The name the upstream's certificate must carry.
    pub name: ServerName<'static>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Builds the upstream TLS client, or `None` when `upstream.tls` is `none`.
///
/// # Errors
/// The CA file is unreadable, or the name to verify is not a valid DNS name or IP.
pub fn upstream_connector(upstream: &config::Upstream) -> Result<Option<UpstreamTls>, String> {
    if upstream.tls == config::UpstreamTlsMode::None {
        return Ok(None);
    }
    let mut roots = RootCertStore::empty();
    match &upstream.tls_ca_file {
        Some(path) => {
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|e| format!("upstream.tls_ca_file {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
        }
    }
    let host = match &upstream.tls_name {
        Some(n) => n.clone(),
        None => upstream
            .address
            .rsplit_once(':')
            .map_or(upstream.address.clone(), |(h, _)| h.trim_start_matches('[').trim_end_matches(']').to_owned()),
    };
    let name = ServerName::try_from(host.clone())
        .map_err(|e| format!("upstream.tls_name {host:?} is not a DNS name or IP address: {e}"))?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("upstream.tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(UpstreamTls { connector: TlsConnector::from(Arc::new(config)), name }))
}

#[cfg(test)]
mod tests {
    use tokio_rustls::rustls::NamedGroup;

    /// What docs/security.md promises of every configuration: the hybrid
    /// group first, the classical ones kept; ECDHE (or TLS 1.3) and AEAD
    /// only, so no RSA key exchange and no CBC.
    #[test]
    fn the_provider_is_pq_first_ecdhe_and_aead_only() {
        let p = super::provider();
        let groups: Vec<_> = p.kx_groups.iter().map(|g| g.name()).collect();
        let want = [NamedGroup::X25519MLKEM768, NamedGroup::X25519, NamedGroup::secp256r1, NamedGroup::secp384r1];
        assert_eq!(groups, want);
        for suite in &p.cipher_suites {
            let name = format!("{:?}", suite.suite());
            assert!(name.starts_with("TLS13_") || name.starts_with("TLS_ECDHE_"), "{name}");
            assert!(name.contains("_GCM_") || name.contains("_CHACHA20_POLY1305_"), "{name}");
        }
    }
}
