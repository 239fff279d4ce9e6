//! HELO/EHLO and client rules: what the client's name, HELO argument and
//! DNS say about it, as [`Finding`]s. No I/O except DNS lookups through
//! [`crate::dns::Resolver`], and no replies sent: the session decides when
//! to deliver a finding (at once, or at RCPT under `helo.delay_reject`).
//!
//! - Pure rules on the HELO argument (`rules.rs`, over the parsed argument
//!   of `arg.rs` and the address classes of `address.rs`): table-tested
//!   without a runtime.
//! - DNS rules (`lookups.rs`): the lookups run here, and a pure function per
//!   rule turns their answers into findings. A DNS failure (timeout,
//!   SERVFAIL) is never a hard reject: at most a tempfail.
//! - Reply texts (`crate::replies::helo`) name the rule that fired.
//!
//! `docs/helo.md` lists every rule, its default, why, and the real clients
//! it can hurt.

mod address;
mod arg;
mod lookups;
mod rules;

use std::net::IpAddr;

use crate::config;
pub use crate::config::{Mode, Rule, Setting};
use crate::dns::Resolver;
pub use crate::replies::helo::Cause;
use crate::wire::Reply;
use ipnet::IpNet;

use rules::{Rules, check_syntax_rules};

/// What a finding asks of the session, after `helo.mode` is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Refuse with the finding's 5xx reply.
    Reject,
    /// Refuse with the finding's 4xx reply.
    TempFail,
    /// Log it (with the reply the client would have got); go on.
    Monitor,
}

impl Action {
    /// A fixed label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Reject => "reject",
            Action::TempFail => "tempfail",
            Action::Monitor => "monitor",
        }
    }
}

/// A rule that matched. Findings are plain values: the session keeps them
/// for the whole connection (rejections are sticky).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule that matched.
    pub rule: Rule,
    /// What the session must do.
    pub action: Action,
    /// Why: the reply to send for Reject/TempFail, or for Monitor the reply
    /// the client would have got, is rendered from it by `crate::replies`.
    pub cause: Cause,
    /// Why, for the log: never an invalid HELO argument (names and
    /// addresses appear only once they passed the syntax rule).
    pub detail: String,
}

impl Finding {
    /// Reject or TempFail: the session must refuse mail from this connection.
    pub fn blocks(&self) -> bool {
        matches!(self.action, Action::Reject | Action::TempFail)
    }

    /// The reply for this finding (see [`Finding::cause`]).
    pub fn reply(&self) -> Reply {
        crate::replies::helo::reply(self.rule, &self.cause)
    }

    /// The log line for this finding, once, where the session records it.
    pub fn log(&self) {
        let (rule, code, detail) = (self.rule.as_str(), self.reply().code(), &self.detail);
        match self.action {
            Action::Monitor if self.cause.is_temporary() => {
                tracing::info!(rule, code, detail, "helo policy: would tempfail");
            }
            Action::Monitor => tracing::info!(rule, code, detail, "helo policy: would reject"),
            Action::Reject | Action::TempFail => {
                tracing::info!(rule, action = self.action.as_str(), code, detail, "helo policy: refusing")
            }
        }
    }
}

/// The finding to deliver among several: the first Reject, else the first
/// TempFail, else none (only Monitor findings, or none at all).
pub fn decisive(findings: &[Finding]) -> Option<&Finding> {
    findings
        .iter()
        .find(|f| f.action == Action::Reject)
        .or_else(|| findings.iter().find(|f| f.action == Action::TempFail))
}

/// What the connect-time checks found about a client.
#[derive(Debug, Default)]
pub struct ClientVerdict {
    /// The rules that matched.
    pub findings: Vec<Finding>,
    /// Its forward-confirmed PTR name, when FCrDNS ran and passed.
    pub name: Option<String>,
    /// Its blocklist score is at or below `helo.dnsbl_allowlist_threshold`:
    /// the session skips every rule for it.
    pub allowlisted: bool,
}

/// The HELO/EHLO and client policy: built once from the configuration and
/// shared by every session (`Arc<HeloPolicy>`).
#[derive(Debug)]
pub struct HeloPolicy {
    /// The compiled rules (settings, our names and addresses).
    rules: Rules,
    /// Client networks that skip every rule.
    exempt: Vec<IpNet>,
    /// Deliver rejections at RCPT (the session reads it).
    delay_reject: bool,
    /// Blocklists to query.
    dnsbl: lookups::Zones,
    /// None when no DNS rule is enabled: no lookups, and no dependency on
    /// `/etc/resolv.conf`.
    resolver: Option<Resolver>,
}

