//! Every reply text of the HELO/client rules, in one place. Each text ends
//! with the rule that fired (`(rule our_name)`), and none repeats the
//! client's HELO argument (it may hold anything up to 500 octets).

use crate::config::Rule;
use crate::wire::Reply;

/// Why a rule refuses, as much as its reply needs to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The rule matched; `temporary` under a `tempfail` setting.
    Matched { temporary: bool },
    /// The rule's DNS lookup failed: never more than a temporary refusal.
    LookupFailed,
    /// A blocklist lists the client: the zone's expanded text.
    Listed { text: String, temporary: bool },
}

impl Cause {
    /// The refusal is temporary (4xx).
    pub fn is_temporary(&self) -> bool {
        match self {
            Self::Matched { temporary } | Self::Listed { temporary, .. } => *temporary,
            Self::LookupFailed => true,
        }
    }
}

/// The reply of a finding of `rule` for `cause`.
pub(crate) fn reply(rule: Rule, cause: &Cause) -> Reply {
    match cause {
        Cause::Matched { temporary: false } => rejected(rule),
        Cause::Matched { temporary: true } => tempfailed(rule),
        Cause::LookupFailed => lookup_failed(rule),
        Cause::Listed { text, temporary } => dnsbl(text, !temporary),
    }
}

/// The 5xx reply of `rule` (for [`Rule::Dnsbl`], see [`dnsbl`]).
pub(crate) fn rejected(rule: Rule) -> Reply {
    let (code, enhanced, text) = permanent(rule);
    Reply::new(code, format!("{enhanced} {text} (rule {rule})"))
}

/// The 4xx reply of `rule` set to `tempfail`: the same text as
/// [`rejected`], 450 and enhanced class 4.
pub(crate) fn tempfailed(rule: Rule) -> Reply {
    let (_, enhanced, text) = permanent(rule);
    Reply::new(450, format!("4{} {text} (rule {rule})", &enhanced[1..]))
}

/// A DNS rule whose lookup failed (timeout, SERVFAIL): never a 5xx.
pub(crate) fn lookup_failed(rule: Rule) -> Reply {
    let (_, enhanced, _) = permanent(rule);
    let what = match rule {
        Rule::NoPtr | Rule::FcrdnsMismatch => "Client host rejected: reverse DNS lookup failed",
        Rule::Dnsbl => "Client host rejected: blocklist lookup failed",
        _ => "Helo command rejected: host name lookup failed",
    };
    Reply::new(450, format!("4{} {what}, try again later (rule {rule})", &enhanced[1..]))
}

/// The reply of a DNSBL listing: `text` is the zone's expanded message.
/// `permanent`: 554 5.7.1, else 450 4.7.1.
pub(crate) fn dnsbl(text: &str, permanent: bool) -> Reply {
    let (code, enhanced) = if permanent { (554, "5.7.1") } else { (450, "4.7.1") };
    Reply::new(code, format!("{enhanced} Service unavailable; {text} (rule {})", Rule::Dnsbl))
}

/// Code, enhanced code (RFC 3463; 5.7.25 is RFC 7372's "reverse DNS
/// validation failed") and text of each rule's rejection.
fn permanent(rule: Rule) -> (u16, &'static str, &'static str) {
    match rule {
        Rule::NoHelo => (503, "5.5.1", "Error: send HELO/EHLO first"),
        Rule::InvalidSyntax => (501, "5.5.2", "Helo command rejected: invalid host name"),
        Rule::OurName => (550, "5.7.1", "Helo command rejected: that is our own name"),
        Rule::OurIp => (550, "5.7.1", "Helo command rejected: that is our own address"),
        Rule::Localhost => (550, "5.7.1", "Helo command rejected: you are not localhost"),
        Rule::BareIp => (501, "5.5.2", "Helo command rejected: an address needs brackets, as in [192.0.2.1]"),
        Rule::LiteralMismatch => (550, "5.7.1", "Helo command rejected: that address literal is not your address"),
        Rule::PrivateAddress => {
            (550, "5.7.1", "Helo command rejected: private or reserved address from a public client")
        }
        Rule::Dotless => (504, "5.5.2", "Helo command rejected: need a fully-qualified host name"),
        Rule::UnderOurDomain => (550, "5.7.1", "Helo command rejected: that name is in our own domain"),
        Rule::Unresolvable => (550, "5.7.1", "Helo command rejected: host name not found"),
        Rule::NoPtr => (550, "5.7.25", "Client host rejected: cannot find your reverse DNS (PTR)"),
        Rule::FcrdnsMismatch => {
            (550, "5.7.25", "Client host rejected: your reverse DNS does not resolve back to your address")
        }
        Rule::Dnsbl => (554, "5.7.1", "Service unavailable; client blocked"),
        Rule::Pipelining => (550, "5.5.1", "Protocol error: commands sent before their replies"),
        Rule::NonSmtpCommand => (554, "5.5.1", "Protocol error: this is an SMTP service"),
        Rule::BareNewline => (550, "5.5.2", "Protocol error: a command ended by a bare newline"),
        Rule::EarlyTalker => (554, "5.5.1", "Protocol error: talked before the greeting"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reply_names_its_rule_and_has_a_matching_class() {
        for rule in Rule::ALL {
            for (reply, class) in [(rejected(rule), '5'), (tempfailed(rule), '4'), (lookup_failed(rule), '4')] {
                let text = reply.lines().join("");
                assert!(text.ends_with(&format!("(rule {})", rule.as_str())), "{text}");
                let enhanced = reply.enhanced_code().unwrap_or_default();
                assert!(enhanced.starts_with(class), "{reply}");
                assert_eq!(reply.code() / 100, u16::from(class as u8 - b'0'), "{reply}");
                assert!(text.is_ascii() && text.len() < 200, "{text}");
            }
        }
        assert_eq!(rejected(Rule::NoHelo).to_string(), "503 5.5.1 Error: send HELO/EHLO first (rule no_helo)");
        assert_eq!(rejected(Rule::InvalidSyntax).code(), 501);
        assert_eq!(rejected(Rule::OurName).enhanced_code(), Some("5.7.1"));
        assert_eq!(tempfailed(Rule::OurName).enhanced_code(), Some("4.7.1"));
        assert_eq!(dnsbl("x", true).code(), 554);
        assert_eq!(dnsbl("x", false).enhanced_code(), Some("4.7.1"));
    }
}
