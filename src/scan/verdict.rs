//! From a scanner's result to what happens to the message: the outcome label,
//! the action (with its reply), the headers to add. Pure: no I/O, no clocks,
//! so every mapping is table-tested below.

use super::rspamd::Action;
use super::{Outcome, ScanAction, ScanError, SpamReport, Verdict};
use crate::config::{OnError, ReplyTemplate, ScanReplies};
use crate::replies;

/// A scanner's failure policies and thresholds.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    on_error: OnError,
    on_too_big: OnError,
    /// spamd: at or above, tagged.
    tag_score: f64,
    /// spamd: at or above, refused.
    reject_score: Option<f64>,
}

impl Policy {
    pub(crate) fn new(on_error: OnError, on_too_big: OnError) -> Self {
        Self { on_error, on_too_big, tag_score: 5.0, reject_score: None }
    }

    pub(crate) fn with_scores(mut self, tag: f64, reject: Option<f64>) -> Self {
        self.tag_score = tag;
        self.reject_score = reject;
        self
    }
}

/// One scanner's decision.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    pub(crate) outcome: Outcome,
    pub(crate) action: ScanAction,
    /// Headers to add if the message is delivered: (name, unfolded value).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// Delivered without a verdict: the reason for `X-Doorman-Scan`.
    pub(crate) unscanned: Option<&'static str>,
    /// The failure policy that was applied, if any.
    pub(crate) applied: Option<OnError>,
    /// Signature, score or error, for logs.
    pub(crate) detail: Option<String>,
}

impl Decision {
    fn verdict(outcome: Outcome, action: ScanAction, detail: Option<String>) -> Self {
        Self { outcome, action, headers: Vec::new(), unscanned: None, applied: None, detail }
    }

    /// The policy word for logs.
    pub(crate) fn policy_word(&self) -> &'static str {
        match self.applied {
            Some(OnError::TempFail) => "tempfail",
            Some(OnError::Accept) => "accept",
            Some(OnError::Reject) => "reject",
            None => "none",
        }
    }
}

/// Renders the reply templates.
#[derive(Debug, Clone)]
pub(crate) struct Renderer {
    replies: ScanReplies,
    url: Option<String>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new(&ScanReplies::default(), None)
    }
}

/// Longest rendered reply text; a reply line must stay under 512 octets.
const MAX_TEXT: usize = 440;

impl Renderer {
    pub(crate) fn new(replies: &ScanReplies, url: Option<String>) -> Self {
        Self { replies: replies.clone(), url }
    }

    fn render(&self, template: &ReplyTemplate, virus: Option<&str>, score: Option<f64>, session_id: &str) -> String {
        let virus = virus.map_or_else(|| "-".to_owned(), |v| printable(v, 100));
        let score = score.map_or_else(|| "-".to_owned(), format_score);
        let sid = printable(session_id, 64);
        let sid = if sid.is_empty() { "-".to_owned() } else { sid };
        let mut text = template
            .as_str()
            .replace("{virus}", &virus)
            .replace("{score}", &score)
            .replace("{session_id}", &sid)
            .replace("{url}", self.url.as_deref().unwrap_or("-"));
        // Everything above is ASCII, so any byte index is a char boundary.
        text.truncate(MAX_TEXT);
        text
    }
}

/// `s` reduced to printable ASCII without spaces, at most `max` characters:
/// scanner and client data never put control characters into a reply.
fn printable(s: &str, max: usize) -> String {
    s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect()
}

/// A score with one decimal, without a negative zero (spamd says `-0.0`).
pub(crate) fn format_score(score: f64) -> String {
    let s = format!("{score:.1}");
    if s == "-0.0" { "0.0".to_owned() } else { s }
}

