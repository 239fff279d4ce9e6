//! Table tests of the HELO/client rules: every pure rule for reject,
//! tempfail, monitor and off; the DNS judgements over hand-written answers;
//! and the real broken clients passing the default configuration.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::lookups::{self, Zone};
use super::rules::Rules;
use super::*;
use crate::dns::{Answer, Lookup, LookupError};
use crate::replies::helo as replies;

const HOST: &str = "mx.example.test";
/// A client on the public Internet (as far as the rules are concerned).
const PUBLIC: &str = "203.0.113.5";
/// The listener address the client connected to.
const LOCAL: &str = "198.51.100.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn helo_config(yaml: &str) -> config::Helo {
    serde_saphyr::from_str(if yaml.is_empty() { "{}" } else { yaml }).unwrap()
}

fn rules(yaml: &str) -> Rules {
    Rules::new(&helo_config(yaml), HOST)
}

/// (rule, action) of each finding, for compact expectations.
fn summary(findings: &[Finding]) -> Vec<(Rule, Action)> {
    findings.iter().map(|f| (f.rule, f.action)).collect()
}

fn syntax(cfg: &Rules, client: &str, helo: &str) -> Vec<(Rule, Action)> {
    summary(&check_syntax_rules(ip(client), ip(LOCAL), helo, cfg))
}

use Action::{Monitor as M, Reject as R, TempFail as T};

mod dns_rules;

/// A lookup that timed out.
fn timeout<T>() -> Lookup<T> {
    Err(LookupError::Timeout { after: Duration::from_secs(3) })
}

/// Expected findings, as (rule, action).
type Want = &'static [(Rule, Action)];

#[test]
fn rule_labels_and_indexes() {
    for (i, rule) in Rule::ALL.into_iter().enumerate() {
        assert_eq!(rule as usize, i, "Rule::ALL order is the settings index");
    }
    let labels: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        labels,
        [
            "no_helo",
            "invalid_syntax",
            "our_name",
            "our_ip",
            "localhost",
            "bare_ip",
            "literal_mismatch",
            "private_address",
            "dotless",
            "under_our_domain",
            "unresolvable",
            "no_ptr",
            "fcrdns_mismatch",
            "dnsbl",
            "pipelining",
            "non_smtp_command",
            "bare_newline",
            "early_talker"
        ]
    );
}

/// The default configuration on the HELO argument alone.
#[test]
fn default_rules() {
    let cfg = rules("");
    let table: &[(&str, &str, Want)] = &[
        (PUBLIC, "mail.client.example", &[]),
        (PUBLIC, "Mail.Client.Example.", &[]),
        (PUBLIC, "", &[(Rule::InvalidSyntax, R)]),
        (PUBLIC, "a (b) <c>; by x", &[(Rule::InvalidSyntax, R)]),
        (PUBLIC, "x\"y\\z@w", &[(Rule::InvalidSyntax, R)]),
        (PUBLIC, "mx.example.test", &[(Rule::OurName, R)]),
        (PUBLIC, "MX.EXAMPLE.TEST.", &[(Rule::OurName, R)]),
        (PUBLIC, "[198.51.100.1]", &[(Rule::OurIp, R)]),
        (PUBLIC, "198.51.100.1", &[(Rule::BareIp, R), (Rule::OurIp, R)]),
        (PUBLIC, "localhost", &[(Rule::Localhost, R)]),
        (PUBLIC, "LocalHost.LocalDomain", &[(Rule::Localhost, R)]),
        (PUBLIC, "[127.0.0.1]", &[(Rule::Localhost, R)]),
        (PUBLIC, "[IPv6:::1]", &[(Rule::Localhost, R)]),
        (PUBLIC, "127.0.0.1", &[(Rule::BareIp, R), (Rule::Localhost, R)]),
        (PUBLIC, "203.0.113.5", &[(Rule::BareIp, R)]),
        (PUBLIC, "[203.0.113.5]", &[]),
        (PUBLIC, "[8.8.8.8]", &[(Rule::LiteralMismatch, M)]),
        (PUBLIC, "[192.168.1.10]", &[(Rule::PrivateAddress, M)]),
        (PUBLIC, "[IPv6:fd00::10]", &[(Rule::PrivateAddress, M)]),
        (PUBLIC, "benderclmsuedu", &[]),
        (PUBLIC, "machine.mx.example.test", &[(Rule::UnderOurDomain, M)]),
        // A client on the internal network: its private literal is only a mismatch.
        ("10.0.0.5", "[192.168.1.10]", &[(Rule::LiteralMismatch, M)]),
        ("10.0.0.5", "localhost", &[(Rule::Localhost, R)]),
        // The client is this host: our name and addresses are the truth.
        ("127.0.0.1", "localhost", &[]),
        ("127.0.0.1", "mx.example.test", &[]),
        ("127.0.0.1", "[198.51.100.1]", &[]),
        ("127.0.0.1", "[127.0.0.2]", &[(Rule::LiteralMismatch, M)]),
        (LOCAL, "mx.example.test", &[]),
        (LOCAL, "[198.51.100.1]", &[]),
        // An IPv4 client seen through an IPv6 (dual-stack) listener.
        ("::ffff:203.0.113.5", "[203.0.113.5]", &[]),
        ("::ffff:203.0.113.5", "[IPv6:::ffff:203.0.113.5]", &[]),
    ];
    for (client, helo, want) in table {
        assert_eq!(syntax(&cfg, client, helo), *want, "{client} HELO {helo:?}");
    }
}

