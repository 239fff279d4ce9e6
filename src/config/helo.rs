//! The HELO/EHLO and client rules' configuration (`helo:`). `docs/helo.md`
//! describes every key, its default and the real clients each rule can
//! hurt; the rule engine that reads these values is `crate::policy::helo`.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Deserializer, Serialize, de};

use super::rules::{Mode, Rule, Setting};
use super::types::{Hostname, Network};

/// HELO/EHLO rules (`helo:`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Helo {
    /// `enforce`: findings reject or tempfail as configured. `monitor`: every
    /// reject and tempfail becomes a logged "would reject"; nothing is refused.
    #[serde(default)]
    pub mode: Mode,
    /// Deliver a HELO/client rejection at RCPT rather than at HELO (as Postfix's
    /// `smtpd_delay_reject`): clients that mishandle a rejected HELO still get
    /// a clear 5xx, and the log shows sender and recipients.
    #[serde(default = "yes")]
    pub delay_reject: bool,
    /// Client networks that skip every rule (CIDR or single address).
    #[serde(default)]
    pub exempt: Vec<Network>,
    /// Domains we receive mail for: a HELO naming one is `our_name`, a name
    /// under one is `under_our_domain`.
    #[serde(default)]
    pub local_domains: Vec<Hostname>,
    /// Our own public addresses beyond the listener's (NAT, load balancer).
    #[serde(default)]
    pub our_ips: Vec<IpAddr>,
    /// What each rule does.
    #[serde(default)]
    pub rules: HeloRules,
    /// DNS blocklists queried with the client's address.
    #[serde(default)]
    pub dnsbl: Vec<Dnsbl>,
    /// Weighted blocklists, as postscreen's `postscreen_dnsbl_threshold`: the
    /// client is refused (by `rules.dnsbl`) when the weights of the zones
    /// that list it add up to this. Zones with their own `action` keep it.
    /// Absent: every zone judges alone.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "some_positive")]
    pub dnsbl_threshold: Option<i32>,
    /// A combined score at or below this (negative: allowlists such as
    /// DNSWL have negative weights) exempts the client from every other
    /// rule, as postscreen's `postscreen_dnsbl_allowlist_threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "some_negative")]
    pub dnsbl_allowlist_threshold: Option<i32>,
}

impl Default for Helo {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            delay_reject: true,
            exempt: Vec::new(),
            local_domains: Vec::new(),
            our_ips: Vec::new(),
            rules: HeloRules::default(),
            dnsbl: Vec::new(),
            dnsbl_threshold: None,
            dnsbl_allowlist_threshold: None,
        }
    }
}

fn yes() -> bool {
    true
}

impl Helo {
    /// Warnings for a valid but risky configuration: rules turned up to
    /// reject that are known to refuse real, legitimate clients.
    pub fn warnings(&self) -> Vec<String> {
        let risky = [
            (Rule::Dotless, "Outlook and Pegasus send dotless names"),
            (Rule::UnderOurDomain, "Eudora sends machine.<our server name>"),
            (Rule::PrivateAddress, "desktops behind NAT send their private address"),
            (Rule::LiteralMismatch, "desktops behind NAT send their private address"),
            (Rule::Unresolvable, "RFC 5321 4.1.4: a HELO name that does not resolve is no reason to refuse mail"),
            (Rule::NoPtr, "many legitimate senders have no reverse DNS (RFC 5321 4.1.4)"),
            (Rule::FcrdnsMismatch, "many legitimate senders have mismatched reverse DNS (RFC 5321 4.1.4)"),
        ];
        risky
            .into_iter()
            .filter(|(rule, _)| self.rules.get(*rule) == Setting::Reject)
            .map(|(rule, why)| format!("helo.rules.{} is `reject`: {why}; see docs/helo.md", rule.as_str()))
            .collect()
    }
}

/// One setting per rule (`helo.rules:`). The key is the rule's name in logs
/// and metrics; a rule left out keeps its default ([`Rule::default_setting`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeloRules {
    /// MAIL without HELO/EHLO first.
    pub no_helo: Setting,
    /// Empty argument, or not a domain or address literal.
    pub invalid_syntax: Setting,
    /// Our host name or one of `local_domains`.
    pub our_name: Setting,
    /// One of our addresses, bracketed or bare.
    pub our_ip: Setting,
    /// `localhost`, `localhost.localdomain` or a loopback literal from a
    /// client that is not on loopback.
    pub localhost: Setting,
    /// An IP address without brackets.
    pub bare_ip: Setting,
    /// An address literal that is not the client's address.
    pub literal_mismatch: Setting,
    /// A private or reserved address from a client with a public address.
    pub private_address: Setting,
    /// A name without a dot.
    pub dotless: Setting,
    /// A name under our host name or a local domain.
    pub under_our_domain: Setting,
    /// A name whose A and AAAA lookups say NXDOMAIN.
    pub unresolvable: Setting,
    /// A client address without a PTR record.
    pub no_ptr: Setting,
    /// A client address whose PTR names do not resolve back to it.
    pub fcrdns_mismatch: Setting,
    /// A client address listed on one of `helo.dnsbl` (a zone's own
    /// `action` overrides this).
    pub dnsbl: Setting,
    /// Commands sent before their replies where PIPELINING was not offered.
    pub pipelining: Setting,
    /// An HTTP verb or a header line sent as a command (the connection
    /// closes whatever the setting; this decides the reply).
    pub non_smtp_command: Setting,
    /// A command ended by a bare LF.
    pub bare_newline: Setting,
    /// Data before the greeting (within `banner.greet_delay`): `reject`
    /// answers 554 instead of the greeting and closes, `tempfail` 421;
    /// `monitor` logs it and greets.
    pub early_talker: Setting,
}

