//! The judging: a recorded [`Transcript`] in, findings out, worst first.
//! Pure: no I/O, and the clock is an argument (`now`, Unix seconds), so
//! every rule is unit-tested on transcripts built by hand.

mod banner;
mod session;
mod software;
mod tls;
mod users;

use super::finding::Finding;
use super::transcript::Transcript;

/// Every finding for `t`, worst first (ties in check order).
pub fn judge(t: &Transcript, now: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    let s = &t.surface;
    banner::judge(&s.greeting, &mut out);
    let keywords = s.keywords();
    software::judge(
        &s.greeting,
        s.ehlo.as_ref().filter(|e| e.reply.is_positive()),
        s.help.as_ref().map(|h| &h.reply),
        &keywords,
        &mut out,
    );
    session::judge_ehlo(s, &mut out);
    tls::auth_before_tls(&keywords, &mut out);
    if let Some(outcome) = &t.tls {
        tls::judge(outcome, now, &mut out);
    }
    users::judge_queries(s, &mut out);
    if let Some(e) = &t.enumeration {
        users::judge_rcpt(e, &mut out);
    }
    session::judge_sync(t.early_talker.as_ref(), t.pipelining.as_ref(), &mut out);
    session::judge_failures(&t.failures, &mut out);
    let order = |f: &Finding| super::finding::Check::ALL.iter().position(|c| *c == f.id).unwrap_or(usize::MAX);
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(order(a).cmp(&order(b))));
    out
}

#[cfg(test)]
mod tests;
