//! The session itself: EHLO, XCLIENT offered to strangers, the extensions
//! a sender relies on, the synchronisation probes (early talkers,
//! pipelining before PIPELINING), and probes that could not finish.

use crate::audit::finding::{Check, Finding, Severity};
use crate::audit::transcript::{ProbeFailure, Surface, SyncProbe};

/// EHLO, XCLIENT and extension findings.
pub(crate) fn judge_ehlo(s: &Surface, out: &mut Vec<Finding>) {
    let Some(ehlo) = &s.ehlo else {
        return;
    };
    if !ehlo.reply.is_positive() {
        let helo = s.helo.as_ref().map_or(String::new(), |h| format!("; HELO → {}", h.reply.summary()));
        out.push(
            Finding::new(Check::EhloRefused, Severity::Medium, "EHLO is not answered 250: no ESMTP extensions")
                .evidence(format!("{} → {}{helo}", ehlo.command, ehlo.reply.summary()))
                .fix("Answer EHLO (RFC 5321 requires it); without it there is no STARTTLS, SIZE or 8BITMIME"),
        );
        return;
    }
    let keywords = s.keywords();
    let has = |k: &str| keywords.iter().find(|(kw, _)| kw == k).map(|(_, p)| p.as_str());
    let proxy: Vec<&str> = ["XCLIENT", "XFORWARD"].into_iter().filter(|k| has(k).is_some()).collect();
    if !proxy.is_empty() {
        out.push(
            Finding::new(
                Check::EhloXclient,
                Severity::High,
                format!("{} offered to this client: it can claim any client address", proxy.join(" and ")),
            )
            .evidence(proxy.iter().map(|k| format!("{k} {}", has(k).unwrap_or_default())).collect::<Vec<_>>().join("; "))
            .fix("Allow it only from your proxy (Postfix: smtpd_authorized_xclient_hosts, smtpd_authorized_xforward_hosts)"),
        );
    }
    extensions(&has, out);
}

fn extensions<'a>(has: &dyn Fn(&str) -> Option<&'a str>, out: &mut Vec<Finding>) {
    let offered = |k: &str| if has(k).is_some() { "offered" } else { "not offered" };
    out.push(Finding::new(
        Check::ExtPipelining,
        Severity::Info,
        format!("PIPELINING {} (RFC 2920: fewer round trips)", offered("PIPELINING")),
    ));
    out.push(Finding::new(
        Check::ExtChunking,
        Severity::Info,
        format!("CHUNKING {} (BDAT; a filter in front must carry it or hide it)", offered("CHUNKING")),
    ));
    out.push(Finding::new(
        Check::ExtSmtputf8,
        Severity::Info,
        format!("SMTPUTF8 {} (RFC 6531: international addresses)", offered("SMTPUTF8")),
    ));
    let no_soliciting = match has("NO-SOLICITING") {
        Some(p) if !p.is_empty() => format!("NO-SOLICITING offered: {p}"),
        Some(_) => "NO-SOLICITING offered".to_owned(),
        None => "NO-SOLICITING not offered (RFC 3865: a machine-readable no-advertising notice)".to_owned(),
    };
    out.push(Finding::new(Check::ExtNoSoliciting, Severity::Info, no_soliciting));
    let size = match has("SIZE").map(|p| p.parse::<u64>()) {
        None => Finding::new(Check::ExtSize, Severity::Low, "SIZE not offered: senders learn the limit after sending")
            .fix("Announce the size limit (RFC 1870)"),
        Some(Ok(0)) => Finding::new(Check::ExtSize, Severity::Info, "SIZE offered without a limit"),
        Some(Ok(n)) => Finding::new(Check::ExtSize, Severity::Info, format!("SIZE {n} ({} MiB)", n >> 20)),
        Some(Err(_)) => Finding::new(Check::ExtSize, Severity::Info, "SIZE offered without a number"),
    };
    out.push(size);
}

/// How a server treated bytes sent out of turn.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SyncVerdict {
    /// Every reply was positive: the violation went unnoticed.
    Served,
    /// A refusal, or the connection closed.
    Refused,
    /// No way to tell (a timeout, too few replies).
    Unclear,
}

/// Expects two positive replies when the server does not mind.
pub(crate) fn sync_verdict(p: &SyncProbe) -> SyncVerdict {
    use crate::audit::raw_reply::End;
    for (i, r) in p.replies.iter().enumerate() {
        match &r.end {
            End::Complete if r.is_positive() && i == 1 => return SyncVerdict::Served,
            End::Complete if r.is_positive() => {}
            End::Complete | End::Closed | End::Failed(_) => return SyncVerdict::Refused,
            End::Timeout | End::TooBig => return SyncVerdict::Unclear,
        }
    }
    SyncVerdict::Unclear
}

/// Findings for the early-talker and pipelining probes.
pub(crate) fn judge_sync(early: Option<&SyncProbe>, pipelining: Option<&SyncProbe>, out: &mut Vec<Finding>) {
    let replies = |p: &SyncProbe| {
        let shown: Vec<String> = p.replies.iter().map(|r| r.summary()).collect();
        let tries = if p.attempts > 1 { format!(" (attempt {})", p.attempts) } else { String::new() };
        format!("sent {}; got {}{tries}", p.sent, shown.join(" | "))
    };
    if let Some(p) = early {
        out.push(match sync_verdict(p) {
            SyncVerdict::Served => Finding::new(Check::SyncEarlyTalker, Severity::Low, "clients that talk before the greeting are served")
                .fix("Postfix: smtpd_forbid_unauth_pipelining = yes (or postscreen); Exim: pipelining_connect_advertise_hosts = (empty: PIPECONNECT invites it); doorman: helo.rules.early_talker: reject"),
            SyncVerdict::Refused => Finding::new(Check::SyncEarlyTalker, Severity::Info, "clients that talk before the greeting are refused"),
            SyncVerdict::Unclear => Finding::new(Check::SyncEarlyTalker, Severity::Info, "the early-talker probe was inconclusive"),
        }
        .evidence(replies(p)));
    }
    if let Some(p) = pipelining {
        out.push(match sync_verdict(p) {
            SyncVerdict::Served => Finding::new(Check::SyncPipelining, Severity::Low, "commands pipelined after EHLO, before PIPELINING was offered, are served")
                .fix("Postfix: smtpd_forbid_unauth_pipelining = yes; Exim: smtp_enforce_sync = true (default) and no PIPECONNECT"),
            SyncVerdict::Refused => Finding::new(Check::SyncPipelining, Severity::Info, "commands pipelined before PIPELINING was offered are refused"),
            SyncVerdict::Unclear => Finding::new(Check::SyncPipelining, Severity::Info, "the pipelining probe was inconclusive"),
        }
        .evidence(replies(p)));
    }
}

/// Probes that could not finish.
pub(crate) fn judge_failures(failures: &[ProbeFailure], out: &mut Vec<Finding>) {
    for f in failures {
        out.push(
            Finding::new(Check::ProbeIncomplete, Severity::Low, format!("the {} probe did not finish", f.probe))
                .evidence(f.error.clone())
                .fix("Check the server's connection limits and time-outs, or raise --timeout"),
        );
    }
}
