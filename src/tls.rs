//! TLS: the server configuration for clients (STARTTLS and implicit TLS,
//! TLS 1.2 and 1.3 only, as rustls offers), and the client configuration for
//! STARTTLS toward the upstream. Certificates and keys are read from PEM files
//! at load and again on SIGHUP.

mod stream;

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub use stream::{ClientStream, Io, MaybeTls, UpstreamStream};

use crate::config;

/// Builds the acceptor for client connections from the certificate and key files.
///
/// # Errors
/// A file is missing or holds no usable certificate or key; the message names it.
pub fn server_acceptor(files: &config::TlsFiles) -> Result<TlsAcceptor, String> {
    let certs = read_certs(&files.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("tls.key {}: no usable private key ({e})", files.key.display()))?;
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls: certificate and key do not work together: {e}"))?;
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
    let config = ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    Ok(Some(UpstreamTls { connector: TlsConnector::from(Arc::new(config)), name }))
}
