//! Software names and versions in the greeting, the EHLO reply and HELP,
//! and EHLO keywords that give the software away: what `nmap -sV` reads.

use crate::audit::finding::{Check, Finding, Severity};
use crate::audit::raw_reply::RawReply;
use crate::audit::transcript::Exchange;

/// Product names (matched as whole words, case-insensitively) and the name reported.
const PRODUCTS: &[(&str, &str)] = &[
    ("postfix", "Postfix"),
    ("exim", "Exim"),
    ("sendmail", "Sendmail"),
    ("microsoft esmtp mail service", "Microsoft Exchange"),
    ("microsoft", "Microsoft"),
    ("exchange server", "Microsoft Exchange"),
    ("qmail", "qmail"),
    ("netqmail", "qmail"),
    ("opensmtpd", "OpenSMTPD"),
    ("haraka", "Haraka"),
    ("hmailserver", "hMailServer"),
    ("mdaemon", "MDaemon"),
    ("zimbra", "Zimbra"),
    ("courier", "Courier"),
    ("icewarp", "IceWarp"),
    ("kerio", "Kerio Connect"),
    ("domino", "HCL Domino"),
    ("communigate", "CommuniGate Pro"),
    ("axigen", "Axigen"),
    ("mailenable", "MailEnable"),
    ("stalwart", "Stalwart"),
    ("maddy", "maddy"),
    ("halon", "Halon"),
    ("smail", "Smail"),
    ("mercury", "Mercury"),
    ("argosoft", "ArGoSoft"),
    ("ironport", "Cisco IronPort"),
    ("barracuda", "Barracuda"),
    ("fortimail", "FortiMail"),
    ("proofpoint", "Proofpoint"),
    ("mimecast", "Mimecast"),
    ("sophos", "Sophos"),
    ("coremail", "Coremail"),
    ("james", "Apache James"),
    ("smtpd.py", "Python smtpd"),
    ("aiosmtpd", "aiosmtpd"),
    ("debian", "Debian"),
    ("ubuntu", "Ubuntu"),
    ("centos", "CentOS"),
    ("red hat", "Red Hat"),
    ("rhel", "Red Hat"),
    ("fedora", "Fedora"),
    ("suse", "SUSE"),
    ("freebsd", "FreeBSD"),
    ("openbsd", "OpenBSD"),
    ("netbsd", "NetBSD"),
    ("windows", "Windows"),
];

/// EHLO keywords only one product sends.
const KEYWORDS: &[(&str, &str)] = &[
    ("XEXCH50", "Microsoft Exchange"),
    ("X-EXPS", "Microsoft Exchange"),
    ("X-ANONYMOUSTLS", "Microsoft Exchange"),
    ("X-LINK2STATE", "Microsoft Exchange"),
    ("XRDST", "Microsoft Exchange"),
    ("XSHADOWREQUEST", "Microsoft Exchange"),
    ("XCLIENT", "Postfix"),
    ("XFORWARD", "Postfix"),
    ("PIPECONNECT", "Exim"),
    ("X_PIPE_CONNECT", "Exim"),
];

/// What a text gives away.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Leak {
    /// Product and system names, in order of appearance, without repeats.
    pub(crate) names: Vec<&'static str>,
    /// Version-like tokens (`4.96`, `8.15.2/8.15.2`).
    pub(crate) versions: Vec<String>,
}

