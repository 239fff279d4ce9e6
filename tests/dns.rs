//! The DNS layer and the DNS rules against a real dnsmasq (one per test
//! binary, started by `tests/support/dnsmasq.sh`; its data is listed there).
//! The failure paths use fault-injection name servers from `support/dns.rs`:
//! one that never answers, one that answers SERVFAIL.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use doorman::config::{Dns, Helo};
use doorman::dns::{Answer, LookupError, Resolver, dnsbl_name};
use doorman::policy::helo::{Action, Finding, HeloPolicy, Rule, decisive};
use support::dns::*;

const HOST: &str = "mx.example.test";
/// A public client address with no DNS data at all (no PTR).
const PUBLIC: &str = NO_PTR_CLIENT;
const LOCAL: &str = "198.51.100.1";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP address")
}

fn dns_config(yaml: &str) -> Dns {
    serde_saphyr::from_str(yaml).expect("a valid dns: section")
}

/// A resolver on the test dnsmasq.
fn resolver() -> Resolver {
    Resolver::from_config(&dns_config(&dnsmasq().dns_yaml("2s"))).expect("resolver")
}

/// A policy on the test dnsmasq; `helo` is the `helo:` section as YAML.
fn policy(helo: &str) -> HeloPolicy {
    policy_on(helo, &dnsmasq().dns_yaml("2s"))
}

fn policy_on(helo: &str, dns: &str) -> HeloPolicy {
    let helo: Helo = serde_saphyr::from_str(if helo.is_empty() { "{}" } else { helo }).expect("a valid helo: section");
    HeloPolicy::from_config(&helo, &dns_config(dns), HOST).expect("policy")
}

fn summary(findings: &[Finding]) -> Vec<(Rule, Action)> {
    findings.iter().map(|f| (f.rule, f.action)).collect()
}

#[tokio::test]
async fn lookups() {
    let r = resolver();
    let v4: Ipv4Addr = GOOD_V4.parse().unwrap();
    let v6: Ipv6Addr = GOOD_V6.parse().unwrap();
    assert_eq!(r.ipv4(GOOD).await, Ok(Answer::Records(vec![v4])));
    assert_eq!(r.ipv6(GOOD).await, Ok(Answer::Records(vec![v6])));
    let both = r.ips(GOOD).await.unwrap();
    assert!(both.records().contains(&IpAddr::V4(v4)) && both.records().contains(&IpAddr::V6(v6)));
    // A trailing dot or upper case changes nothing.
    assert_eq!(r.ipv4("GOOD.example.test.").await, Ok(Answer::Records(vec![v4])));
    // The CNAME's target address, without the CNAME record itself.
    assert_eq!(r.ipv4(CNAME).await, Ok(Answer::Records(vec![v4])));
    // The name exists, but not with this type.
    assert_eq!(r.ipv6(V4_ONLY).await, Ok(Answer::NoData));
    assert!(matches!(r.ips(V4_ONLY).await, Ok(Answer::Records(a)) if a.len() == 1));
    // The name does not exist.
    assert_eq!(r.ipv4(NXDOMAIN).await, Ok(Answer::NxDomain));
    assert_eq!(r.ips(NXDOMAIN).await, Ok(Answer::NxDomain));
    assert_eq!(r.ips(DOTLESS).await, Ok(Answer::NxDomain));
    // Reverse DNS, IPv4 and IPv6.
    assert_eq!(r.ptr(ip(GOOD_V4)).await, Ok(Answer::Records(vec![GOOD.to_owned()])));
    assert_eq!(r.ptr(ip(GOOD_V6)).await, Ok(Answer::Records(vec![GOOD.to_owned()])));
    assert_eq!(r.ptr(ip(FORGED_CLIENT)).await, Ok(Answer::Records(vec![FORGED.to_owned()])));
    assert_eq!(r.ptr(ip(NO_PTR_CLIENT)).await, Ok(Answer::NxDomain));
    // A blocklist entry and its reason.
    let listed = dnsbl_name(ip("127.0.0.2"), BL);
    assert_eq!(listed, "2.0.0.127.bl.test.");
    assert_eq!(r.ipv4(&listed).await, Ok(Answer::Records(vec![Ipv4Addr::new(127, 0, 0, 2)])));
    assert_eq!(r.txt(&listed).await, Ok(Answer::Records(vec![BL_TXT.to_owned()])));
    // dnsmasq has no upstream: names outside its zones are refused.
    assert_eq!(r.ipv4("www.elsewhere.example").await, Err(LookupError::Refused));
}

