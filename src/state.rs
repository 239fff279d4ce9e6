//! What sessions share, built from one configuration and swapped as a whole
//! on reload: a session keeps the `Arc<Shared>` it started with, so sessions
//! in progress finish under the old configuration (and certificates) and new
//! ones get the new.

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::policy::helo::HeloPolicy;
use crate::scan::ScanEngine;
use crate::tls::{self, UpstreamTls};

/// Everything built from one configuration.
pub(crate) struct Shared {
    /// The configuration itself.
    pub config: Arc<Config>,
    /// TLS toward clients, when `tls` is configured.
    pub tls: Option<TlsAcceptor>,
    /// STARTTLS toward the upstream, when `upstream.tls` is not `none`.
    pub upstream_tls: Option<UpstreamTls>,
    /// The HELO/EHLO and client rules (with their resolver and cache).
    pub helo: Arc<HeloPolicy>,
    /// The content scanners (with their endpoint pools).
    pub scan: Arc<ScanEngine>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("tls", &self.tls.is_some()).finish_non_exhaustive()
    }
}

impl Shared {
    /// Builds the shared state: loads certificates and keys.
    ///
    /// # Errors
    /// A message naming what could not be built (a certificate file, ...).
    pub(crate) fn new(config: Config) -> Result<Self, String> {
        let tls = config.tls.as_ref().map(tls::server_acceptor).transpose()?;
        let upstream_tls = tls::upstream_connector(&config.upstream)?;
        let helo = Arc::new(HeloPolicy::from_config(&config.helo, &config.dns, config.hostname.as_str())?);
        let scan = Arc::new(ScanEngine::from_config(&config.scanners));
        Ok(Self { config: Arc::new(config), tls, upstream_tls, helo, scan })
    }
}