/// Each pure rule under reject, tempfail, monitor and off.
#[test]
fn each_setting() {
    let table: &[(&str, &str, &str, Want)] = &[
        ("rules: {dotless: reject}", PUBLIC, "benderclmsuedu", &[(Rule::Dotless, R)]),
        ("rules: {dotless: tempfail}", PUBLIC, "benderclmsuedu", &[(Rule::Dotless, T)]),
        ("rules: {dotless: monitor}", PUBLIC, "benderclmsuedu", &[(Rule::Dotless, M)]),
        ("rules: {our_name: tempfail}", PUBLIC, "mx.example.test", &[(Rule::OurName, T)]),
        ("rules: {our_name: monitor}", PUBLIC, "mx.example.test", &[(Rule::OurName, M)]),
        ("rules: {our_name: off}", PUBLIC, "mx.example.test", &[]),
        ("rules: {invalid_syntax: off}", PUBLIC, "a (b)", &[]),
        ("rules: {invalid_syntax: monitor}", PUBLIC, "a (b)", &[(Rule::InvalidSyntax, M)]),
        ("rules: {bare_ip: off}", PUBLIC, "8.8.8.8", &[(Rule::LiteralMismatch, M)]),
        ("rules: {bare_ip: tempfail}", PUBLIC, "203.0.113.5", &[(Rule::BareIp, T)]),
        ("rules: {our_ip: off}", PUBLIC, "[198.51.100.1]", &[(Rule::PrivateAddress, M)]),
        ("rules: {our_ip: monitor}", PUBLIC, "[198.51.100.1]", &[(Rule::OurIp, M)]),
        ("our_ips: [192.0.2.25]", PUBLIC, "[192.0.2.25]", &[(Rule::OurIp, R)]),
        ("our_ips: [\"2001:db8::25\"]", PUBLIC, "[IPv6:2001:db8::25]", &[(Rule::OurIp, R)]),
        ("rules: {localhost: off}", PUBLIC, "[127.0.0.1]", &[(Rule::PrivateAddress, M)]),
        ("rules: {localhost: off}", PUBLIC, "localhost", &[]),
        ("rules: {localhost: tempfail}", PUBLIC, "localhost", &[(Rule::Localhost, T)]),
        ("rules: {localhost: off, private_address: off}", PUBLIC, "[127.0.0.1]", &[(Rule::LiteralMismatch, M)]),
        ("rules: {localhost: off, private_address: off, literal_mismatch: off}", PUBLIC, "[127.0.0.1]", &[]),
        ("rules: {private_address: reject}", PUBLIC, "[10.1.1.1]", &[(Rule::PrivateAddress, R)]),
        ("rules: {literal_mismatch: reject}", PUBLIC, "[8.8.8.8]", &[(Rule::LiteralMismatch, R)]),
        ("rules: {literal_mismatch: off}", PUBLIC, "[8.8.8.8]", &[]),
        ("rules: {under_our_domain: reject}", PUBLIC, "pc.mx.example.test", &[(Rule::UnderOurDomain, R)]),
        ("rules: {under_our_domain: off}", PUBLIC, "pc.mx.example.test", &[]),
        ("local_domains: [example.test]", PUBLIC, "Example.Test", &[(Rule::OurName, R)]),
        ("local_domains: [example.test]", PUBLIC, "pc.example.test", &[(Rule::UnderOurDomain, M)]),
        ("local_domains: [example.test]", PUBLIC, "notexample.test", &[]),
        // Global monitor mode: nothing is refused, everything is reported.
        ("mode: monitor", PUBLIC, "", &[(Rule::InvalidSyntax, M)]),
        ("mode: monitor", PUBLIC, "mx.example.test", &[(Rule::OurName, M)]),
        ("mode: monitor", PUBLIC, "127.0.0.1", &[(Rule::BareIp, M), (Rule::Localhost, M)]),
        ("{mode: monitor, rules: {dotless: tempfail}}", PUBLIC, "pc", &[(Rule::Dotless, M)]),
    ];
    for (yaml, client, helo, want) in table {
        assert_eq!(syntax(&rules(yaml), client, helo), *want, "{yaml}: HELO {helo:?}");
    }
}

