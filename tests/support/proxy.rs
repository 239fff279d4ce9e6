//! doorman in-process, on a free loopback port, with the same `Server` the
//! binary runs. Stopped when dropped; then, in the relay tests, the oracle
//! judges what it sent upstream (`super::oracle`).

use std::net::SocketAddr;
use std::path::Path;

use doorman::{Config, Server};
use tokio_util::sync::CancellationToken;

use super::oracle::Oracle;

/// A running doorman.
pub struct Proxy {
    pub addr: SocketAddr,
    /// The admin endpoint, when the config enables it.
    pub admin: Option<SocketAddr>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    oracle: Option<Oracle>,
}

/// The YAML of a test configuration: `extra` is appended (top-level keys).
pub fn config_yaml(upstream: &str, extra: &str) -> String {
    format!(
        "hostname: mx.example.test\nlisten:\n  - address: 127.0.0.1:0\nupstream:\n  address: {upstream}\n  connect_timeout: 2s\n{}{extra}\n",
        default_dns(extra)
    )
}

/// No test depends on the machine's `/etc/resolv.conf`: unless `extra` has
/// its own `dns:` section, the resolver is a closed loopback port. Loopback
/// clients skip the DNS rules, so nothing asks it anyway.
pub fn default_dns(extra: &str) -> &'static str {
    if extra.lines().any(|l| l.starts_with("dns:")) { "" } else { "dns:\n  nameservers: [\"127.0.0.1:9\"]\n" }
}

impl Proxy {
    /// Starts doorman in front of `upstream` with `extra` config.
    pub async fn start(upstream: &str, extra: &str) -> Self {
        let yaml = config_yaml(upstream, extra);
        let config = Config::from_yaml(&yaml, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        Self::start_with(config).await
    }

    /// Starts doorman with a full configuration (its upstream behind the
    /// oracle's tap when the oracle is on).
    pub async fn start_with(mut config: Config) -> Self {
        let mut oracle = Oracle::new(config.upstream.client_identity);
        if let Some(o) = &oracle {
            config.upstream.address = o.upstream(&config.upstream.address);
        }
        let server = Server::bind(config).await.expect("bind doorman");
        let addr = server.local_addrs()[0];
        if let Some(o) = &mut oracle {
            o.listening(&server.local_addrs());
        }
        let admin = server.admin_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.run(shutdown.clone()));
        Self { addr, admin, shutdown, task: Some(task), oracle }
    }

    /// Waives the oracle's count check for this doorman (byte-level checks
    /// stay), saying why.
    pub fn skip_count(&mut self, why: &'static str) {
        if let Some(o) = &mut self.oracle {
            o.skip_count(why);
        }
    }

    /// Triggers a graceful shutdown and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(o) = &mut self.oracle {
            o.check(true);
        }
    }
}
