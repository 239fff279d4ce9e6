//! The judging on recorded transcripts: replies as real servers sent them
//! (Debian's Postfix 3.7 and Exim 4.96, doorman) and as hostile ones do.

mod hostile;
mod tls;

use super::judge;
use crate::audit::finding::{Check, Finding, Severity, worst};
use crate::audit::raw_reply::{End, RawReply, complete_reply};
use crate::audit::transcript::{Enumeration, Exchange, Surface, SyncProbe, Transcript, Users};

/// A complete reply from its wire form.
pub(super) fn reply(wire: &str) -> RawReply {
    let (lines, used) = complete_reply(wire.as_bytes()).expect("a complete reply");
    assert_eq!(used, wire.len(), "one reply");
    RawReply { lines, end: End::Complete, reads: 1 }
}

pub(super) fn ex(command: &str, wire: &str) -> Exchange {
    Exchange { command: command.into(), reply: reply(wire) }
}

/// Debian's stock Postfix 3.7 (main.cf.debian), as the audit saw it.
pub(super) fn stock_postfix() -> Transcript {
    let ehlo = "250-mail.stock.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n\
                250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
    let known = "postmaster@mail.stock.test";
    let unknown = "doorman-audit-0123456789ab@mail.stock.test";
    let mut surface = Surface::greeting(reply("220 mail.stock.test ESMTP Postfix (Debian/GNU)\r\n"));
    surface.ehlo = Some(ex("EHLO doorman-audit.invalid", ehlo));
    surface.help = Some(ex("HELP", "502 5.5.2 Error: command not recognized\r\n"));
    surface.vrfy_known = vec![ex(&format!("VRFY {known}"), &format!("252 2.0.0 {known}\r\n"))];
    let refused =
        format!("550 5.1.1 <{unknown}>: Recipient address rejected: User unknown in local recipient table\r\n");
    surface.vrfy_unknown = Some(ex(&format!("VRFY {unknown}"), &refused));
    surface.expn = Some(ex(&format!("EXPN {known}"), "502 5.5.2 Error: command not recognized\r\n"));
    let enumeration = Enumeration {
        mail: ex("MAIL FROM:<>", "250 2.1.0 Ok\r\n"),
        known: vec![ex(&format!("RCPT TO:<{known}>"), "250 2.1.5 Ok\r\n")],
        unknown: Some(ex(&format!("RCPT TO:<{unknown}>"), &refused)),
    };
    let served = |sent: &str, first: &str| SyncProbe {
        sent: sent.into(),
        replies: vec![reply(first), reply("250 2.0.0 Ok\r\n")],
        attempts: 3,
    };
    Transcript {
        target: "127.0.0.1:2525".into(),
        users: Users { known: vec![known.into()], unknown: unknown.into() },
        surface,
        enumeration: Some(enumeration),
        tls: None,
        early_talker: Some(served(
            "EHLO doorman-audit.invalid\\r\\n",
            "220 mail.stock.test ESMTP Postfix (Debian/GNU)\r\n",
        )),
        pipelining: Some(served("EHLO doorman-audit.invalid\\r\\nNOOP\\r\\n", ehlo)),
        failures: Vec::new(),
    }
}

pub(super) fn find(findings: &[Finding], id: Check) -> &Finding {
    findings.iter().find(|f| f.id == id).unwrap_or_else(|| panic!("no {} in {findings:#?}", id.id()))
}

pub(super) fn lacks(findings: &[Finding], id: Check) {
    assert!(findings.iter().all(|f| f.id != id), "unexpected {}: {findings:#?}", id.id());
}

#[test]
fn stock_postfix_leaks_its_name_and_its_users() {
    let f = judge(&stock_postfix(), 0);
    let banner = find(&f, Check::SoftwareBanner);
    assert_eq!(banner.severity, Severity::Low);
    assert!(banner.title.contains("Postfix") && banner.title.contains("Debian"), "{banner:?}");
    assert!(banner.fix.contains("smtpd_banner = $myhostname ESMTP"), "{banner:?}");
    assert_eq!(find(&f, Check::UsersVrfy).severity, Severity::Medium);
    assert_eq!(find(&f, Check::UsersRcpt).severity, Severity::Low);
    assert!(find(&f, Check::UsersRcpt).evidence.contains("250 2.1.5"));
    assert_eq!(find(&f, Check::SyncEarlyTalker).severity, Severity::Low);
    assert!(find(&f, Check::SyncEarlyTalker).evidence.ends_with("250 2.0.0 Ok (attempt 3)"));
    assert_eq!(find(&f, Check::SyncPipelining).severity, Severity::Low);
    assert_eq!(find(&f, Check::ExtSize).title, "SIZE 10240000 (9 MiB)");
    assert!(find(&f, Check::ExtChunking).title.starts_with("CHUNKING offered"));
    assert!(find(&f, Check::ExtNoSoliciting).title.starts_with("NO-SOLICITING not offered"));
    for quiet in
        [Check::UsersExpn, Check::SoftwareHelp, Check::AuthBeforeTls, Check::EhloXclient, Check::BannerNoDomain]
    {
        lacks(&f, quiet);
    }
    assert_eq!(worst(&f), Some(Severity::Medium));
    assert!(f.windows(2).all(|w| w[0].severity >= w[1].severity), "worst first");
}

