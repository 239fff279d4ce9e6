//! The rules that need DNS: `unresolvable` (the HELO name), `no_ptr` and
//! `fcrdns_mismatch` (the client's reverse DNS), `dnsbl` (blocklists).
//!
//! Each async function makes the lookups (concurrently where they are
//! independent) and hands the answers to a pure `judge_*` function, so the
//! decisions are table-tested without a resolver. A failed lookup (timeout,
//! SERVFAIL) yields at most a tempfail, and for a blocklist nothing at all.

use std::net::{IpAddr, Ipv4Addr};

use futures_util::future::join_all;

use super::arg::{self, HeloArg};
use super::rules::Rules;
use super::{Cause, Finding, Rule, Setting};
use crate::config;
use crate::dns::{Answer, Lookup, Resolver, dnsbl_name};

/// The most PTR names followed for FCrDNS: a client with more is odd, and
/// each name costs a lookup.
const PTR_NAMES_MAX: usize = 5;
/// The most characters of a blocklist's TXT reason put in a reply.
const TXT_MAX: usize = 150;
/// The most characters of a blocklist reply's text, placeholders expanded
/// (well under the 512-octet reply line).
const DNSBL_TEXT_MAX: usize = 400;

/// A blocklist, compiled from `helo.dnsbl[]`.
#[derive(Debug, Clone)]
pub(super) struct Zone {
    /// The zone, lowercased.
    name: String,
    /// The reply template, if not the default.
    message: Option<String>,
    /// The zone's `action`, else `helo.rules.dnsbl`; never Off (such zones
    /// are dropped).
    setting: Setting,
    /// The answers that mean "listed"; empty: the default range.
    answers: Vec<Ipv4Addr>,
    /// Its weight toward the combined score.
    weight: i32,
    /// It counts toward the combined score rather than judging alone: under
    /// a threshold without an own `action`, and every allowlist.
    scored: bool,
}

/// The blocklists, compiled from `helo.dnsbl[]` and its thresholds.
#[derive(Debug, Clone, Default)]
pub(super) struct Zones {
    pub(super) list: Vec<Zone>,
    /// `helo.dnsbl_threshold`.
    threshold: Option<i32>,
    /// `helo.dnsbl_allowlist_threshold`.
    allowlist: Option<i32>,
}

impl Zones {
    /// The zones to query: those that can refuse (setting not off) or
    /// allowlist (a negative weight).
    pub(super) fn compile(helo: &config::Helo) -> Zones {
        let list = helo
            .dnsbl
            .iter()
            .map(|z| {
                let weight = z.weight.unwrap_or(1);
                Zone {
                    name: z.zone.as_str().trim_end_matches('.').to_ascii_lowercase(),
                    message: z.message.clone(),
                    setting: z.action.unwrap_or(helo.rules.dnsbl),
                    answers: z.answers.clone(),
                    weight,
                    scored: weight < 0 || (helo.dnsbl_threshold.is_some() && z.action.is_none()),
                }
            })
            .filter(|z| z.setting != Setting::Off || z.weight < 0)
            .collect();
        Zones { list, threshold: helo.dnsbl_threshold, allowlist: helo.dnsbl_allowlist_threshold }
    }