impl Default for HeloRules {
    fn default() -> Self {
        Self {
            no_helo: Rule::NoHelo.default_setting(),
            invalid_syntax: Rule::InvalidSyntax.default_setting(),
            our_name: Rule::OurName.default_setting(),
            our_ip: Rule::OurIp.default_setting(),
            localhost: Rule::Localhost.default_setting(),
            bare_ip: Rule::BareIp.default_setting(),
            literal_mismatch: Rule::LiteralMismatch.default_setting(),
            private_address: Rule::PrivateAddress.default_setting(),
            dotless: Rule::Dotless.default_setting(),
            under_our_domain: Rule::UnderOurDomain.default_setting(),
            unresolvable: Rule::Unresolvable.default_setting(),
            no_ptr: Rule::NoPtr.default_setting(),
            fcrdns_mismatch: Rule::FcrdnsMismatch.default_setting(),
            dnsbl: Rule::Dnsbl.default_setting(),
            pipelining: Rule::Pipelining.default_setting(),
            non_smtp_command: Rule::NonSmtpCommand.default_setting(),
            bare_newline: Rule::BareNewline.default_setting(),
            early_talker: Rule::EarlyTalker.default_setting(),
        }
    }
}

impl HeloRules {
    /// The setting of `rule`.
    pub fn get(&self, rule: Rule) -> Setting {
        match rule {
            Rule::NoHelo => self.no_helo,
            Rule::InvalidSyntax => self.invalid_syntax,
            Rule::OurName => self.our_name,
            Rule::OurIp => self.our_ip,
            Rule::Localhost => self.localhost,
            Rule::BareIp => self.bare_ip,
            Rule::LiteralMismatch => self.literal_mismatch,
            Rule::PrivateAddress => self.private_address,
            Rule::Dotless => self.dotless,
            Rule::UnderOurDomain => self.under_our_domain,
            Rule::Unresolvable => self.unresolvable,
            Rule::NoPtr => self.no_ptr,
            Rule::FcrdnsMismatch => self.fcrdns_mismatch,
            Rule::Dnsbl => self.dnsbl,
            Rule::Pipelining => self.pipelining,
            Rule::NonSmtpCommand => self.non_smtp_command,
            Rule::BareNewline => self.bare_newline,
            Rule::EarlyTalker => self.early_talker,
        }
    }
}

/// One DNS blocklist (`helo.dnsbl[]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dnsbl {
    /// The zone, e.g. `zen.spamhaus.org`.
    pub zone: Hostname,
    /// Reply text when listed; `{ip}`, `{zone}` and `{txt}` (the zone's TXT
    /// record, sanitized; empty if none) are expanded. Default
    /// `client [{ip}] blocked using {zone}`, followed by the TXT reason if any.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "message")]
    pub message: Option<String>,
    /// Overrides `helo.rules.dnsbl` for this zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Setting>,
    /// The answers that mean "listed". Default: any 127.0.0.0/8 address except
    /// 127.255.255.0/24, which blocklists use for query errors (Spamhaus:
    /// "open resolver", "rate limited").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<Ipv4Addr>,
    /// This zone's weight toward `helo.dnsbl_threshold` (default 1);
    /// negative for an allowlist (it never refuses by itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

fn some_positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let n = i32::deserialize(d)?;
    if n > 0 { Ok(Some(n)) } else { Err(de::Error::custom("must be more than 0")) }
}

fn some_negative<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let n = i32::deserialize(d)?;
    if n < 0 { Ok(Some(n)) } else { Err(de::Error::custom("must be less than 0 (allowlists weigh negative)")) }
}

/// The longest DNSBL message template: the reply line must stay well under
/// the 512-octet limit once `{txt}` and the rule label are added.
const MESSAGE_MAX: usize = 200;

fn message<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    validate_message(&s).map_err(de::Error::custom)?;
    Ok(Some(s))
}

