//! The compiled rules and the pure checks of the HELO argument: no DNS, no
//! runtime, table-tested in `tests.rs`.

use std::net::IpAddr;

use super::address::{is_internal, is_loopback, is_reserved};
use super::arg::{self, HeloArg};
use super::{Action, Cause, Finding, Mode, Rule, Setting};
use crate::config;

/// The configuration as the checks use it: settings per rule, the mode, and
/// our names and addresses, normalized once.
#[derive(Debug, Clone)]
pub(super) struct Rules {
    /// Indexed by `Rule as usize` (the order of [`Rule::ALL`]).
    settings: [Setting; Rule::ALL.len()],
    mode: Mode,
    /// Our host name, lowercased.
    hostname: String,
    /// `helo.local_domains`, lowercased.
    local_domains: Vec<String>,
    /// `helo.our_ips`, canonical.
    our_ips: Vec<IpAddr>,
}

impl Rules {
    /// Compiles `helo` for our `hostname`.
    pub(super) fn new(helo: &config::Helo, hostname: &str) -> Self {
        Self {
            settings: Rule::ALL.map(|rule| helo.rules.get(rule)),
            mode: helo.mode,
            hostname: hostname.trim_end_matches('.').to_ascii_lowercase(),
            local_domains: helo.local_domains.iter().map(|d| d.as_str().to_ascii_lowercase()).collect(),
            our_ips: helo.our_ips.iter().map(|ip| ip.to_canonical()).collect(),
        }
    }

    pub(super) fn setting(&self, rule: Rule) -> Setting {
        self.settings[rule as usize]
    }

    /// A finding of `rule` as configured, or None if the rule is off.
    pub(super) fn finding(&self, rule: Rule, detail: String) -> Option<Finding> {
        let setting = self.setting(rule);
        self.build(rule, setting, Cause::Matched { temporary: setting == Setting::TempFail }, detail)
    }

    /// A finding of `rule` whose DNS lookup failed: a `reject` rule tempfails,
    /// never more (RFC 5321 4.1.4; Postfix's `defer_if_reject`).
    pub(super) fn lookup_failed(&self, rule: Rule, detail: String) -> Option<Finding> {
        let setting = match self.setting(rule) {
            Setting::Reject => Setting::TempFail,
            other => other,
        };
        self.build(rule, setting, Cause::LookupFailed, detail)
    }

    /// A finding for `cause`; `setting` is the effective one (a blocklist
    /// zone may override the rule's).
    pub(super) fn build(&self, rule: Rule, setting: Setting, cause: Cause, detail: String) -> Option<Finding> {
        let action = match (setting, self.mode) {
            (Setting::Off, _) => return None,
            (Setting::Monitor, _) | (_, Mode::Monitor) => Action::Monitor,
            (Setting::Reject, Mode::Enforce) => Action::Reject,
            (Setting::TempFail, Mode::Enforce) => Action::TempFail,
        };
        Some(Finding { rule, action, cause, detail })
    }

    /// Whether `client` is this host itself: then our own name or address in
    /// its HELO is the truth, not a forgery.
    fn is_us(&self, client: IpAddr, local: IpAddr) -> bool {
        is_loopback(client) || client == local || self.our_ips.contains(&client)
    }

    /// The HELO name worth a DNS lookup: a valid domain that is not
    /// localhost, ours or under ours (we know those), with `unresolvable` on.
    pub(super) fn name_to_resolve(&self, helo: &str) -> Option<String> {
        if self.setting(Rule::Unresolvable) == Setting::Off {
            return None;
        }
        match arg::parse(helo) {
            HeloArg::Name(name)
                if !is_localhost_name(&name) && !self.is_our_name(&name) && !self.is_under_our_domain(&name) =>
            {
                Some(name)
            }
            _ => None,
        }
    }

    fn is_our_name(&self, name: &str) -> bool {
        name == self.hostname || self.local_domains.iter().any(|d| d == name)
    }

    fn is_under_our_domain(&self, name: &str) -> bool {
        std::iter::once(&self.hostname).chain(&self.local_domains).any(|ours| {
            name.len() > ours.len() + 1
                && name.ends_with(ours.as_str())
                && name.as_bytes()[name.len() - ours.len() - 1] == b'.'
        })
    }
}

fn is_localhost_name(name: &str) -> bool {
    matches!(name, "localhost" | "localhost.localdomain")
}

/// The rules on the HELO argument that need no DNS: syntax, our names and
/// addresses, localhost, literals, dotless names. `local` is the listener
/// address the client connected to. An invalid argument yields only
/// `invalid_syntax`.
pub(super) fn check_syntax_rules(client: IpAddr, local: IpAddr, helo: &str, cfg: &Rules) -> Vec<Finding> {
    let (client, local) = (client.to_canonical(), local.to_canonical());
    match arg::parse(helo) {
        HeloArg::Invalid(reason) => cfg.finding(Rule::InvalidSyntax, reason.to_owned()).into_iter().collect(),
        HeloArg::Name(name) => name_rules(client, local, &name, cfg),
        HeloArg::Literal(ip) => address_rule(client, local, ip, cfg).into_iter().collect(),
        HeloArg::BareIp(ip) => cfg
            .finding(Rule::BareIp, format!("bare address {ip}"))
            .into_iter()
            .chain(address_rule(client, local, ip, cfg))
            .collect(),
    }
}

fn name_rules(client: IpAddr, local: IpAddr, name: &str, cfg: &Rules) -> Vec<Finding> {
    let is_us = cfg.is_us(client, local);
    let mut out = Vec::new();
    if is_localhost_name(name) {
        if !is_loopback(client) {
            out.extend(cfg.finding(Rule::Localhost, "localhost name".into()));
        }
        return out;
    }
    if !is_us && cfg.is_our_name(name) {
        out.extend(cfg.finding(Rule::OurName, format!("our name {name}")));
    }
    if !is_us && cfg.is_under_our_domain(name) {
        out.extend(cfg.finding(Rule::UnderOurDomain, format!("{name} is under our domain")));
    }
    if !name.contains('.') {
        out.extend(cfg.finding(Rule::Dotless, "name without a dot".into()));
    }
    out
}

/// At most one finding for an address in the HELO: the most specific
/// enabled rule among our address, loopback, private/reserved, mismatch.
/// The client's own address is always fine, and so is ours from this host.
fn address_rule(client: IpAddr, local: IpAddr, ip: IpAddr, cfg: &Rules) -> Option<Finding> {
    let ours = ip == local || cfg.our_ips.contains(&ip);
    let is_us = cfg.is_us(client, local);
    if ip == client || (ours && is_us) {
        return None;
    }
    let candidates = [
        (Rule::OurIp, ours),
        (Rule::Localhost, is_loopback(ip) && !is_loopback(client)),
        (Rule::PrivateAddress, is_reserved(ip) && !is_internal(client)),
        (Rule::LiteralMismatch, true),
    ];
    let rule = candidates
        .into_iter()
        .filter(|(_, applies)| *applies)
        .map(|(rule, _)| rule)
        .find(|rule| cfg.setting(*rule) != Setting::Off)?;
    cfg.finding(rule, format!("address {ip}, client {client}"))
}