/// Applies `policy` to one scanner's result.
pub(crate) fn decide(
    scanner: &'static str,
    policy: &Policy,
    result: &Result<Verdict, ScanError>,
    render: &Renderer,
    session_id: &str,
) -> Decision {
    let r = &render.replies;
    match result {
        Ok(Verdict::Clean) => {
            let mut d = Decision::verdict(Outcome::Clean, ScanAction::Deliver, None);
            d.headers.push(("X-Virus-Scanned", format!("{scanner} (doorman)")));
            d
        }
        Ok(Verdict::Infected { signature }) => {
            let text = render.render(&r.virus, Some(signature), None, session_id);
            Decision::verdict(
                Outcome::Infected,
                ScanAction::Reject(replies::scan_virus(&text)),
                Some(signature.clone()),
            )
        }
        Ok(Verdict::Score(report)) => spamd_decision(policy, report, render, session_id),
        Ok(Verdict::Action { action, report }) => rspamd_decision(*action, report, render, session_id),
        Err(e) => failure(policy, e, render, session_id),
    }
}

fn spamd_decision(policy: &Policy, report: &SpamReport, render: &Renderer, session_id: &str) -> Decision {
    let score = report.score;
    let detail = Some(format!("score {}", format_score(score)));
    let (outcome, action) = if policy.reject_score.is_some_and(|r| score >= r) {
        let text = render.render(&render.replies.spam, None, Some(score), session_id);
        (Outcome::Spam, ScanAction::Reject(replies::scan_spam(&text)))
    } else if score >= policy.tag_score {
        (Outcome::Tagged, ScanAction::Deliver)
    } else {
        (Outcome::Ham, ScanAction::Deliver)
    };
    let mut d = Decision::verdict(outcome, action, detail);
    let is_spam = score >= policy.tag_score;
    if is_spam {
        d.headers.push(("X-Spam-Flag", "YES".into()));
    }
    d.headers.push(("X-Spam-Score", format_score(score)));
    d.headers.push((
        "X-Spam-Status",
        format!(
            "{}, score={} required={} tests={}",
            if is_spam { "Yes" } else { "No" },
            format_score(score),
            format_score(policy.tag_score),
            if report.rules.is_empty() { "none".to_owned() } else { report.rules.join(",") }
        ),
    ));
    d
}

fn rspamd_decision(rspamd_action: Action, report: &SpamReport, render: &Renderer, session_id: &str) -> Decision {
    let score = report.score;
    let detail = Some(format!("{} score {}", rspamd_action.as_str(), format_score(score)));
    let (outcome, act) = match rspamd_action {
        Action::Reject => {
            let text = render.render(&render.replies.spam, None, Some(score), session_id);
            (Outcome::Spam, ScanAction::Reject(replies::scan_spam(&text)))
        }
        Action::SoftReject | Action::Greylist => {
            let text = render.render(&render.replies.deferred, None, Some(score), session_id);
            (Outcome::Deferred, ScanAction::TempFail(replies::scan_deferred(&text)))
        }
        Action::AddHeader | Action::RewriteSubject => (Outcome::Tagged, ScanAction::Deliver),
        Action::NoAction => (Outcome::Ham, ScanAction::Deliver),
    };
    let mut d = Decision::verdict(outcome, act, detail);
    if outcome == Outcome::Tagged {
        d.headers.push(("X-Spam-Flag", "YES".into()));
    }
    d.headers.push(("X-Rspamd-Score", format!("{} / {}", format_score(score), format_score(report.required))));
    d.headers.push(("X-Rspamd-Action", rspamd_action.as_str().into()));
    if !report.rules.is_empty() {
        d.headers.push(("X-Rspamd-Symbols", report.rules.join(",")));
    }
    d
}

