//! DNS lookups for the HELO and client checks: a thin wrapper over
//! hickory-resolver that bounds every lookup by `dns.timeout` and sorts each
//! result into what the policy must tell apart.
//!
//! - [`Answer::Records`], [`Answer::NxDomain`] (the name does not exist) and
//!   [`Answer::NoData`] (it exists, without records of that type) are answers
//!   a rule may act on.
//! - [`LookupError`] (timeout, SERVFAIL, REFUSED, anything else) says nothing
//!   about the client: a rule that meets one may at most tempfail.
//!
//! Every lookup is asynchronous and ends within `dns.timeout`, so a slow or
//! dead DNS server delays only the sessions that wait on it. Names are always
//! queried fully qualified: a HELO of `benderclmsuedu` must not become
//! `benderclmsuedu.<our search domain>`. Answers, negative ones included, are
//! cached by hickory for their TTL (`dns.cache_size` entries).

mod names;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::system_conf::parse_resolv_conf;
use hickory_resolver::{Resolver as HickoryResolver, TokioResolver};

pub use names::{dnsbl_name, reverse_name};

use crate::config;

/// What a name server said about a name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// At least one record of the type asked for.
    Records(Vec<T>),
    /// NXDOMAIN: the name does not exist.
    NxDomain,
    /// The name exists but has no record of this type.
    NoData,
}

impl<T> Answer<T> {
    /// The records, empty for NXDOMAIN and NoData.
    pub fn records(&self) -> &[T] {
        match self {
            Self::Records(r) => r,
            Self::NxDomain | Self::NoData => &[],
        }
    }
}

/// A lookup that got no usable answer. Never proof of anything about the
/// client: the DNS, not the client, failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No answer within `dns.timeout`.
    #[error("timed out after {after:?}")]
    Timeout { after: Duration },
    /// The server answered SERVFAIL (e.g. the zone's servers are unreachable).
    #[error("server failure (SERVFAIL)")]
    ServFail,
    /// The server refused the query.
    #[error("query refused (REFUSED)")]
    Refused,
    /// Anything else: an unusable name, a network error, another rcode.
    #[error("{reason}")]
    Failed { reason: String },
}

impl LookupError {
    /// A fixed label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::ServFail => "servfail",
            Self::Refused => "refused",
            Self::Failed { .. } => "failed",
        }
    }
}

/// The result of one lookup.
pub type Lookup<T> = Result<Answer<T>, LookupError>;

/// The resolver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `/etc/resolv.conf` is missing or unreadable and no `dns.nameservers`
    /// are configured.
    #[error("system DNS configuration ({path}): {reason}; set dns.nameservers")]
    System { path: String, reason: String },
    /// hickory refused the configuration.
    #[error("DNS resolver: {reason}")]
    Build { reason: String },
}

/// Where the system's resolver configuration is read when `dns.nameservers`
/// is empty.
pub const SYSTEM_CONFIG: &str = "/etc/resolv.conf";