#[test]
fn replies_follow_the_setting() {
    let r = |yaml: &str| check_syntax_rules(ip(PUBLIC), ip(LOCAL), HOST, &rules(yaml));
    let reject = &r("")[0];
    assert_eq!(reject.reply(), replies::rejected(Rule::OurName));
    assert_eq!(reject.reply().code(), 550);
    assert!(reject.blocks());
    let temp = &r("rules: {our_name: tempfail}")[0];
    assert_eq!(temp.reply().code(), 450);
    assert_eq!(temp.reply().enhanced_code(), Some("4.7.1"));
    // Monitor keeps the reply the client would have got, for the log.
    let monitor = &r("mode: monitor")[0];
    assert_eq!(monitor.reply().code(), 550);
    assert!(!monitor.blocks());
    let syntax = &check_syntax_rules(ip(PUBLIC), ip(LOCAL), "a (b) <c>; by x", &rules(""))[0];
    assert_eq!(syntax.reply().code(), 501);
    assert_eq!(syntax.reply().enhanced_code(), Some("5.5.2"));
    // The raw argument never reaches the reply or the log detail.
    assert!(!syntax.reply().to_string().contains("by x"));
    assert!(!syntax.detail.contains("by x"));
}

#[test]
fn missing_helo() {
    let policy = |yaml: &str| HeloPolicy::from_config(&helo_config(yaml), &no_dns(), HOST).unwrap();
    let f = policy(OFFLINE).check_missing_helo().unwrap();
    assert_eq!((f.rule, f.action), (Rule::NoHelo, R));
    assert_eq!(f.reply().to_string(), "503 5.5.1 Error: send HELO/EHLO first (rule no_helo)");
    let monitor = format!("{OFFLINE}\nmode: monitor");
    assert_eq!(policy(&monitor).check_missing_helo().unwrap().action, M);
    let off = "rules: {no_helo: off, unresolvable: off, no_ptr: off, fcrdns_mismatch: off}";
    assert_eq!(policy(off).check_missing_helo(), None);
}

#[test]
fn decisive_finding() {
    let f = |rule, action| Finding { rule, action, cause: Cause::Matched { temporary: false }, detail: String::new() };
    let all = [f(Rule::NoPtr, M), f(Rule::Unresolvable, T), f(Rule::OurName, R), f(Rule::BareIp, R)];
    assert_eq!(decisive(&all).map(|f| f.rule), Some(Rule::OurName));
    assert_eq!(decisive(&all[..2]).map(|f| f.rule), Some(Rule::Unresolvable));
    assert_eq!(decisive(&all[..1]), None);
    assert_eq!(decisive(&[]), None);
}

/// DNS rules off: no resolver is built, nothing depends on /etc/resolv.conf.
const OFFLINE: &str = "rules: {unresolvable: off, no_ptr: off, fcrdns_mismatch: off}";

fn no_dns() -> config::Dns {
    config::Dns::default()
}