impl HeloPolicy {
    /// Builds the policy. `hostname` is our public name (`hostname:`).
    ///
    /// # Errors
    /// A message when the resolver cannot be set up (no `/etc/resolv.conf`
    /// and no `dns.nameservers` while a DNS rule is enabled).
    pub fn from_config(helo: &config::Helo, dns: &config::Dns, hostname: &str) -> Result<Self, String> {
        let rules = Rules::new(helo, hostname);
        let dnsbl = lookups::Zones::compile(helo);
        let needs_dns = [Rule::Unresolvable, Rule::NoPtr, Rule::FcrdnsMismatch]
            .into_iter()
            .any(|r| rules.setting(r) != Setting::Off)
            || !dnsbl.is_empty();
        let resolver = if needs_dns { Some(Resolver::from_config(dns).map_err(|e| e.to_string())?) } else { None };
        Ok(Self {
            rules,
            exempt: helo.exempt.iter().map(|n| n.0).collect(),
            delay_reject: helo.delay_reject,
            dnsbl,
            resolver,
        })
    }

    /// Whether `client` is on an exempt network (it skips every rule).
    pub fn is_exempt(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        self.exempt.iter().any(|n| n.contains(&client))
    }

    /// `helo.delay_reject`: deliver a blocking finding at RCPT, not at once.
    pub fn delay_reject(&self) -> bool {
        self.delay_reject
    }

    /// Rules on the client's address alone (PTR, FCrDNS, DNSBL). The session
    /// starts this at connect, concurrently with the greeting. It takes at
    /// most about twice `dns.timeout` (PTR, then the forward lookups; the
    /// blocklists run alongside).
    pub async fn check_client(&self, client: IpAddr) -> Vec<Finding> {
        self.check_client_named(client).await.findings
    }

    /// Whether [`HeloPolicy::check_client`] has anything to look up for this
    /// client (a DNS rule is on, and the client is neither exempt nor internal).
    pub fn has_client_checks(&self, client: IpAddr) -> bool {
        self.resolver.is_some() && !self.is_exempt(client) && !address::is_internal(client.to_canonical())
    }

    /// [`HeloPolicy::check_client`], with the client's forward-confirmed
    /// PTR name (for XCLIENT NAME) and whether its blocklist score
    /// allowlists it.
    pub async fn check_client_named(&self, client: IpAddr) -> ClientVerdict {
        let Some(resolver) = &self.resolver else {
            return ClientVerdict::default();
        };
        // A client on an internal network (loopback, RFC 1918, link-local,
        // ULA) has no meaningful public DNS: its PTR and blocklist entries
        // are local matters, and the lookups would only leak internal
        // addresses to the resolver.
        if self.is_exempt(client) || address::is_internal(client.to_canonical()) {
            return ClientVerdict::default();
        }
        let client = client.to_canonical();
        let ((mut findings, name), (dnsbl, allowlisted)) = tokio::join!(
            lookups::ptr_rules(resolver, &self.rules, client),
            lookups::dnsbl_rules(resolver, &self.rules, &self.dnsbl, client),
        );
        findings.extend(dnsbl);
        ClientVerdict { findings, name, allowlisted }
    }

    /// Rules on the HELO/EHLO argument. `local` is the listener address the
    /// client connected to (one of our addresses). Takes at most about
    /// `dns.timeout`.
    pub async fn check_helo(&self, client: IpAddr, local: IpAddr, helo: &str) -> Vec<Finding> {
        if self.is_exempt(client) {
            return Vec::new();
        }
        let mut findings = check_syntax_rules(client, local, helo, &self.rules);
        let internal = address::is_internal(client.to_canonical());
        if let (Some(resolver), Some(name), false) = (&self.resolver, self.rules.name_to_resolve(helo), internal) {
            findings.extend(lookups::helo_rules(resolver, &self.rules, &name).await);
        }
        findings
    }

    /// MAIL without HELO/EHLO. The session skips this for exempt and
    /// authenticated clients.
    pub fn check_missing_helo(&self) -> Option<Finding> {
        self.rules.finding(Rule::NoHelo, "MAIL before HELO/EHLO".to_owned())
    }

    /// A deep protocol test the client failed: `pipelining`,
    /// `non_smtp_command` or `bare_newline`, as the session saw it. The
    /// session skips this for exempt and authenticated clients.
    pub fn check_protocol(&self, rule: Rule, detail: &str) -> Option<Finding> {
        self.rules.finding(rule, detail.to_owned())
    }
}

#[cfg(test)]
mod tests;
