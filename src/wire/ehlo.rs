//! EHLO capabilities: what the upstream offers, and what doorman advertises.
//!
//! doorman advertises only extensions it carries end to end: an allowlist,
//! intersected with what the upstream offers, plus keywords the operator
//! explicitly passes. CHUNKING is doorman's own (it reads BDAT chunks
//! itself, whatever the upstream offers); BINARYMIME only with an upstream
//! that offers it and CHUNKING, since binary content can only be relayed by
//! BDAT. Everything else (PIPECONNECT, XEXCH50, XCLIENT, XFORWARD, STARTTLS,
//! ETRN, VRFY, unknown X- keywords, …) is removed. SIZE is the smaller of
//! the upstream's and doorman's limit.

use super::reply::Reply;

/// Keywords relayed when the upstream offers them. They need no help from the
/// proxy beyond parameter validation (see [`Advertised`]).
const RELAYED: &[&str] = &["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8"];

/// One EHLO keyword with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Capability {
    keyword: String,
    params: String,
}

/// The extensions listed in an upstream EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    list: Vec<Capability>,
}

impl Capabilities {
    /// Reads the keyword lines of an EHLO reply (the first line is the host name).
    pub fn from_ehlo(reply: &Reply) -> Self {
        let list = reply
            .lines()
            .iter()
            .skip(1)
            .filter_map(|line| {
                let (keyword, params) = line.split_once(' ').unwrap_or((line, ""));
                (!keyword.is_empty())
                    .then(|| Capability { keyword: keyword.to_ascii_uppercase(), params: params.trim().to_owned() })
            })
            .collect();
        Self { list }
    }

    fn get(&self, keyword: &str) -> Option<&Capability> {
        self.list.iter().find(|c| c.keyword == keyword)
    }

    /// The upstream offers `keyword`.
    pub fn has(&self, keyword: &str) -> bool {
        self.get(keyword).is_some()
    }

    /// The parameters of `keyword` (`NAME ADDR ...` for XCLIENT), if offered.
    pub fn params(&self, keyword: &str) -> Option<&str> {
        self.get(keyword).map(|c| c.params.as_str())
    }

    /// The SIZE limit, if the upstream declared a non-zero one.
    pub fn size(&self) -> Option<u64> {
        self.get("SIZE").and_then(|c| c.params.parse().ok()).filter(|&n| n > 0)
    }
}

/// What doorman adds to or takes from the upstream's list.
#[derive(Debug, Clone, Default)]
pub struct EhloPolicy {
    /// doorman's own message size limit.
    pub max_message_size: u64,
    /// Relay AUTH (only when the session may authenticate).
    pub auth: bool,
    /// Offer STARTTLS (doorman terminates TLS itself).
    pub starttls: bool,
    /// Offer CHUNKING (BDAT), and BINARYMIME where the upstream carries it.
    pub chunking: bool,
    /// Extra keywords the operator chose to relay.
    pub pass_keywords: Vec<String>,
    /// RFC 3865 NO-SOLICITING; `Some("")` is the bare keyword.
    pub no_soliciting: Option<String>,
}

/// The extensions doorman advertised to the client, used to validate the
/// parameters of MAIL and RCPT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advertised {
    /// The SIZE value advertised.
    pub size: u64,
    /// Keywords advertised (upper case).
    pub keywords: Vec<String>,
}

impl Advertised {
    /// `keyword` was advertised.
    pub fn has(&self, keyword: &str) -> bool {
        self.keywords.iter().any(|k| k == keyword)
    }
}