#[tokio::test]
async fn exempt_networks_skip_every_rule() {
    let yaml = format!("{OFFLINE}\nexempt: [192.0.2.0/24, \"2001:db8::/32\"]");
    let policy = HeloPolicy::from_config(&helo_config(&yaml), &no_dns(), HOST).unwrap();
    assert!(policy.is_exempt(ip("192.0.2.44")));
    assert!(policy.is_exempt(ip("::ffff:192.0.2.44")));
    assert!(policy.is_exempt(ip("2001:db8::7")));
    assert!(!policy.is_exempt(ip(PUBLIC)));
    assert!(policy.check_helo(ip("192.0.2.44"), ip(LOCAL), "localhost").await.is_empty());
    assert!(policy.check_client(ip("192.0.2.44")).await.is_empty());
    let outside = policy.check_helo(ip(PUBLIC), ip(LOCAL), "localhost").await;
    assert_eq!(summary(&outside), [(Rule::Localhost, R)]);
    assert!(policy.delay_reject());
    let eager = format!("{OFFLINE}\ndelay_reject: false");
    let eager = HeloPolicy::from_config(&helo_config(&eager), &no_dns(), HOST).unwrap();
    assert!(!eager.delay_reject());
}

/// The session may spawn the checks: their futures must be Send.
#[tokio::test]
async fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let dns = serde_saphyr::from_str::<config::Dns>("nameservers: [127.0.0.1:9]").unwrap();
    let policy = HeloPolicy::from_config(&config::Helo::default(), &dns, HOST).unwrap();
    assert_send(&policy.check_client(ip(PUBLIC)));
    assert_send(&policy.check_helo(ip(PUBLIC), ip(LOCAL), "x.example"));
}

/// The real broken clients of docs/helo.md pass the default configuration:
/// at most Monitor findings, never Reject or TempFail.
#[test]
fn broken_clients_pass_the_defaults() {
    let cfg = rules("");
    let public = ip(PUBLIC);
    let check = |helo: &str, dns: Option<Lookup<IpAddr>>| {
        let mut found = check_syntax_rules(public, ip(LOCAL), helo, &cfg);
        let resolved = cfg.name_to_resolve(helo);
        if let Some(answer) = dns {
            assert!(resolved.is_some(), "{helo}: the name is looked up");
            found.extend(lookups::judge_unresolvable(&cfg, &answer));
        }
        assert!(found.iter().all(|f| f.action == Action::Monitor), "{helo}: {found:?}");
        assert_eq!(decisive(&found), None);
        summary(&found)
    };
    // Outlook/Pegasus: dots stripped; no DNS for it.
    assert_eq!(check("benderclmsuedu", Some(Ok(Answer::NxDomain))), [(Rule::Unresolvable, M)]);
    assert_eq!(check("benderclmsuedu", Some(timeout())), [(Rule::Unresolvable, M)]);
    // Eudora: machine.<our server name>; never looked up.
    assert_eq!(check("machine.mx.example.test", None), [(Rule::UnderOurDomain, M)]);
    assert_eq!(cfg.name_to_resolve("machine.mx.example.test"), None);
    // A desktop behind NAT.
    assert_eq!(check("[192.168.1.10]", None), [(Rule::PrivateAddress, M)]);
    // Office 365: a real name that resolves to 127.0.0.1.
    let loopback = Ok(Answer::Records(vec![ip("127.0.0.1")]));
    assert_eq!(check("eur01-obe.outbound.protection.example", Some(loopback)), []);
    // The client-side rules on a client without reverse DNS.
    assert_eq!(lookups::judge_ptr(&cfg, &Ok(Answer::NxDomain)).map(|f| f.action), Some(M));
}

/// `doorman check` and start-up build the policy before any runtime exists.
#[test]
fn builds_outside_a_runtime() {
    let dns = serde_saphyr::from_str::<config::Dns>("nameservers: [127.0.0.1:9]").unwrap();
    let policy = HeloPolicy::from_config(&config::Helo::default(), &dns, HOST).unwrap();
    assert!(policy.delay_reject());
    // The system configuration is read here too: from a file this test
    // writes, so the result does not depend on the machine's /etc/resolv.conf.
    let dir = tempfile::tempdir().unwrap();
    let resolv_conf = dir.path().join("resolv.conf");
    std::fs::write(&resolv_conf, "nameserver 127.0.0.1\noptions timeout:1\n").unwrap();
    crate::dns::Resolver::build(&config::Dns::default(), &resolv_conf).unwrap();
    // None at all: an error that names the file and the way out.
    let missing = dir.path().join("missing.conf");
    let e = crate::dns::Resolver::build(&config::Dns::default(), &missing).unwrap_err().to_string();
    assert!(e.contains("missing.conf") && e.contains("set dns.nameservers"), "{e}");
}
