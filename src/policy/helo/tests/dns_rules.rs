//! The DNS rules (unresolvable, no PTR, FCrDNS, blocklists) on answers
//! given by the tests: each answer and each failure, under each setting.

use super::*;

#[test]
fn unresolvable() {
    let records = || Ok(Answer::Records(vec![ip("192.0.2.9")]));
    type Row = (&'static str, Lookup<IpAddr>, Option<(Action, u16)>);
    let table: &[Row] = &[
        ("rules: {unresolvable: reject}", Ok(Answer::NxDomain), Some((R, 550))),
        ("rules: {unresolvable: reject}", Ok(Answer::NoData), None),
        ("rules: {unresolvable: reject}", records(), None),
        // A DNS failure is never a hard reject.
        ("rules: {unresolvable: reject}", timeout(), Some((T, 450))),
        ("rules: {unresolvable: reject}", Err(LookupError::ServFail), Some((T, 450))),
        ("rules: {unresolvable: tempfail}", Ok(Answer::NxDomain), Some((T, 450))),
        ("rules: {unresolvable: tempfail}", timeout(), Some((T, 450))),
        ("", Ok(Answer::NxDomain), Some((M, 550))),
        ("", timeout(), Some((M, 450))),
        ("rules: {unresolvable: off}", Ok(Answer::NxDomain), None),
        ("{mode: monitor, rules: {unresolvable: reject}}", Ok(Answer::NxDomain), Some((M, 550))),
    ];
    for (yaml, lookup, want) in table {
        let got = lookups::judge_unresolvable(&rules(yaml), lookup);
        let got = got.map(|f| {
            assert_eq!(f.rule, Rule::Unresolvable);
            (f.action, f.reply().code())
        });
        assert_eq!(got, *want, "{yaml}: {lookup:?}");
    }
}

#[test]
fn no_ptr() {
    let names = || Ok(Answer::Records(vec!["host.example".to_owned()]));
    type Row = (&'static str, Lookup<String>, Option<(Rule, Action)>);
    let table: &[Row] = &[
        ("", Ok(Answer::NxDomain), Some((Rule::NoPtr, M))),
        ("", Ok(Answer::NoData), Some((Rule::NoPtr, M))),
        ("", names(), None),
        ("rules: {no_ptr: reject}", Ok(Answer::NxDomain), Some((Rule::NoPtr, R))),
        ("rules: {no_ptr: reject}", timeout(), Some((Rule::NoPtr, T))),
        ("rules: {no_ptr: tempfail}", Ok(Answer::NoData), Some((Rule::NoPtr, T))),
        ("rules: {no_ptr: off}", Ok(Answer::NxDomain), None),
        ("rules: {no_ptr: off, fcrdns_mismatch: reject}", timeout(), Some((Rule::FcrdnsMismatch, T))),
    ];
    for (yaml, lookup, want) in table {
        let got = lookups::judge_ptr(&rules(yaml), lookup).map(|f| (f.rule, f.action));
        assert_eq!(got, *want, "{yaml}: {lookup:?}");
    }
}

#[test]
fn fcrdns() {
    let client = ip(PUBLIC);
    let to = |a: &str| Ok(Answer::Records(vec![ip(a)]));
    type Row = (&'static str, Vec<(&'static str, Lookup<IpAddr>)>, Option<Action>);
    let table: Vec<Row> = vec![
        ("", vec![("a.example", to(PUBLIC))], None),
        ("", vec![("a.example", to("192.0.2.1")), ("b.example", to(PUBLIC))], None),
        ("", vec![("a.example", to("192.0.2.1"))], Some(M)),
        ("", vec![("a.example", Ok(Answer::NxDomain))], Some(M)),
        ("rules: {fcrdns_mismatch: reject}", vec![("a.example", to("192.0.2.1"))], Some(R)),
        ("rules: {fcrdns_mismatch: reject}", vec![("a.example", timeout())], Some(T)),
        ("rules: {fcrdns_mismatch: reject}", vec![("a.example", timeout()), ("b.example", to(PUBLIC))], None),
        ("rules: {fcrdns_mismatch: reject}", vec![], Some(R)),
        ("rules: {fcrdns_mismatch: off}", vec![("a.example", to("192.0.2.1"))], None),
    ];
    for (yaml, forward, want) in table {
        let forward: Vec<(String, Lookup<IpAddr>)> = forward.into_iter().map(|(n, l)| (n.to_owned(), l)).collect();
        let got = lookups::judge_fcrdns(&rules(yaml), client, &forward);
        let got = got.map(|f| {
            assert_eq!(f.rule, Rule::FcrdnsMismatch);
            f.action
        });
        assert_eq!(got, want, "{yaml}: {forward:?}");
    }
}

#[test]
fn dnsbl_listing() {
    let a = |s: &str| -> Lookup<Ipv4Addr> { Ok(Answer::Records(vec![s.parse().unwrap()])) };
    let any = lookups::zone("bl.test", None, Setting::Reject, &[]);
    let only4 = lookups::zone("bl.test", None, Setting::Reject, &["127.0.0.4"]);
    let table: &[(&Zone, Lookup<Ipv4Addr>, Option<&str>)] = &[
        (&any, a("127.0.0.2"), Some("127.0.0.2")),
        (&any, a("127.0.1.3"), Some("127.0.1.3")),
        // Spamhaus' "query refused / open resolver" codes list nobody.
        (&any, a("127.255.255.254"), None),
        (&any, a("10.0.0.1"), None),
        (&any, Ok(Answer::NxDomain), None),
        (&any, timeout(), None),
        (&any, Err(LookupError::ServFail), None),
        (&only4, a("127.0.0.2"), None),
        (&only4, a("127.0.0.4"), Some("127.0.0.4")),
    ];
    for (zone, answer, want) in table {
        let got = lookups::listed(zone, answer);
        assert_eq!(got, want.map(|w| w.parse().unwrap()), "{zone:?} {answer:?}");
    }
}

#[test]
fn dnsbl_replies() {
    let cfg = rules("");
    let client = ip("192.0.2.99");
    let code: Ipv4Addr = "127.0.0.2".parse().unwrap();
    let text = |zone: &Zone, txt: Option<&str>| {
        let f = lookups::dnsbl_finding(&cfg, zone, client, code, txt).unwrap();
        assert_eq!(f.rule, Rule::Dnsbl);
        (f.action, f.reply().to_string())
    };
    let plain = lookups::zone("bl.test", None, Setting::Reject, &[]);
    assert_eq!(
        text(&plain, None),
        (R, "554 5.7.1 Service unavailable; client [192.0.2.99] blocked using bl.test (rule dnsbl)".into())
    );
    assert_eq!(
        text(&plain, Some("Listed: see https://bl.test/?192.0.2.99")).1,
        "554 5.7.1 Service unavailable; client [192.0.2.99] blocked using bl.test; \
         Listed: see https://bl.test/?192.0.2.99 (rule dnsbl)"
    );
    // TXT comes from the network: no CR/LF or 8-bit in a reply, bounded length.
    let (_, hostile) = text(&plain, Some("evil\r\n250 ok\u{e9}"));
    assert!(hostile.contains("evil??250 ok?"), "{hostile}");
    let (_, long) = text(&plain, Some(&"x".repeat(1000)));
    assert!(long.len() < 300 && long.contains("..."), "{long}");
    let custom = lookups::zone("bl2.test", Some("{ip} is on {zone} ({txt})"), Setting::TempFail, &[]);
    assert_eq!(
        text(&custom, Some("why")),
        (T, "450 4.7.1 Service unavailable; 192.0.2.99 is on bl2.test (why) (rule dnsbl)".into())
    );
    let monitor = lookups::zone("bl.test", None, Setting::Monitor, &[]);
    assert_eq!(text(&monitor, None).0, M);
    let in_monitor_mode = lookups::dnsbl_finding(&rules("mode: monitor"), &plain, client, code, None);
    assert_eq!(in_monitor_mode.map(|f| f.action), Some(M));
}

#[test]
fn zone_settings() {
    let helo = helo_config(
        "rules: {dnsbl: reject}\ndnsbl:\n  - zone: a.test\n  - zone: b.test\n    action: off\n  - zone: c.test\n    action: monitor\n",
    );
    let zones = lookups::Zones::compile(&helo).list;
    let names: Vec<String> = zones.iter().map(|z| format!("{z:?}")).collect();
    assert_eq!(zones.len(), 2, "{names:?}");
    assert!(names[0].contains("a.test") && names[0].contains("Reject"));
    assert!(names[1].contains("c.test") && names[1].contains("Monitor"));
}

/// Weighted lists (postscreen's `postscreen_dnsbl_threshold`): the weights
/// of the zones that list the client add up; one finding at the threshold;
/// a zone with its own `action` still judges alone; an allowlist's negative
/// weight can exempt the client.
#[test]
fn weighted_zones_add_up_to_the_threshold() {
    let helo = helo_config(
        "rules: {dnsbl: reject}\ndnsbl_threshold: 3\ndnsbl_allowlist_threshold: -1\ndnsbl:\n  - zone: big.test\n    weight: 2\n  - zone: small.test\n  - zone: own.test\n    action: monitor\n  - zone: wl.test\n    weight: -5\n",
    );
    let zones = lookups::Zones::compile(&helo);
    let rules = rules("rules: {dnsbl: reject}");
    let client: IpAddr = "192.0.2.99".parse().unwrap();
    let code: Ipv4Addr = "127.0.0.2".parse().unwrap();
    let by = |names: &[&str]| -> Vec<lookups::Listing<'_>> {
        zones
            .list
            .iter()
            .filter(|z| names.iter().any(|n| format!("{z:?}").contains(&format!("\"{n}\""))))
            .map(|zone| lookups::Listing { zone, code, txt: None })
            .collect()
    };
    let judge = |names: &[&str]| lookups::judge_dnsbl(&rules, &zones, client, by(names));
    let (found, allowlisted) = judge(&["big.test"]);
    assert!(found.is_empty() && !allowlisted, "2 is under 3: {found:?}");
    let (found, _) = judge(&["big.test", "small.test"]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].action, R);
    let reply = found[0].reply().to_string();
    assert!(reply.contains("big.test, small.test (score 3)") && reply.ends_with("(rule dnsbl)"), "{reply}");
    let (found, _) = judge(&["own.test"]);
    assert_eq!(found.iter().map(|f| f.action).collect::<Vec<_>>(), [M], "its own action");
    let (found, allowlisted) = judge(&["wl.test", "small.test"]);
    assert!(found.is_empty() && allowlisted, "an allowlisted client: {found:?}");
    let (found, allowlisted) = judge(&["wl.test", "big.test", "small.test"]);
    assert!(found.is_empty() && allowlisted, "-5 + 3 is still allowlisted");
}

/// dnswl.org answers 127.0.0.255 when it refuses a query (rate limit,
/// public resolver): for an allowlist that is not a listing.
#[test]
fn an_allowlists_refusal_code_vouches_for_nobody() {
    let helo = helo_config("dnsbl_allowlist_threshold: -1\ndnsbl:\n  - zone: list.dnswl.test\n    weight: -5\n");
    let zones = lookups::Zones::compile(&helo);
    let answer = |a: &str| -> Lookup<Ipv4Addr> { Ok(Answer::Records(vec![a.parse().unwrap()])) };
    assert_eq!(lookups::listed(&zones.list[0], &answer("127.0.0.255")), None);
    assert!(lookups::listed(&zones.list[0], &answer("127.0.10.2")).is_some());
}
