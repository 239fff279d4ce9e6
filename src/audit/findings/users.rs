//! User enumeration: VRFY and EXPN, and RCPT answers that differ for an
//! address that exists and one that does not (what an attacker's
//! dictionary run looks for).

use crate::audit::finding::{Check, Finding, Severity};
use crate::audit::raw_reply::RawReply;
use crate::audit::transcript::{Enumeration, Exchange, Surface};

/// `command: reply` for evidence.
fn shown(e: &Exchange) -> String {
    format!("{} → {}", e.command, e.reply.summary())
}

/// The two replies tell the addresses apart: both complete, no temporary
/// failure (greylisting says nothing), different codes.
fn distinguishes(known: &RawReply, unknown: &RawReply) -> bool {
    let definite = |r: &RawReply| r.is_complete() && r.code().is_some_and(|c| !(400..500).contains(&c));
    definite(known) && definite(unknown) && known.code() != unknown.code()
}

/// VRFY and EXPN findings.
pub(crate) fn judge_queries(s: &Surface, out: &mut Vec<Finding>) {
    if let Some(unknown) = &s.vrfy_unknown
        && let Some(known) = s.vrfy_known.iter().find(|k| distinguishes(&k.reply, &unknown.reply))
    {
        out.push(
            Finding::new(Check::UsersVrfy, Severity::Medium, "VRFY tells existing users from unknown ones")
                .evidence(format!("{}; {}", shown(known), shown(unknown)))
                .fix(
                    "Postfix: disable_vrfy_command = yes; Exim: no acl_smtp_vrfy (the default); \
                     doorman answers VRFY itself (commands.vrfy: local)",
                ),
        );
    }
    if let Some(expn) = s.expn.as_ref().filter(|e| e.reply.is_positive()) {
        let lists = expn.reply.lines.len() > 1;
        let (severity, title) = if lists {
            (Severity::High, format!("EXPN expands a list: {} addresses", expn.reply.lines.len()))
        } else {
            (Severity::Medium, "EXPN answers with an address".to_owned())
        };
        out.push(
            Finding::new(Check::UsersExpn, severity, title)
                .evidence(shown(expn))
                .fix("Turn EXPN off (Exim: no acl_smtp_expn; Sendmail: PrivacyOptions=noexpn); doorman refuses it"),
        );
    }
}

const RCPT_FIX: &str = "Refusing unknown users at RCPT is right (no backscatter), so limit the rate: Postfix \
                        smtpd_hard_error_limit and anvil, Exim ratelimit ACLs; doorman tarpits and cuts off a dictionary run \
                        (limits.harvest_tarpit_after, limits.max_refused_recipients)";

/// The RCPT probe's finding.
pub(crate) fn judge_rcpt(e: &Enumeration, out: &mut Vec<Finding>) {
    let inconclusive = |why: String, evidence: String| {
        Finding::new(Check::UsersRcptUnknown, Severity::Info, why)
            .evidence(evidence)
            .fix("Pass --domain (a domain this server receives mail for) and --user (a mailbox that exists)")
    };
    if !e.mail.reply.is_positive() {
        out.push(inconclusive("MAIL FROM:<> was not accepted, so RCPT was not probed".into(), shown(&e.mail)));
        return;
    }
    let Some(unknown) = &e.unknown else {
        return;
    };
    let leaks = |k: &&Exchange| distinguishes(&k.reply, &unknown.reply) && k.reply.is_positive();
    if let Some(known) = e.known.iter().find(leaks)
        && unknown.reply.is_permanent_failure()
    {
        out.push(
            Finding::new(Check::UsersRcpt, Severity::Low, "RCPT tells existing users from unknown ones")
                .evidence(format!("{}; {}", shown(known), shown(unknown)))
                .fix(RCPT_FIX),
        );
        return;
    }
    let accepted = e.known.iter().any(|k| k.reply.is_positive());
    if accepted && unknown.reply.is_positive() {
        out.push(
            Finding::new(Check::UsersRcpt, Severity::Low, "RCPT accepts unknown users: mail to them bounces later")
                .evidence(shown(unknown))
                .fix("Refuse unknown recipients at RCPT (Postfix: local_recipient_maps; Exim: verify = recipient)"),
        );
        return;
    }
    let evidence = e.known.iter().chain([unknown]).map(shown).collect::<Vec<_>>().join("; ");
    out.push(inconclusive("the RCPT answers do not tell whether users can be enumerated".into(), evidence));
}