/// A DNSBL message template: printable ASCII, bounded, known placeholders.
fn validate_message(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MESSAGE_MAX {
        return Err(format!("must be 1 to {MESSAGE_MAX} characters"));
    }
    if let Some(c) = s.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(format!("{c:?} is not allowed: reply text is printable ASCII"));
    }
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| "unclosed `{`".to_owned())?;
        let name = &after[..close];
        if !matches!(name, "ip" | "zone" | "txt") {
            return Err(format!("unknown placeholder {{{name}}}; use {{ip}}, {{zone}} or {{txt}}"));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{Dns, Nameserver};

    fn helo(yaml: &str) -> Result<Helo, String> {
        serde_saphyr::from_str::<Helo>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let h = Helo::default();
        assert_eq!(h.mode, Mode::Enforce);
        assert!(h.delay_reject);
        let empty = helo("{}").unwrap();
        for rule in Rule::ALL {
            assert_eq!(empty.rules.get(rule), h.rules.get(rule), "{rule:?}");
            assert_eq!(h.rules.get(rule), rule.default_setting(), "{rule:?}");
        }
        assert!(h.warnings().is_empty());
        let d = Dns::default();
        assert!(d.nameservers.is_empty());
        assert_eq!(d.timeout, Duration::from_secs(3));
    }

    /// `off` is a string here, not YAML 1.1's boolean false.
    #[test]
    fn settings_parse() {
        let h = helo("mode: monitor\nrules:\n  dotless: reject\n  no_ptr: off\n  unresolvable: tempfail\n").unwrap();
        assert_eq!(h.mode, Mode::Monitor);
        assert_eq!(h.rules.dotless, Setting::Reject);
        assert_eq!(h.rules.no_ptr, Setting::Off);
        assert_eq!(h.rules.unresolvable, Setting::TempFail);
        assert_eq!(h.rules.our_name, Setting::Reject);
        assert!(h.warnings().iter().any(|w| w.contains("dotless")));
        assert!(helo("rules:\n  dotles: off\n").unwrap_err().contains("dotles"));
        assert!(helo("rules:\n  dotless: deny\n").is_err());
        assert!(helo("mode: relaxed\n").is_err());
    }

    #[test]
    fn networks() {
        let h = helo("exempt: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\"]\n").unwrap();
        assert_eq!(h.exempt.len(), 3);
        assert_eq!(h.exempt[1].0.to_string(), "192.0.2.7/32");
        let err = helo("exempt: [10.0.0.1/8]\n").unwrap_err();
        assert!(err.contains("10.0.0.0/8"), "{err}");
        assert!(helo("exempt: [10.0.0.0/33]\n").is_err());
        assert!(helo("exempt: [example.test]\n").is_err());
    }

    #[test]
    fn dnsbl_entries() {
        let h = helo(
            "dnsbl:\n  - zone: bl.test\n    message: \"[{ip}] listed on {zone}: {txt}\"\n    action: reject\n  - zone: zen.example\n",
        )
        .unwrap();
        assert_eq!(h.dnsbl[0].action, Some(Setting::Reject));
        assert_eq!(h.dnsbl[1].message, None);
        for bad in ["message: \"{host}\"", "message: \"a\\r\\nb\"", "message: \"open {ip\"", "message: \"\""] {
            let yaml = format!("dnsbl:\n  - zone: bl.test\n    {bad}\n");
            assert!(helo(&yaml).is_err(), "{bad}");
        }
        assert!(helo("dnsbl:\n  - zone: \"bl test\"\n").is_err());
    }

    /// The effective configuration round-trips through `doorman check`'s YAML.
    #[test]
    fn round_trip() {
        let yaml = "mode: monitor\nexempt: [10.0.0.0/8]\nour_ips: [192.0.2.1]\nlocal_domains: [example.test]\ndnsbl:\n  - zone: bl.test\n    answers: [127.0.0.2]\n";
        let h = helo(yaml).unwrap();
        let again = helo(&serde_saphyr::to_string(&h).unwrap()).unwrap();
        assert_eq!(serde_saphyr::to_string(&again).unwrap(), serde_saphyr::to_string(&h).unwrap());
        let d = Dns { nameservers: vec![Nameserver::parse("[::1]:5353").unwrap()], ..Dns::default() };
        let back: Dns = serde_saphyr::from_str(&serde_saphyr::to_string(&d).unwrap()).unwrap();
        assert_eq!(back.nameservers, d.nameservers);
    }

    /// docs/helo.md: its example parses, and its rule table gives every
    /// rule with the default the code has.
    #[test]
    fn docs_match() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Sections {
            helo: Helo,
            dns: Dns,
        }
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/helo.md");
        let doc = std::fs::read_to_string(path).unwrap();
        // The full example: the YAML block with both sections.
        let example = doc
            .split("```yaml\n")
            .skip(1)
            .filter_map(|rest| rest.split("```").next())
            .find(|block| block.contains("\ndns:\n"))
            .unwrap();
        let parsed: Sections = serde_saphyr::from_str(example).unwrap();
        assert_eq!(parsed.helo.dnsbl.len(), 2);
        for rule in Rule::ALL {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", rule.as_str())))
                .unwrap_or_else(|| panic!("docs/helo.md has no row for {rule}"));
            let default = format!("| `{}` |", rule.default_setting().as_str());
            assert!(row.contains(&default), "{row}");
            let example = format!("    {}: {}\n", rule.as_str(), rule.default_setting().as_str());
            assert!(doc.contains(&example), "the example misses {example:?}");
        }
    }
}
