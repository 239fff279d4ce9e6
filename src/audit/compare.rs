//! doorman in this process, for `--config`: the operator's configuration
//! with its listeners replaced by the first one moved to 127.0.0.1 (port
//! chosen by the kernel), no PROXY header expected, the admin endpoint off and a short
//! grace period. The upstream stays as configured, so the audit goes through
//! the real configuration to the real MTA; nothing listens beyond loopback.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Listener, ListenerTls};
use crate::server::Server;

/// How long a stop may take; the audit's sessions have ended by then.
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// `config` as the comparison runs it.
///
/// # Errors
/// Every listener uses implicit TLS: the audit speaks SMTP with STARTTLS.
pub fn loopback_config(mut config: Config) -> Result<Config, String> {
    let has_cert = config.tls.is_some();
    let first = config
        .listen
        .iter()
        .find(|l| l.tls_mode(has_cert) != ListenerTls::Implicit)
        .ok_or("every listener of the configuration uses implicit TLS; the audit needs SMTP with STARTTLS")?;
    // The first listener's settings (TLS mode, synchronization, ...), moved
    // to loopback and without a PROXY header.
    let mut listener: Listener = first.clone();
    listener.address = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    listener.proxy_protocol = false;
    listener.trusted_proxies.clear();
    config.listen = vec![listener];
    config.admin.address = None;
    config.shutdown.grace_period = Duration::from_secs(1);
    Ok(config)
}

/// A doorman serving on loopback until stopped.
pub struct InProcess {
    /// Where it listens (127.0.0.1, a kernel-chosen port).
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl InProcess {
    /// Starts doorman with [`loopback_config`] of `config`.
    ///
    /// # Errors
    /// The configuration cannot run here (implicit TLS only, unreadable
    /// certificate, ...).
    pub async fn start(config: Config) -> Result<Self, String> {
        let server = Server::bind(loopback_config(config)?).await.map_err(|e| format!("doorman did not start: {e}"))?;
        let addr = *server.local_addrs().first().ok_or("doorman did not start: no listener")?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.run(shutdown.clone()));
        Ok(Self { addr, shutdown, task })
    }

    /// Stops it, waiting at most a few seconds.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(STOP_WITHIN, self.task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listens_on_loopback_only_without_admin() {
        let yaml = "hostname: mx.example.test\nlisten:\n  - address: 0.0.0.0:25\n    proxy_protocol: true\n    \
                    trusted_proxies: [10.0.0.0/8]\n  - address: '[::]:587'\nupstream:\n  address: 127.0.0.1:10025\n\
                    admin:\n  address: 0.0.0.0:9025\n";
        let config = Config::from_yaml(yaml, std::path::Path::new("t.yaml")).unwrap();
        let c = loopback_config(config).unwrap();
        assert_eq!(c.listen.len(), 1);
        assert_eq!(c.listen[0].address, "127.0.0.1:0".parse().unwrap());
        assert!(!c.listen[0].proxy_protocol);
        assert_eq!(c.admin.address, None);
        assert_eq!(c.upstream.address, "127.0.0.1:10025");
    }
}
