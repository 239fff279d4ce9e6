//! Who trusts whom in the shipped MTA configurations: the MTA behind doorman
//! takes the real client from doorman's address only (XCLIENT for Postfix,
//! a PROXY header for Exim), and never trusts that address for relaying:
//! the open-relay trap of docs/deployment-identity.md, checked against the
//! address doorman really has in the compose stack.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::compose::{VARIANTS, doorman_config, render, service};
use super::support::repo;
use super::tools::str_at;

/// The parameters of a Postfix main.cf (`name = value`, continuation lines
/// joined).
pub(crate) fn postfix_params(text: &str) -> HashMap<String, String> {
    let mut params: HashMap<String, String> = HashMap::new();
    let mut last: Option<String> = None;
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty()) {
        if line.starts_with([' ', '\t']) {
            if let Some(value) = last.as_ref().and_then(|k| params.get_mut(k)) {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        let (name, value) = line.split_once('=').unwrap_or_else(|| panic!("not a main.cf line: {line:?}"));
        last = Some(name.trim().to_owned());
        params.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    params
}

/// The addresses and networks of a Postfix or Exim host list
/// (`a, b c` or `a : b`), parsed; other entries (names, lookups) fail the
/// test, since the checks below could not judge them.
pub(crate) fn networks(list: &str) -> Vec<IpNet> {
    list.split([',', ' ', ':', '\t'])
        .filter(|e| !e.is_empty())
        .map(|e| {
            let e = e.trim_start_matches('[').replace("]/", "/");
            e.parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .unwrap_or_else(|_| panic!("{e:?} is not an address or network"))
        })
        .collect()
}

/// `ip` is in one of `list`'s networks.
pub(crate) fn trusted(list: &str, ip: IpAddr) -> bool {
    networks(list).iter().any(|n| n.contains(&ip))
}

/// doorman's fixed address on the compose `mta` network.
fn doorman_address() -> IpAddr {
    let compose = render(&[]);
    let at = str_at(service(&compose, "doorman"), "/networks/mta/ipv4_address", "doorman");
    at.parse().unwrap_or_else(|e| panic!("{at}: {e}"))
}

/// The client identity a compose variant's doorman configuration sends.
fn identity(variant: usize) -> String {
    let config = doorman_config(&render(VARIANTS[variant].0));
    str_at(&config, "/upstream/client_identity", VARIANTS[variant].1).to_owned()
}

#[test]
fn compose_postfix_takes_xclient_from_doorman_only_and_never_trusts_it() {
    let doorman = doorman_address();
    assert_eq!(identity(0), "xclient");
    let main_cf = std::fs::read_to_string(repo().join("docker/postfix/main.cf")).expect("main.cf");
    let p = postfix_params(&main_cf);
    assert_eq!(networks(&p["smtpd_authorized_xclient_hosts"]), [IpNet::from(doorman)], "XCLIENT from doorman only");
    assert!(!trusted(&p["mynetworks"], doorman), "doorman's {doorman} is in mynetworks: an open relay");
    assert!(!p["smtpd_relay_restrictions"].contains("permit"), "{}", p["smtpd_relay_restrictions"]);
}

#[test]
fn compose_exim_takes_proxy_from_doorman_only_and_never_trusts_it() {
    let doorman = doorman_address();
    assert_eq!(identity(1), "proxy-v2");
    let conf = std::fs::read_to_string(repo().join("docker/exim/exim4.conf")).expect("exim4.conf");
    let setting = |name: &str| {
        conf.lines()
            .find_map(|l| l.strip_prefix(name)?.trim_start().strip_prefix('=').map(str::trim))
            .unwrap_or_else(|| panic!("no `{name} =` in exim4.conf"))
    };
    assert_eq!(setting("hosts_proxy"), "+doorman_hosts");
    assert_eq!(networks(setting("hostlist doorman_hosts")), [IpNet::from(doorman)]);
    assert_eq!(setting("hostlist relay_from_hosts"), "", "Exim trusts someone to relay");
}

/// Exchange has neither XCLIENT nor PROXY: the Received header it is.
#[test]
fn compose_exchange_gets_the_received_header() {
    assert_eq!(identity(2), "none");
}