/// An RFC 3463 enhanced status code (`2.0.0`, `5.7.1`), not a version.
fn is_enhanced_code(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..].iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The names and versions in `text` (lines; an enhanced status code at the
/// start of a line is skipped).
pub(crate) fn leak(text: &str) -> Leak {
    let text: String = text
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((first, rest)) if is_enhanced_code(first) => rest,
            _ if is_enhanced_code(l) => "",
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let text = text.as_str();
    let lower = text.to_ascii_lowercase();
    let mut found: Vec<(usize, &'static str)> = Vec::new();
    for &(needle, name) in PRODUCTS {
        if let Some(at) = word_at(&lower, needle)
            && !found.iter().any(|(_, n)| *n == name)
        {
            found.push((at, name));
        }
    }
    found.sort_by_key(|(at, _)| *at);
    let versions = text
        .split(|c: char| c.is_whitespace() || "(),;\"'".contains(c))
        .map(|t| t.trim_start_matches(['v', 'V']).trim_end_matches(['.', ':']))
        .filter(|t| is_version(t))
        .map(str::to_owned)
        .collect();
    Leak { names: found.into_iter().map(|(_, n)| n).collect(), versions }
}

/// The position of `needle` in `hay` as a whole word.
fn word_at(hay: &str, needle: &str) -> Option<usize> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    hay.match_indices(needle)
        .find(|(at, _)| !word(hay[..*at].chars().next_back()) && !word(hay[at + needle.len()..].chars().next()))
        .map(|(at, _)| at)
}

/// `4.96`, `8.15.2/8.15.2`, `15.2.1118.7-beta`: digits and dots first (one
/// to three dots), not an IPv4 address.
fn is_version(token: &str) -> bool {
    let core: &str = token.split(['/', '-', '+', '_']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    numeric && (2..=4).contains(&parts.len()) && core.parse::<std::net::Ipv4Addr>().is_err()
}

/// The fix for a leak in `place`, naming the setting of the first product found.
fn fix(place: Check, names: &[&str]) -> String {
    let product = names.iter().find(|n| matches!(**n, "Postfix" | "Exim" | "Sendmail" | "Microsoft Exchange"));
    let setting = match (place, product.copied()) {
        (Check::SoftwareBanner, Some("Postfix")) => "Postfix: smtpd_banner = $myhostname ESMTP",
        (Check::SoftwareBanner, Some("Exim")) => "Exim: smtp_banner = $smtp_active_hostname ESMTP",
        (Check::SoftwareBanner, Some("Sendmail")) => "Sendmail: define(`confSMTP_LOGIN_MSG', `$j ESMTP')",
        (Check::SoftwareBanner, Some("Microsoft Exchange")) => {
            "Exchange: Set-ReceiveConnector -Banner \"220 <host name> ESMTP\""
        }
        (Check::SoftwareHelp, Some("Sendmail")) => "Sendmail: define(`HELP_FILE', `')",
        (Check::SoftwareHelp, _) => "turn HELP off or make it generic",
        _ => "name no software or version",
    };
    format!("{setting}; or put doorman in front (banner.mode: rewrite, commands.help: local)")
}

/// A finding for `text` (one line, or a whole reply) seen in `place`.
fn finding(place: Check, what: &str, text: &str, evidence: String) -> Option<Finding> {
    let Leak { names, versions } = leak(text);
    if names.is_empty() && versions.is_empty() {
        return None;
    }
    let severity = if versions.is_empty() { Severity::Low } else { Severity::Medium };
    let mut told: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    told.extend(versions.iter().map(|v| format!("version {v}")));
    Some(
        Finding::new(place, severity, format!("{what} names {}", told.join(", ")))
            .evidence(evidence)
            .fix(fix(place, &names)),
    )
}

/// Findings for the greeting, the EHLO reply's first line, HELP, and keywords.
pub(crate) fn judge(
    greeting: &RawReply,
    ehlo: Option<&Exchange>,
    help: Option<&RawReply>,
    keywords: &[(String, String)],
    out: &mut Vec<Finding>,
) {
    // The first word of a greeting or EHLO reply is the host name, not a leak.
    let after_name = |t: &str| t.split_once(' ').map_or(String::new(), |(_, rest)| rest.to_owned());
    let texts = greeting.texts();
    let banner = texts.iter().enumerate().map(|(i, t)| if i == 0 { after_name(t) } else { t.clone() });
    out.extend(finding(
        Check::SoftwareBanner,
        "the greeting",
        &banner.collect::<Vec<_>>().join("\n"),
        greeting.summary(),
    ));
    if let Some((ehlo, first)) = ehlo.and_then(|e| Some(e).zip(e.reply.lines.first())) {
        // Servers echo the client's name ("Hello <name> [address]"): not theirs.
        let ours = ehlo.command.split_once(' ').map_or("", |(_, name)| name);
        let text = after_name(&first.text());
        let text = if ours.is_empty() { text } else { text.replace(ours, "") };
        out.extend(finding(Check::SoftwareEhlo, "the EHLO reply", &text, first.display()));
    }
    if let Some(help) = help.filter(|r| r.is_positive()) {
        out.extend(finding(Check::SoftwareHelp, "HELP", &help.texts().join("\n"), help.summary()));
    }
    let hints: Vec<String> = keywords
        .iter()
        .filter_map(|(k, _)| KEYWORDS.iter().find(|(kw, _)| kw == k).map(|(kw, product)| format!("{kw} ({product})")))
        .collect();
    if !hints.is_empty() {
        out.push(
            Finding::new(Check::SoftwareKeywords, Severity::Low, "EHLO keywords give the software away")
                .evidence(hints.join(", "))
                .fix("Advertise only what clients need, or put doorman in front: it advertises only what it carries"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        let l = leak("ESMTP Postfix (Debian/GNU)");
        assert_eq!(l.names, ["Postfix", "Debian"]);
        assert!(l.versions.is_empty());
        let l = leak("ESMTP Exim 4.96 Sun, 29 Nov 2026 14:47:31 +0000");
        assert_eq!((l.names, l.versions), (vec!["Exim"], vec!["4.96".to_owned()]));
        let l = leak("ESMTP Sendmail 8.15.2/8.15.2; Sun, 29 Nov 2026");
        assert_eq!(l.versions, ["8.15.2/8.15.2"]);
        assert_eq!(leak("Microsoft ESMTP MAIL Service, Version: 15.2.1118.7 ready").versions, ["15.2.1118.7"]);
    }

    #[test]
    fn addresses_hosts_and_plain_words_are_not_leaks() {
        assert_eq!(leak("Hello client.example.net [127.0.0.1]"), Leak::default());
        assert_eq!(leak("ESMTP ready; postfixes and eximious words"), Leak::default());
        assert_eq!(leak("ESMTP 14:47:31 +0000"), Leak::default());
        assert_eq!(leak("2.0.0 Commands: HELO EHLO\n5.7.1 denied"), Leak::default());
        assert_eq!(leak("Postfix 3.7.11").versions, ["3.7.11"]);
    }
}