/// Answers are cached: the second lookup never reaches dnsmasq.
#[tokio::test]
async fn answers_are_cached() {
    let r = resolver();
    let first = r.ipv4(CACHED).await;
    assert!(matches!(first, Ok(Answer::Records(_))), "{first:?}");
    assert_eq!(r.ipv4(CACHED).await, first);
    assert_eq!(r.clone().ipv4(CACHED).await, first, "clones share the cache");
    let queries = dnsmasq().log().lines().filter(|l| l.contains(&format!("query[A] {CACHED} "))).count();
    assert_eq!(queries, 1, "dnsmasq log:\n{}", dnsmasq().log());
}

#[tokio::test]
async fn unresolvable() {
    let p = policy("rules: {unresolvable: reject}");
    let public = ip(PUBLIC);
    let local = ip(LOCAL);
    let nx = p.check_helo(public, local, NXDOMAIN).await;
    assert_eq!(summary(&nx), [(Rule::Unresolvable, Action::Reject)]);
    assert_eq!(nx[0].reply().code(), 550);
    assert!(nx[0].reply().to_string().ends_with("(rule unresolvable)"));
    for resolves in [GOOD, V4_ONLY, CNAME, O365] {
        assert_eq!(summary(&p.check_helo(public, local, resolves).await), [], "{resolves}");
    }
    // Our own names are never looked up, localhost neither.
    assert_eq!(
        summary(&p.check_helo(public, local, "nx.mx.example.test").await),
        [(Rule::UnderOurDomain, Action::Monitor)]
    );
    let monitor = policy("{mode: monitor, rules: {unresolvable: reject}}");
    assert_eq!(summary(&monitor.check_helo(public, local, NXDOMAIN).await), [(Rule::Unresolvable, Action::Monitor)]);
    let off = policy("rules: {unresolvable: off}");
    assert_eq!(summary(&off.check_helo(public, local, NXDOMAIN).await), []);
}

#[tokio::test]
async fn reverse_dns_rules() {
    let p = policy("rules: {no_ptr: reject, fcrdns_mismatch: reject}");
    assert_eq!(summary(&p.check_client(ip(GOOD_V4)).await), []);
    assert_eq!(summary(&p.check_client(ip(GOOD_V6)).await), []);
    // An IPv4 client seen on a dual-stack listener.
    assert_eq!(summary(&p.check_client(ip("::ffff:203.0.113.10")).await), []);
    let forged = p.check_client(ip(FORGED_CLIENT)).await;
    assert_eq!(summary(&forged), [(Rule::FcrdnsMismatch, Action::Reject)]);
    assert_eq!(forged[0].reply().enhanced_code(), Some("5.7.25"));
    assert!(forged[0].detail.contains(FORGED), "{}", forged[0].detail);
    assert_eq!(summary(&p.check_client(ip(NO_PTR_CLIENT)).await), [(Rule::NoPtr, Action::Reject)]);
    // Defaults: reported, never refused.
    let defaults = policy("");
    assert_eq!(summary(&defaults.check_client(ip(FORGED_CLIENT)).await), [(Rule::FcrdnsMismatch, Action::Monitor)]);
    let off = policy("rules: {no_ptr: off, fcrdns_mismatch: off}");
    assert_eq!(summary(&off.check_client(ip(NO_PTR_CLIENT)).await), []);
}