/// A shared, cached, bounded resolver. Cheap to clone (the cache is shared).
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
    /// Bound for one lookup, retries included.
    timeout: Duration,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Resolver {
    /// Builds the resolver: `dns.nameservers` if any (no `/etc/hosts`, no
    /// search domains), else the system configuration.
    ///
    /// # Errors
    /// [`SetupError`] when the system configuration cannot be read.
    pub fn from_config(cfg: &config::Dns) -> Result<Self, SetupError> {
        Self::build(cfg, Path::new(SYSTEM_CONFIG))
    }

    /// [`Resolver::from_config`] with the system configuration read from
    /// `resolv_conf` instead of `/etc/resolv.conf` (tests, unusual hosts).
    ///
    /// # Errors
    /// [`SetupError`] when `resolv_conf` is needed and cannot be read.
    pub fn build(cfg: &config::Dns, resolv_conf: &Path) -> Result<Self, SetupError> {
        let timeout = cfg.timeout;
        let mut builder = if cfg.nameservers.is_empty() {
            let system = |reason: String| SetupError::System { path: resolv_conf.display().to_string(), reason };
            let text = std::fs::read(resolv_conf).map_err(|e| system(e.to_string()))?;
            let (config, options) = parse_resolv_conf(text).map_err(|e| system(e.to_string()))?;
            let mut b = HickoryResolver::builder_with_config(config, TokioRuntimeProvider::default());
            *b.options_mut() = options;
            b
        } else {
            let servers = cfg
                .nameservers
                .iter()
                .map(|ns| {
                    let mut server = NameServerConfig::udp_and_tcp(ns.0.ip());
                    for c in &mut server.connections {
                        c.port = ns.0.port();
                    }
                    server
                })
                .collect();
            let mut b = HickoryResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            );
            b.options_mut().use_hosts_file = ResolveHosts::Never;
            b
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        // Two tries of half the budget each (one retransmission of a lost UDP
        // packet); the outer deadline in `query` bounds the whole lookup.
        opts.timeout = (timeout / 2).max(Duration::from_millis(1));
        opts.attempts = 1;
        opts.cache_size = cfg.cache_size;
        // Our names are always fully qualified; no search list.
        opts.ndots = 0;
        let inner = builder.build().map_err(|e| SetupError::Build { reason: e.to_string() })?;
        Ok(Self { inner, timeout })
    }

    /// The bound of one lookup.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A records of `name`.
    pub async fn ipv4(&self, name: &str) -> Lookup<Ipv4Addr> {
        self.query(name, RecordType::A, |r| match r {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .await
    }

    /// AAAA records of `name`.
    pub async fn ipv6(&self, name: &str) -> Lookup<Ipv6Addr> {
        self.query(name, RecordType::AAAA, |r| match r {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .await
    }

    /// A and AAAA of `name`, asked at the same time and merged: any address
    /// wins; else NXDOMAIN from either; else the first failure; else NoData.
    pub async fn ips(&self, name: &str) -> Lookup<IpAddr> {
        let (v4, v6) = tokio::join!(self.ipv4(name), self.ipv6(name));
        names::merge_ips(v4, v6)
    }

    /// The PTR names of `ip`, lowercased, without the trailing dot.
    pub async fn ptr(&self, ip: IpAddr) -> Lookup<String> {
        self.query(&reverse_name(ip), RecordType::PTR, |r| match r {
            RData::PTR(p) => Some(names::plain(&p.0.to_ascii())),
            _ => None,
        })
        .await
    }

    /// The TXT records of `name`, each one's strings joined, as (lossy) text.
    pub async fn txt(&self, name: &str) -> Lookup<String> {
        self.query(name, RecordType::TXT, |r| match r {
            RData::TXT(t) => Some(t.txt_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()),
            _ => None,
        })
        .await
    }

    /// One bounded lookup; `pick` keeps the records of the asked type (a
    /// CNAME chain's intermediate records come along in the answer).
    async fn query<T>(&self, name: &str, rtype: RecordType, pick: impl Fn(&RData) -> Option<T>) -> Lookup<T> {
        let fqdn = names::fqdn(name);
        let lookup = self.inner.lookup(fqdn.as_str(), rtype);
        match tokio::time::timeout(self.timeout, lookup).await {
            Err(_) => Err(LookupError::Timeout { after: self.timeout }),
            Ok(Err(e)) => classify(&e, self.timeout),
            Ok(Ok(found)) => {
                let records: Vec<T> = found.answers().iter().filter_map(|r| pick(&r.data)).collect();
                Ok(if records.is_empty() { Answer::NoData } else { Answer::Records(records) })
            }
        }
    }
}

/// Sorts a hickory error into an answer (NXDOMAIN, NoData) or a failure.
fn classify<T>(e: &NetError, timeout: Duration) -> Lookup<T> {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => match nr.response_code {
            ResponseCode::NXDomain => Ok(Answer::NxDomain),
            ResponseCode::NoError => Ok(Answer::NoData),
            ResponseCode::ServFail => Err(LookupError::ServFail),
            ResponseCode::Refused => Err(LookupError::Refused),
            other => Err(LookupError::Failed { reason: format!("response code {other}") }),
        },
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => Err(LookupError::ServFail),
        NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => Err(LookupError::Refused),
        NetError::Timeout => Err(LookupError::Timeout { after: timeout }),
        other => Err(LookupError::Failed { reason: other.to_string() }),
    }
}