    /// Nothing to query.
    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl Zone {
    /// Whether the reply uses the zone's TXT record (worth a lookup).
    fn wants_txt(&self) -> bool {
        self.message.as_deref().is_none_or(|m| m.contains("{txt}"))
    }
}

/// `unresolvable` for a HELO name (valid, not ours, not localhost).
pub(super) async fn helo_rules(resolver: &Resolver, rules: &Rules, name: &str) -> Vec<Finding> {
    let answer = resolver.ips(name).await;
    judge_unresolvable(rules, &answer).into_iter().collect()
}

/// Only NXDOMAIN is "does not resolve": NoData (a name with only MX, say)
/// is not, and a failed lookup is at most a tempfail.
pub(super) fn judge_unresolvable(rules: &Rules, lookup: &Lookup<IpAddr>) -> Option<Finding> {
    match lookup {
        Ok(Answer::NxDomain) => rules.finding(Rule::Unresolvable, "NXDOMAIN for A and AAAA".into()),
        Ok(Answer::Records(_) | Answer::NoData) => None,
        Err(e) => rules.lookup_failed(Rule::Unresolvable, format!("HELO name lookup failed ({}): {e}", e.kind())),
    }
}

/// `no_ptr`, then `fcrdns_mismatch` over the PTR names.
///
/// Also returns the forward-confirmed PTR name, when FCrDNS ran and passed.
pub(super) async fn ptr_rules(resolver: &Resolver, rules: &Rules, client: IpAddr) -> (Vec<Finding>, Option<String>) {
    let fcrdns_on = rules.setting(Rule::FcrdnsMismatch) != Setting::Off;
    if rules.setting(Rule::NoPtr) == Setting::Off && !fcrdns_on {
        return (Vec::new(), None);
    }
    let ptr = resolver.ptr(client).await;
    if let Some(finding) = judge_ptr(rules, &ptr) {
        return (vec![finding], None);
    }
    let names = ptr_names(ptr.as_ref().map_or(&[], |a| a.records()));
    let Some(names) = names.filter(|_| fcrdns_on) else {
        return (Vec::new(), None);
    };
    let forward = join_all(names.iter().map(|name| async move {
        match client {
            IpAddr::V4(_) => resolver.ipv4(name).await.map(|a| map_answer(a, IpAddr::V4)),
            IpAddr::V6(_) => resolver.ipv6(name).await.map(|a| map_answer(a, IpAddr::V6)),
        }
    }))
    .await;
    let results: Vec<(String, Lookup<IpAddr>)> = names.into_iter().zip(forward).collect();
    let verified = results
        .iter()
        .find(|(_, l)| l.as_ref().is_ok_and(|a| a.records().contains(&client)))
        .map(|(name, _)| name.trim_end_matches('.').to_owned());
    (judge_fcrdns(rules, client, &results).into_iter().collect(), verified)
}

fn map_answer<T>(a: Answer<T>, f: impl Fn(T) -> IpAddr) -> Answer<IpAddr> {
    match a {
        Answer::Records(r) => Answer::Records(r.into_iter().map(f).collect()),
        Answer::NxDomain => Answer::NxDomain,
        Answer::NoData => Answer::NoData,
    }
}

/// `no_ptr`: no PTR record (NXDOMAIN or NoData). A failed PTR lookup is a
/// tempfail of `no_ptr`, or of `fcrdns_mismatch` if `no_ptr` is off.
pub(super) fn judge_ptr(rules: &Rules, lookup: &Lookup<String>) -> Option<Finding> {
    match lookup {
        Ok(Answer::Records(_)) => None,
        Ok(Answer::NxDomain) => rules.finding(Rule::NoPtr, "no PTR record (NXDOMAIN)".into()),
        Ok(Answer::NoData) => rules.finding(Rule::NoPtr, "no PTR record (NoData)".into()),
        Err(e) => {
            let rule = if rules.setting(Rule::NoPtr) == Setting::Off { Rule::FcrdnsMismatch } else { Rule::NoPtr };
            rules.lookup_failed(rule, format!("PTR lookup failed ({}): {e}", e.kind()))
        }
    }
}

/// The PTR names worth a forward lookup (valid host names, at most
/// [`PTR_NAMES_MAX`]); None if there was no PTR record at all.
fn ptr_names(records: &[String]) -> Option<Vec<String>> {
    if records.is_empty() {
        return None;
    }
    Some(records.iter().filter(|n| matches!(arg::parse(n), HeloArg::Name(_))).take(PTR_NAMES_MAX).cloned().collect())
}

/// `fcrdns_mismatch`: none of the PTR names resolves back to `client`. If
/// none matched and a lookup failed, the answer is unknown: a tempfail.
pub(super) fn judge_fcrdns(rules: &Rules, client: IpAddr, forward: &[(String, Lookup<IpAddr>)]) -> Option<Finding> {
    let matched = forward.iter().any(|(_, l)| l.as_ref().is_ok_and(|a| a.records().contains(&client)));
    if matched {
        return None;
    }
    let names = forward.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
    if let Some(e) = forward.iter().find_map(|(_, l)| l.as_ref().err()) {
        return rules.lookup_failed(
            Rule::FcrdnsMismatch,
            format!("forward lookup of PTR names [{names}] failed ({}): {e}", e.kind()),
        );
    }
    let detail = if forward.is_empty() {
        "no PTR name is a valid host name".to_owned()
    } else {
        format!("PTR names [{names}] do not resolve to {client}")
    };
    rules.finding(Rule::FcrdnsMismatch, detail)
}

/// One zone that lists the client: its answer and TXT reason.
#[derive(Debug)]
pub(super) struct Listing<'z> {
    pub(super) zone: &'z Zone,
    pub(super) code: Ipv4Addr,
    pub(super) txt: Option<String>,
}

/// `dnsbl`: every zone, concurrently. Also whether the combined score
/// allowlists the client.
pub(super) async fn dnsbl_rules(
    resolver: &Resolver,
    rules: &Rules,
    zones: &Zones,
    client: IpAddr,
) -> (Vec<Finding>, bool) {
    let listings = join_all(zones.list.iter().map(|zone| listing(resolver, zone, client))).await;
    judge_dnsbl(rules, zones, client, listings.into_iter().flatten().collect())
}