#[tokio::test]
async fn blocklists() {
    let p = policy(
        "rules: {no_ptr: off, fcrdns_mismatch: off}\n\
         dnsbl:\n  - zone: bl.test\n    action: reject\n  \
         - zone: bl2.test\n    action: tempfail\n    message: \"{ip} is listed on {zone}: {txt}\"\n",
    );
    // Internal clients are never looked up.
    assert_eq!(summary(&p.check_client(ip("127.0.0.2")).await), []);
    let both = p.check_client(ip("203.0.113.99")).await;
    assert_eq!(summary(&both), [(Rule::Dnsbl, Action::Reject), (Rule::Dnsbl, Action::TempFail)]);
    assert_eq!(
        both[0].reply().to_string(),
        format!("554 5.7.1 Service unavailable; client [203.0.113.99] blocked using bl.test; {BL_TXT} (rule dnsbl)")
    );
    assert_eq!(
        both[1].reply().to_string(),
        "450 4.7.1 Service unavailable; 203.0.113.99 is listed on bl2.test: bl2 says no (rule dnsbl)"
    );
    assert_eq!(decisive(&both).map(|f| f.reply().code()), Some(554));
    // Listed without a TXT reason.
    let no_txt = p.check_client(ip(FORGED_CLIENT)).await;
    assert_eq!(
        no_txt.iter().map(|f| f.reply().to_string()).collect::<Vec<_>>(),
        ["554 5.7.1 Service unavailable; client [203.0.113.20] blocked using bl.test (rule dnsbl)"]
    );
    assert!(no_txt[0].detail.contains("127.0.0.4"), "{}", no_txt[0].detail);
    // IPv6: the nibble name.
    assert_eq!(summary(&p.check_client(ip(GOOD_V6)).await), [(Rule::Dnsbl, Action::Reject)]);
    // 127.255.255.254 is a blocklist's error code, not a listing; NXDOMAIN is "not listed".
    assert_eq!(summary(&p.check_client(ip(GOOD_V4)).await), []);
    assert_eq!(summary(&p.check_client(ip(NO_PTR_CLIENT)).await), []);
    // The default for a zone without `action` is helo.rules.dnsbl: monitor.
    let default = policy("rules: {no_ptr: off, fcrdns_mismatch: off}\ndnsbl: [{zone: bl.test}]");
    assert_eq!(summary(&default.check_client(ip("203.0.113.99")).await), [(Rule::Dnsbl, Action::Monitor)]);
}

/// Weighted lists against the real dnsmasq: 203.0.113.99 is on bl.test and
/// bl2.test, 203.0.113.20 on bl.test only. With a threshold of 2 only the
/// first is refused; a negative weight allowlists.
#[tokio::test]
async fn weighted_blocklists() {
    let p = policy(
        "rules: {no_ptr: off, fcrdns_mismatch: off, dnsbl: reject}\ndnsbl_threshold: 2\n\
         dnsbl: [{zone: bl.test}, {zone: bl2.test}]\n",
    );
    let both = p.check_client(ip("203.0.113.99")).await;
    assert_eq!(summary(&both), [(Rule::Dnsbl, Action::Reject)]);
    assert!(both[0].reply().to_string().contains("blocked using bl.test, bl2.test (score 2)"), "{}", both[0].reply());
    assert_eq!(summary(&p.check_client(ip(FORGED_CLIENT)).await), [], "a score of 1 is under 2");
    let allow = policy(
        "rules: {no_ptr: off, fcrdns_mismatch: off}\ndnsbl_allowlist_threshold: -1\n\
         dnsbl: [{zone: bl2.test, weight: -3}]\n",
    );
    let verdict = allow.check_client_named(ip("203.0.113.99")).await;
    assert!(verdict.allowlisted && verdict.findings.is_empty(), "{verdict:?}");
    assert!(!allow.check_client_named(ip(FORGED_CLIENT)).await.allowlisted);
}

/// The real broken clients pass the default configuration: no Reject or
/// TempFail, only Monitor findings.
#[tokio::test]
async fn broken_clients_pass_the_defaults() {
    let p = policy("");
    let public = ip(PUBLIC);
    let local = ip(LOCAL);
    let cases = [
        // Outlook/Pegasus strip the dots; no DNS for the name.
        (DOTLESS, vec![(Rule::Unresolvable, Action::Monitor)]),
        // Eudora: machine.<our server name>.
        ("machine.mx.example.test", vec![(Rule::UnderOurDomain, Action::Monitor)]),
        // A desktop behind NAT.
        ("[192.168.1.10]", vec![(Rule::PrivateAddress, Action::Monitor)]),
        // Office 365: a HELO name that resolves to 127.0.0.1.
        (O365, vec![]),
    ];
    for (helo, want) in cases {
        let found = p.check_helo(public, local, helo).await;
        assert_eq!(summary(&found), want, "{helo}");
        assert_eq!(decisive(&found), None, "{helo}");
    }
    // The same client has no reverse DNS: reported only.
    let client = p.check_client(public).await;
    assert_eq!(summary(&client), [(Rule::NoPtr, Action::Monitor)]);
}