#[test]
fn exim_default_names_its_version() {
    let mut t = stock_postfix();
    t.surface.greeting = reply("220 exim.test ESMTP Exim 4.96 Sun, 29 Nov 2026 16:29:39 +0000\r\n");
    t.surface.ehlo = Some(ex(
        "EHLO x",
        "250-exim.test Hello doorman-audit.invalid [127.0.0.1]\r\n250-SIZE 52428800\r\n250-PIPELINING\r\n\
         250-PIPECONNECT\r\n250-CHUNKING\r\n250 HELP\r\n",
    ));
    t.surface.help =
        Some(ex("HELP", "214-Commands supported:\r\n214 AUTH HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP\r\n"));
    let f = judge(&t, 0);
    let banner = find(&f, Check::SoftwareBanner);
    assert_eq!(banner.severity, Severity::Medium);
    assert_eq!(banner.title, "the greeting names Exim, version 4.96");
    assert!(banner.fix.starts_with("Exim: smtp_banner"));
    assert!(find(&f, Check::SoftwareKeywords).evidence.contains("PIPECONNECT (Exim)"));
    lacks(&f, Check::SoftwareEhlo);
    lacks(&f, Check::SoftwareHelp);
}

#[test]
fn plaintext_auth_and_xclient_are_high() {
    let mut t = stock_postfix();
    t.surface.ehlo = Some(ex(
        "EHLO x",
        "250-backend.test\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250-XCLIENT NAME ADDR PROTO HELO\r\n250 XFORWARD NAME ADDR\r\n",
    ));
    let f = judge(&t, 0);
    assert_eq!(find(&f, Check::AuthBeforeTls).evidence, "AUTH PLAIN LOGIN");
    assert_eq!(find(&f, Check::AuthBeforeTls).severity, Severity::High);
    let x = find(&f, Check::EhloXclient);
    assert_eq!((x.severity, x.title.starts_with("XCLIENT and XFORWARD")), (Severity::High, true));
    assert!(find(&f, Check::SoftwareKeywords).evidence.contains("XCLIENT (Postfix)"));
    assert_eq!(find(&f, Check::ExtSize).severity, Severity::Low, "no SIZE");
}

#[test]
fn doorman_in_front_leaks_nothing_above_low() {
    let mut t = stock_postfix();
    t.surface.greeting = reply("220 mx.example.test ESMTP\r\n");
    t.surface.ehlo =
        Some(ex("EHLO x", "250-mx.example.test\r\n250-SIZE 10240000\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n"));
    t.surface.help = Some(ex(
        "HELP",
        "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP\r\n214 2.0.0 See RFC 5321 for details\r\n",
    ));
    let cannot = "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n";
    t.surface.vrfy_known = vec![ex("VRFY postmaster@mail.stock.test", cannot)];
    t.surface.vrfy_unknown = Some(ex("VRFY x@mail.stock.test", cannot));
    t.surface.expn = Some(ex("EXPN postmaster@mail.stock.test", "502 5.5.1 Error: command not implemented\r\n"));
    t.early_talker = Some(SyncProbe {
        sent: String::new(),
        replies: vec![reply("554 5.5.1 mx.example.test Error: talked before the greeting\r\n")],
        attempts: 1,
    });
    let f = judge(&t, 0);
    for gone in [Check::SoftwareBanner, Check::SoftwareHelp, Check::UsersVrfy, Check::UsersExpn, Check::SyncEarlyTalker]
    {
        assert!(f.iter().all(|x| x.id != gone || x.severity == Severity::Info), "{gone:?}: {f:#?}");
    }
    assert_eq!(worst(&f), Some(Severity::Low), "RCPT still tells users apart: {f:#?}");
}

#[test]
fn rcpt_probe_says_when_it_cannot_tell() {
    let mut t = stock_postfix();
    let e = t.enumeration.as_mut().unwrap();
    e.known = vec![ex("RCPT TO:<postmaster@x.test>", "554 5.7.1 <postmaster@x.test>: Relay access denied\r\n")];
    e.unknown = Some(ex("RCPT TO:<u@x.test>", "554 5.7.1 <u@x.test>: Relay access denied\r\n"));
    let f = judge(&t, 0);
    assert_eq!(find(&f, Check::UsersRcptUnknown).severity, Severity::Info);
    lacks(&f, Check::UsersRcpt);
    t.enumeration = Some(Enumeration {
        mail: ex("MAIL FROM:<>", "553 5.1.8 no null sender\r\n"),
        known: Vec::new(),
        unknown: None,
    });
    assert!(find(&judge(&t, 0), Check::UsersRcptUnknown).title.starts_with("MAIL FROM:<> was not accepted"));
    // Greylisting says nothing either way.
    let e = t.enumeration.insert(stock_postfix().enumeration.unwrap());
    e.unknown = Some(ex("RCPT TO:<u@x.test>", "450 4.2.0 greylisted\r\n"));
    lacks(&judge(&t, 0), Check::UsersRcpt);
}

#[test]
fn expn_that_expands_a_list_is_high() {
    let mut t = stock_postfix();
    t.surface.expn = Some(ex("EXPN staff", "250-<alice@x.test>\r\n250 <bob@x.test>\r\n"));
    assert_eq!(find(&judge(&t, 0), Check::UsersExpn).severity, Severity::High);
    t.surface.expn = Some(ex("EXPN postmaster", "250 <root@x.test>\r\n"));
    assert_eq!(find(&judge(&t, 0), Check::UsersExpn).severity, Severity::Medium);
}

#[test]
fn refused_ehlo_is_reported_with_the_helo_fallback() {
    let mut t = stock_postfix();
    t.surface.ehlo = Some(ex("EHLO x", "502 5.5.2 Error: command not recognized\r\n"));
    t.surface.helo = Some(ex("HELO x", "250 old.test\r\n"));
    let f = judge(&t, 0);
    assert!(find(&f, Check::EhloRefused).evidence.contains("HELO → 250 old.test"));
    lacks(&f, Check::ExtSize);
}