fn failure(policy: &Policy, e: &ScanError, render: &Renderer, session_id: &str) -> Decision {
    let outcome = e.outcome();
    let too_big = outcome == Outcome::TooBig;
    let applied = if too_big { policy.on_too_big } else { policy.on_error };
    let r = &render.replies;
    let action = match applied {
        OnError::Accept => ScanAction::Deliver,
        OnError::TempFail => {
            ScanAction::TempFail(replies::scan_tempfail(&render.render(&r.tempfail, None, None, session_id)))
        }
        OnError::Reject if too_big => {
            ScanAction::Reject(replies::scan_too_big(&render.render(&r.too_big, None, None, session_id)))
        }
        OnError::Reject => {
            ScanAction::Reject(replies::scan_unscanned(&render.render(&r.unscanned, None, None, session_id)))
        }
    };
    Decision {
        outcome,
        unscanned: (applied == OnError::Accept).then(|| outcome.unscanned_reason()),
        action,
        headers: Vec::new(),
        applied: Some(applied),
        detail: Some(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(score: f64) -> SpamReport {
        SpamReport { score, required: 5.0, rules: vec!["GTUBE".into(), "NO_RELAYS".into()] }
    }

    fn render() -> Renderer {
        Renderer::default()
    }

    fn spamd_policy() -> Policy {
        Policy::new(OnError::TempFail, OnError::Accept).with_scores(5.0, Some(10.0))
    }

    #[test]
    fn clamd_verdicts() {
        let p = Policy::new(OnError::TempFail, OnError::Reject);
        let d = decide("clamav", &p, &Ok(Verdict::Clean), &render(), "s1");
        assert_eq!((d.outcome, &d.action), (Outcome::Clean, &ScanAction::Deliver));
        assert_eq!(d.headers, vec![("X-Virus-Scanned", "clamav (doorman)".into())]);

        let v = Verdict::Infected { signature: "Eicar.UNOFFICIAL\r\nX".into() };
        let d = decide("clamav", &p, &Ok(v), &render(), "s1");
        assert_eq!(d.outcome, Outcome::Infected);
        let ScanAction::Reject(reply) = d.action else { panic!("{:?}", d.action) };
        assert_eq!(reply.code(), 554);
        assert_eq!(reply.lines()[0], "5.7.1 Error: message rejected, virus found: Eicar.UNOFFICIALX (id s1)");
    }

    #[test]
    fn spamd_thresholds() {
        let p = spamd_policy();
        for (score, outcome, flag, reject) in [
            (-0.0, Outcome::Ham, false, false),
            (4.9, Outcome::Ham, false, false),
            (5.0, Outcome::Tagged, true, false),
            (9.99, Outcome::Tagged, true, false),
            (10.0, Outcome::Spam, true, true),
            (1002.7, Outcome::Spam, true, true),
        ] {
            let d = decide("spamassassin", &p, &Ok(Verdict::Score(report(score))), &render(), "id9");
            assert_eq!(d.outcome, outcome, "{score}");
            assert_eq!(d.headers.iter().any(|(n, _)| *n == "X-Spam-Flag"), flag);
            assert_eq!(matches!(d.action, ScanAction::Reject(_)), reject, "{score}");
        }
        let d = decide("spamassassin", &p, &Ok(Verdict::Score(report(-0.0))), &render(), "x");
        assert_eq!(
            d.headers,
            vec![
                ("X-Spam-Score", "0.0".into()),
                ("X-Spam-Status", "No, score=0.0 required=5.0 tests=GTUBE,NO_RELAYS".into())
            ]
        );
        let d = decide("spamassassin", &p, &Ok(Verdict::Score(report(1002.7))), &render(), "x");
        let ScanAction::Reject(r) = d.action else { panic!() };
        assert_eq!(r.to_string(), "554 5.7.1 Error: message rejected as spam, score 1002.7 (id x)");
        // reject_score: null never refuses.
        let p = Policy::new(OnError::TempFail, OnError::Accept).with_scores(5.0, None);
        let d = decide("spamassassin", &p, &Ok(Verdict::Score(report(1e6))), &render(), "x");
        assert_eq!((d.outcome, d.action), (Outcome::Tagged, ScanAction::Deliver));
    }

    #[test]
    fn rspamd_actions() {
        let p = Policy::new(OnError::TempFail, OnError::Accept);
        for (action, outcome, code) in [
            (Action::NoAction, Outcome::Ham, None),
            (Action::AddHeader, Outcome::Tagged, None),
            (Action::RewriteSubject, Outcome::Tagged, None),
            (Action::Greylist, Outcome::Deferred, Some(451)),
            (Action::SoftReject, Outcome::Deferred, Some(451)),
            (Action::Reject, Outcome::Spam, Some(554)),
        ] {
            let v = Verdict::Action { action, report: report(7.0) };
            let d = decide("rspamd", &p, &Ok(v), &render(), "x");
            assert_eq!(d.outcome, outcome);
            let got = match &d.action {
                ScanAction::Deliver => None,
                ScanAction::Reject(r) | ScanAction::TempFail(r) => Some(r.code()),
            };
            assert_eq!(got, code, "{action:?}");
            assert!(d.headers.iter().any(|(n, v)| *n == "X-Rspamd-Action" && v == action.as_str()));
        }
    }

    #[test]
    fn failure_policies() {
        let errors = [
            ScanError::Connect { endpoint: "a:1".into(), source: std::io::ErrorKind::ConnectionRefused.into() },
            ScanError::Timeout { endpoint: "a:1".into(), stage: "reading", after: std::time::Duration::from_secs(1) },
            ScanError::Protocol { endpoint: "a:1".into(), detail: "garbage".into() },
        ];
        for e in &errors {
            let outcome = e.outcome();
            for (policy, code, unscanned) in [
                (OnError::TempFail, Some(451), None),
                (OnError::Reject, Some(554), None),
                (OnError::Accept, None, Some(outcome.unscanned_reason())),
            ] {
                let p = Policy::new(policy, OnError::Reject);
                let result = Err(clone_err(e));
                let d = decide("clamav", &p, &result, &render(), "x");
                assert_eq!(d.outcome, outcome);
                assert_eq!(d.unscanned, unscanned);
                let got = match &d.action {
                    ScanAction::Deliver => None,
                    ScanAction::Reject(r) | ScanAction::TempFail(r) => Some(r.code()),
                };
                assert_eq!(got, code);
            }
        }
        // Too big follows on_too_big, with its own reply.
        let big = || Err(ScanError::TooBig { detail: "x".into() });
        let p = Policy::new(OnError::Accept, OnError::Reject);
        let d = decide("clamav", &p, &big(), &render(), "x");
        let ScanAction::Reject(r) = d.action else { panic!() };
        assert_eq!(r.to_string(), "552 5.3.4 Error: message too big to be scanned (id x)");
        let p = Policy::new(OnError::Reject, OnError::Accept);
        let d = decide("spamassassin", &p, &big(), &render(), "x");
        assert_eq!((d.action, d.unscanned), (ScanAction::Deliver, Some("too_big")));
        let p = Policy::new(OnError::Reject, OnError::TempFail);
        let d = decide("spamassassin", &p, &big(), &render(), "x");
        assert!(matches!(d.action, ScanAction::TempFail(ref r) if r.code() == 451));
    }

    fn clone_err(e: &ScanError) -> ScanError {
        match e {
            ScanError::Connect { endpoint, source } => {
                ScanError::Connect { endpoint: endpoint.clone(), source: source.kind().into() }
            }
            ScanError::Timeout { endpoint, stage, after } => {
                ScanError::Timeout { endpoint: endpoint.clone(), stage, after: *after }
            }
            ScanError::Protocol { endpoint, detail } => {
                ScanError::Protocol { endpoint: endpoint.clone(), detail: detail.clone() }
            }
            other => ScanError::Internal(other.to_string()),
        }
    }

    #[test]
    fn templates_render_placeholders_safely() {
        let replies: ScanReplies =
            serde_saphyr::from_str("virus: \"{virus} in {session_id}; see {url}?id={session_id}\"\n").unwrap();
        let r = Renderer::new(&replies, Some("https://help.example/unblock".into()));
        let text = r.render(&replies.virus, Some("Bad Name\r\n250 ok"), None, "ab c\n");
        assert_eq!(text, "BadName250ok in abc; see https://help.example/unblock?id=abc");
        let long = "V".repeat(1000);
        let text = r.render(&replies.virus, Some(&long), None, &long);
        assert!(text.len() <= MAX_TEXT);
        assert_eq!(format_score(-0.04), "0.0");
        assert_eq!(format_score(1002.66), "1002.7");
    }
}
