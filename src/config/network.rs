//! Where doorman listens and what it connects to: listeners (TLS mode,
//! PROXY protocol in), the certificate, and the upstream (timeouts, client
//! identity, STARTTLS toward it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rules::SyncCheck;
use super::types::duration;

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// `ip:port`.
    pub address: SocketAddr,
    /// none | starttls | required | implicit. Default: starttls when `tls`
    /// is configured, none otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ListenerTls>,
    /// Expect a PROXY protocol v1/v2 header from a load balancer first.
    #[serde(default)]
    pub proxy_protocol: bool,
    /// Networks allowed to send the PROXY header; anyone else is refused.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// This listener's `limits.forbid_unauth_pipelining` (a submission port
    /// for broken clients may turn it off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forbid_unauth_pipelining: Option<SyncCheck>,
}

/// Which listener a bound socket serves, stable across a reload: its
/// address, and which of the listeners with that same address it is (only
/// port-0 addresses repeat). Listeners are matched by this, never by their
/// position in `listen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListenerKey {
    pub address: SocketAddr,
    pub nth: usize,
}

/// The key of every listener, in `listen` order.
pub fn listener_keys(listen: &[Listener]) -> Vec<ListenerKey> {
    listen
        .iter()
        .enumerate()
        .map(|(i, l)| ListenerKey {
            address: l.address,
            nth: listen[..i].iter().filter(|o| o.address == l.address).count(),
        })
        .collect()
}

/// The listener `key` names, if `listen` has it.
pub fn listener_for(listen: &[Listener], key: ListenerKey) -> Option<&Listener> {
    listen.iter().filter(|l| l.address == key.address).nth(key.nth)
}

impl Listener {
    /// The TLS mode in effect, given whether a certificate is configured.
    pub fn tls_mode(&self, has_certificate: bool) -> ListenerTls {
        self.tls.unwrap_or(if has_certificate { ListenerTls::Starttls } else { ListenerTls::None })
    }
}

/// TLS on a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerTls {
    /// Plaintext only; STARTTLS not offered.
    None,
    /// STARTTLS offered.
    Starttls,
    /// STARTTLS offered and required before MAIL (`530 5.7.0`).
    Required,
    /// TLS from the first byte (port 465 style).
    Implicit,
}

/// Certificate and key files (PEM).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub certificate: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How the upstream learns who the real client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientIdentity {
    /// XCLIENT (Postfix): the upstream applies its policy to the real client.
    Xclient,
    /// XFORWARD (Postfix): logging and headers only, not access decisions.
    Xforward,
    /// PROXY protocol v1 header at connect (Postfix, Exim).
    ProxyV1,
    /// PROXY protocol v2 header at connect.
    ProxyV2,
    /// Nothing (Exchange): doorman adds a Received header naming the client.
    #[default]
    None,
}

/// STARTTLS toward the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamTlsMode {
    /// Plaintext.
    #[default]
    None,
    /// STARTTLS when offered; plaintext otherwise.
    Opportunistic,
    /// STARTTLS or no relay (the client gets a 4xx).
    Required,
}

/// The upstream MTA.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// `host:port`; a name is resolved at each connection.
    pub address: String,
    /// Limit for the TCP connect and the upstream's greeting.
    #[serde(default = "default_connect_timeout", with = "duration")]
    pub connect_timeout: Duration,
    /// Limit for the upstream's reply to a command.
    #[serde(default = "default_reply_timeout", with = "duration")]
    pub reply_timeout: Duration,
    /// Limit for sending the message to the upstream and for its reply to
    /// the final dot. RFC 5321 §4.5.3.2.6 lets a client wait 10 minutes, but
    /// doorman's own client waits as long for doorman: this, with the
    /// scanners, must fit in `limits.final_reply_timeout`.
    #[serde(default = "default_data_timeout", with = "duration")]
    pub data_timeout: Duration,
    /// xclient | xforward | proxy-v1 | proxy-v2 | none.
    #[serde(default)]
    pub client_identity: ClientIdentity,
    /// none | opportunistic | required.
    #[serde(default)]
    pub tls: UpstreamTlsMode,
    /// CA certificates (PEM) to verify the upstream; default the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// The name the upstream's certificate must carry; default the host of `address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_name: Option<String>,
    /// A client that keeps doorman waiting this long (between commands, or
    /// sending a message) gives its upstream session back to the MTA; the
    /// transaction is built again (MAIL, RCPT) when the client next needs
    /// the upstream. Slow clients cannot hold the MTA's processes. `0s`:
    /// never released.
    #[serde(default = "default_release_after", with = "duration")]
    pub release_after: Duration,
}

fn default_release_after() -> Duration {
    Duration::from_secs(10)
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_reply_timeout() -> Duration {
    Duration::from_secs(300)
}
fn default_data_timeout() -> Duration {
    Duration::from_secs(100)
}