async fn listing<'z>(resolver: &Resolver, zone: &'z Zone, client: IpAddr) -> Option<Listing<'z>> {
    let query = dnsbl_name(client, &zone.name);
    let answer = resolver.ipv4(&query).await;
    if let Err(e) = &answer {
        // A blocklist that cannot be asked lists nobody.
        tracing::debug!(zone = %zone.name, error = %e, "dnsbl lookup failed; not listed");
    }
    let code = listed(zone, &answer)?;
    let txt = if zone.wants_txt() && !zone.scored {
        resolver.txt(&query).await.ok().and_then(|a| a.records().first().cloned())
    } else {
        None
    };
    Some(Listing { zone, code, txt })
}

/// The findings of the zones that list the client: each unscored zone
/// alone; the scored ones as one finding once their weights reach the
/// threshold. The bool: the score is at or below the allowlist threshold.
pub(super) fn judge_dnsbl(
    rules: &Rules,
    zones: &Zones,
    client: IpAddr,
    listings: Vec<Listing<'_>>,
) -> (Vec<Finding>, bool) {
    let (scored, alone): (Vec<_>, Vec<_>) = listings.into_iter().partition(|l| l.zone.scored);
    let mut found: Vec<Finding> =
        alone.iter().filter_map(|l| dnsbl_finding(rules, l.zone, client, l.code, l.txt.as_deref())).collect();
    let score: i32 = scored.iter().map(|l| l.zone.weight).sum();
    if let Some(threshold) = zones.threshold.filter(|t| score >= *t) {
        let names: Vec<&str> = scored.iter().filter(|l| l.zone.weight > 0).map(|l| l.zone.name.as_str()).collect();
        let setting = rules.setting(Rule::Dnsbl);
        let text = format!("client [{client}] blocked using {} (score {score})", names.join(", "));
        let cause = Cause::Listed { text: truncate(&text, DNSBL_TEXT_MAX), temporary: setting == Setting::TempFail };
        let detail = format!("{client} scores {score} (threshold {threshold}) on {}", names.join(", "));
        found.extend(rules.build(Rule::Dnsbl, setting, cause, detail));
    }
    let allowlisted = !scored.is_empty() && zones.allowlist.is_some_and(|t| score <= t);
    if allowlisted {
        tracing::info!(score, "client allowlisted by its DNS list score; the rules skip it");
    }
    (found, allowlisted)
}

/// The answer that lists the client, if any. The default accepts
/// 127.0.0.0/8 except 127.255.255.0/24 (blocklists' query-error codes),
/// and for an allowlist also except x.x.x.255 (dnswl.org's "query
/// refused": an allowlist must never vouch for everyone because it is
/// rate-limiting us).
pub(super) fn listed(zone: &Zone, answer: &Lookup<Ipv4Addr>) -> Option<Ipv4Addr> {
    let records = answer.as_ref().ok()?.records();
    records.iter().copied().find(|a| {
        if zone.answers.is_empty() {
            let [first, second, third, fourth] = a.octets();
            first == 127 && (second, third) != (255, 255) && !(zone.weight < 0 && fourth == 255)
        } else {
            zone.answers.contains(a)
        }
    })
}

/// The finding of a listing, with the zone's reply text.
pub(super) fn dnsbl_finding(
    rules: &Rules,
    zone: &Zone,
    client: IpAddr,
    code: Ipv4Addr,
    txt: Option<&str>,
) -> Option<Finding> {
    let txt = txt.map(sanitize).unwrap_or_default();
    let text = match &zone.message {
        Some(template) => {
            template.replace("{ip}", &client.to_string()).replace("{zone}", &zone.name).replace("{txt}", &txt)
        }
        None if txt.is_empty() => format!("client [{client}] blocked using {}", zone.name),
        None => format!("client [{client}] blocked using {}; {txt}", zone.name),
    };
    let text = truncate(&text, DNSBL_TEXT_MAX);
    let cause = Cause::Listed { text, temporary: zone.setting == Setting::TempFail };
    let detail = format!("{client} listed on {} ({code})", zone.name);
    rules.build(Rule::Dnsbl, zone.setting, cause, detail)
}

/// A TXT reason made safe for a reply line: printable ASCII (anything else
/// becomes `?`), at most [`TXT_MAX`] characters.
fn sanitize(txt: &str) -> String {
    let clean: String = txt.chars().map(|c| if (' '..='~').contains(&c) { c } else { '?' }).collect();
    truncate(clean.trim(), TXT_MAX)
}

/// `s` cut to at most `max` octets, marked with `...` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
pub(super) fn zone(name: &str, message: Option<&str>, setting: Setting, answers: &[&str]) -> Zone {
    Zone {
        name: name.into(),
        message: message.map(Into::into),
        setting,
        answers: answers.iter().map(|a| a.parse().unwrap()).collect(),
        weight: 1,
        scored: false,
    }
}