/// Builds doorman's EHLO reply from the upstream's capabilities.
pub fn advertise(hostname: &str, upstream: &Capabilities, policy: &EhloPolicy) -> (Reply, Advertised) {
    let size = upstream.size().map_or(policy.max_message_size, |up| up.min(policy.max_message_size));
    let mut lines = vec![hostname.to_owned()];
    let mut keywords = vec!["SIZE".to_owned()];
    for cap in &upstream.list {
        let wanted = RELAYED.contains(&cap.keyword.as_str())
            || (cap.keyword == "AUTH" && policy.auth)
            || policy.pass_keywords.iter().any(|k| k.eq_ignore_ascii_case(&cap.keyword));
        if wanted && !keywords.contains(&cap.keyword) {
            lines.push(if cap.params.is_empty() {
                cap.keyword.clone()
            } else {
                format!("{} {}", cap.keyword, cap.params)
            });
            keywords.push(cap.keyword.clone());
        }
    }
    lines.insert(1, format!("SIZE {size}"));
    if policy.chunking {
        let mut own = vec!["CHUNKING"];
        if upstream.has("CHUNKING") && upstream.has("BINARYMIME") {
            own.push("BINARYMIME");
        }
        for keyword in own {
            if !keywords.iter().any(|have| have == keyword) {
                lines.push(keyword.to_owned());
                keywords.push(keyword.to_owned());
            }
        }
    }
    if policy.starttls {
        lines.push("STARTTLS".to_owned());
        keywords.push("STARTTLS".to_owned());
    }
    if let Some(value) = &policy.no_soliciting {
        lines.push(if value.is_empty() { "NO-SOLICITING".to_owned() } else { format!("NO-SOLICITING {value}") });
    }
    (Reply::multi(250, lines), Advertised { size, keywords })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream() -> Capabilities {
        let lines = [
            "backend.test",
            "PIPELINING",
            "SIZE 10240000",
            "VRFY",
            "ETRN",
            "STARTTLS",
            "AUTH PLAIN LOGIN",
            "AUTH=PLAIN LOGIN",
            "XCLIENT NAME ADDR",
            "XFORWARD NAME ADDR",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "DSN",
            "SMTPUTF8",
            "CHUNKING",
            "BINARYMIME",
            "PIPECONNECT",
            "XEXCH50",
            "X-FOO bar",
            "",
        ];
        Capabilities::from_ehlo(&Reply::multi(250, lines.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn filters_to_the_allowlist_and_rewrites_the_name() {
        let policy = EhloPolicy { max_message_size: 25 << 20, ..Default::default() };
        let (reply, adv) = advertise("mx.example.test", &upstream(), &policy);
        assert_eq!(
            reply.lines(),
            ["mx.example.test", "SIZE 10240000", "PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8"]
        );
        assert_eq!(adv.size, 10240000);
        assert!(adv.has("DSN") && !adv.has("AUTH") && !adv.has("CHUNKING"));
    }

    #[test]
    fn size_is_the_smaller_limit_and_options_apply() {
        let policy = EhloPolicy {
            max_message_size: 1000,
            auth: true,
            starttls: true,
            chunking: false,
            pass_keywords: vec!["x-foo".into()],
            no_soliciting: Some(String::new()),
        };
        let (reply, _) = advertise("mx", &upstream(), &policy);
        let lines = reply.lines();
        assert!(lines.contains(&"SIZE 1000".to_owned()));
        assert!(lines.contains(&"AUTH PLAIN LOGIN".to_owned()));
        assert!(lines.contains(&"X-FOO bar".to_owned()));
        assert!(lines.contains(&"STARTTLS".to_owned()), "doorman's own STARTTLS");
        assert_eq!(lines.last().map(String::as_str), Some("NO-SOLICITING"));
        assert!(!lines.iter().any(|l| l.starts_with("AUTH=")));
        assert!(!lines.iter().any(|l| l == "CHUNKING"), "chunking: false");
        // An upstream without SIZE: ours.
        let (reply, adv) = advertise("mx", &Capabilities::default(), &policy);
        assert_eq!(reply.lines()[1], "SIZE 1000");
        assert_eq!(adv.size, 1000);
    }

    /// CHUNKING is doorman's own; BINARYMIME needs the upstream's BDAT.
    #[test]
    fn chunking_is_ours_and_binarymime_the_upstreams() {
        let policy = EhloPolicy { max_message_size: 1000, chunking: true, ..Default::default() };
        let (_, adv) = advertise("mx", &upstream(), &policy);
        assert!(adv.has("CHUNKING") && adv.has("BINARYMIME"));
        let (reply, adv) = advertise("mx", &Capabilities::default(), &policy);
        assert!(adv.has("CHUNKING") && !adv.has("BINARYMIME"), "{reply}");
        let only_binary = Capabilities::from_ehlo(&Reply::multi(250, vec!["up".into(), "BINARYMIME".into()]));
        assert!(!advertise("mx", &only_binary, &policy).1.has("BINARYMIME"));
    }
}