/// Fault injection: a name server that never answers. A lookup ends at
/// `dns.timeout`; a `reject` DNS rule then tempfails, never rejects; and
/// lookups elsewhere are not held up meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_tempfail_and_stall_nothing_else() {
    let silent = SilentServer::start().await;
    let dns = format!("nameservers: [\"{}\"]\ntimeout: 400ms\n", silent.addr);
    let stalled =
        std::sync::Arc::new(policy_on("rules: {unresolvable: reject, no_ptr: reject, fcrdns_mismatch: reject}", &dns));
    let healthy = resolver();
    healthy.ipv4(GOOD).await.unwrap(); // dnsmasq is up before the clock starts

    let start = Instant::now();
    let waiting: Vec<_> = (0..20)
        .map(|i| {
            let p = stalled.clone();
            tokio::spawn(async move {
                let name = format!("host{i}.slow.example");
                let helo = p.check_helo(ip(PUBLIC), ip(LOCAL), &name).await;
                let client = p.check_client(ip(PUBLIC)).await;
                (helo, client)
            })
        })
        .collect();
    // Meanwhile, a lookup on a healthy server answers while every stalled
    // one is still waiting: it was not queued behind them.
    let answer = healthy.ipv4(GOOD).await;
    assert!(matches!(answer, Ok(Answer::Records(_))), "{answer:?}");
    assert!(waiting.iter().all(|t| !t.is_finished()), "the healthy lookup waited for the stalled ones");

    for task in waiting {
        let (helo, client) = task.await.unwrap();
        assert_eq!(summary(&helo), [(Rule::Unresolvable, Action::TempFail)]);
        assert_eq!(helo[0].reply().code(), 450);
        assert!(helo[0].detail.contains("timeout"), "{}", helo[0].detail);
        assert_eq!(summary(&client), [(Rule::NoPtr, Action::TempFail)]);
    }
    // 20 sessions, each a HELO lookup then a PTR lookup of 400 ms, ran side
    // by side: about 0.8 s, not 20 x 0.8 s = 16 s.
    let all = start.elapsed();
    assert!(all >= Duration::from_millis(750), "ended before the timeout: {all:?}");
    assert!(all < Duration::from_secs(8), "lookups were serialized: {all:?}");

    // The raw lookup says what happened.
    let r = Resolver::from_config(&dns_config(&dns)).unwrap();
    assert_eq!(r.ipv4("x.slow.example").await, Err(LookupError::Timeout { after: Duration::from_millis(400) }));
}

/// Fault injection: a name server that answers SERVFAIL, and a port where
/// nothing listens. Both are failures, never answers; rules tempfail.
#[tokio::test]
async fn servfail_and_unreachable_servers() {
    let servfail = ServfailServer::start().await;
    let dns = format!("nameservers: [\"{}\"]\ntimeout: 1s\n", servfail.addr);
    let r = Resolver::from_config(&dns_config(&dns)).unwrap();
    assert_eq!(r.ipv4("x.example.test").await, Err(LookupError::ServFail));
    assert_eq!(r.ptr(ip(PUBLIC)).await, Err(LookupError::ServFail));
    let p = policy_on("rules: {unresolvable: reject}", &dns);
    assert_eq!(
        summary(&p.check_helo(ip(PUBLIC), ip(LOCAL), "x.example.test").await),
        [(Rule::Unresolvable, Action::TempFail)]
    );

    // Nothing listens: no answer (hickory ignores the ICMP error), a timeout.
    let closed = support::free_port();
    let dns = format!("nameservers: [\"127.0.0.1:{closed}\"]\ntimeout: 300ms\n");
    let r = Resolver::from_config(&dns_config(&dns)).unwrap();
    let start = Instant::now();
    let result = r.ipv4("x.example.test").await;
    assert!(result.is_err(), "{result:?}");
    // Bounded by dns.timeout (300 ms), not hickory's default of 5 s.
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    let p = policy_on("rules: {unresolvable: reject}", &dns);
    let found = p.check_helo(ip(PUBLIC), ip(LOCAL), "x.example.test").await;
    assert_eq!(summary(&found), [(Rule::Unresolvable, Action::TempFail)]);
}
