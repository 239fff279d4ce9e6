//! Commands doorman answers itself or refuses: syntax, sequence, limits,
//! the queries it keeps from the upstream. Each bad command gets its reply
//! and the session stays in step; none reaches the upstream.

use super::harness::{Harness, MESSAGE, assert_code, assert_reply};

#[tokio::test(start_paused = true)]
async fn malformed_commands_get_their_reply_and_never_reach_the_upstream() {
    let mut s = Harness::new().ready().await;
    let long = format!("NOOP {}RCPT TO:<x@other.example>", "A".repeat(600));
    let cases: &[(&str, u16, &str)] = &[
        ("FOO", 500, "5.5.2"),
        (&long, 500, "5.5.2"),
        ("MAIL FROM:", 501, "5.1.7"),
        ("MAIL FROM:<<>>", 501, "5.1.7"),
        ("RCPT TO:<bob@example.test>", 503, "5.5.1"),
        ("DATA", 503, "5.5.1"),
        ("MAIL FROM:<a@sender.example> FOO=bar", 555, "5.5.4"),
        ("MAIL FROM:<a@sender.example> BODY=BINARYMIME", 501, "5.5.4"),
        ("MAIL FROM:<a@sender.example> SIZE=99999999999", 552, "5.3.4"),
        ("EHLO", 501, "5.5.4"),
        ("DATA now", 501, "5.5.4"),
        ("ETRN example.test", 502, "5.5.1"),
        ("STARTTLS", 502, "5.5.1"),
        ("XCLIENT ADDR=192.0.2.1", 550, "5.7.0"),
        ("XFORWARD ADDR=192.0.2.1", 550, "5.7.0"),
    ];
    for (line, code, enhanced) in cases {
        assert_reply(&s.client.cmd(line).await, *code, enhanced);
    }
    for raw in
        [&b"RCPT TO:<ok@example.test>\0<evil@o.example>\r\n"[..], b"MAIL FROM:<a@b>\rRCPT TO:<c@d>\r\n", b"NOOP\n"]
    {
        s.client.send(raw).await;
        assert_code(&s.client.reply().await, 500);
    }
    // Still in step: a whole transaction works.
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    let up = s.finished().await;
    for never in ["other.example", "evil", "FOO", "ETRN", "XCLIENT ADDR=192.0.2.1", "XFORWARD"] {
        assert!(!up.all().contains(never), "{never:?} reached the upstream:\n{}", up.all());
    }
}

#[tokio::test(start_paused = true)]
async fn content_sent_as_commands_ends_the_session() {
    for line in ["GET / HTTP/1.1", "Subject: hello", "BDAT ten LAST"] {
        let mut s = Harness::new().ready().await;
        let reply = s.client.cmd(line).await;
        assert_code(&reply, 554);
        s.client.closed().await;
        assert_eq!(s.finished().await.connections(), 0, "{line}");
        // A BDAT whose size cannot be read: where its payload ends is unknown.
        let rule = if line.starts_with("BDAT") { "5.5.4 Error: BDAT" } else { "(rule non_smtp_command)" };
        assert!(reply.to_string().contains(rule), "{reply}");
    }
}

/// `non_smtp_command: monitor`: logged, answered as an unknown command,
/// and closed all the same: the lines after a header line would be body
/// lines run as commands.
#[tokio::test(start_paused = true)]
async fn non_smtp_under_monitor_is_an_unknown_command_and_closes() {
    let mut s = Harness::new().yaml("helo:\n  rules:\n    non_smtp_command: monitor").ready().await;
    s.client.send(b"Subject: hi\r\nMAIL FROM:<a@b.example>\r\n").await;
    assert_reply(&s.client.reply().await, 500, "5.5.2");
    s.client.closed().await;
    assert_eq!(s.finished().await.connections(), 0);
}

#[tokio::test(start_paused = true)]
async fn vrfy_expn_help_are_answered_locally() {
    let mut s = Harness::new().ready().await;
    assert_reply(&s.client.cmd("VRFY alice").await, 252, "2.5.2");
    assert_reply(&s.client.cmd("EXPN staff").await, 502, "5.5.1");
    let help = s.client.cmd("HELP").await;
    assert_code(&help, 214);
    assert!(!help.to_string().contains("Postfix"), "{help}");
    assert_code(&s.client.cmd("QUIT").await, 221);
    let up = s.finished().await;
    assert!(!up.all().contains("VRFY") && !up.all().contains("EXPN") && !up.all().contains("HELP"), "{}", up.all());
}

#[tokio::test(start_paused = true)]
async fn vrfy_can_be_passed_to_the_upstream() {
    let mut s = Harness::new().yaml("commands:\n  vrfy: pass").ready().await;
    assert_eq!(s.client.cmd("VRFY alice").await.lines(), ["2.0.0 alice"]);
    assert!(s.upstream().all().contains("VRFY alice\r\n"));
}

#[tokio::test(start_paused = true)]
async fn noop_and_rset_outside_a_transaction_stay_local() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("NOOP").await, 250);
    assert_code(&s.client.cmd("RSET").await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    let up = s.finished().await;
    assert!(!up.all().contains("NOOP") && !up.all().contains("RSET"), "{}", up.all());
}

#[tokio::test(start_paused = true)]
async fn too_many_errors_closes_with_421() {
    let mut s = Harness::new().yaml("limits:\n  max_errors: 5").ready().await;
    for _ in 0..5 {
        assert_code(&s.client.cmd("FOO").await, 500);
    }
    assert_eq!(s.client.reply().await.to_bytes().as_ref(), b"421 4.7.0 mx.example.test Error: too many errors\r\n");
    s.client.closed().await;
}

/// `limits.max_junk_commands` free, then each one is an error too.
#[tokio::test(start_paused = true)]
async fn junk_commands_count_toward_the_error_limit() {
    for junk in ["NOOP", "RSET", "VRFY x", "HELP", "EHLO client.example.net", "HELO client.example.net"] {
        let yaml = "limits:\n  max_junk_commands: 10\n  max_errors: 3\n  forbid_unauth_pipelining: off";
        let mut s = Harness::new().yaml(yaml).ready().await;
        // The EHLO of `ready` was the first junk command.
        s.client.send(format!("{junk}\r\n").repeat(20).as_bytes()).await;
        let mut answered = 0;
        while s.client.reply().await.code() != 421 {
            answered += 1;
        }
        assert_eq!(answered, 9 + 2, "{junk}");
        s.client.closed().await;
    }
}

/// A delivered message resets the junk count, as in Postfix.
#[tokio::test(start_paused = true)]
async fn delivery_resets_the_junk_count() {
    let mut s = Harness::new().yaml("limits:\n  max_junk_commands: 3\n  max_errors: 1").ready().await;
    assert_code(&s.client.cmd("NOOP").await, 250);
    assert_code(&s.client.cmd("NOOP").await, 250);
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    for _ in 0..3 {
        assert_code(&s.client.cmd("NOOP").await, 250);
    }
    assert_code(&s.client.cmd("NOOP").await, 421);
}

#[tokio::test(start_paused = true)]
async fn quit_says_goodbye_and_closes_both_sides() {
    let mut s = Harness::new().ready().await;
    assert_eq!(s.client.cmd("QUIT").await.to_bytes().as_ref(), b"221 2.0.0 mx.example.test closing connection\r\n");
    s.client.closed().await;
    assert_eq!(s.finished().await.connections(), 0, "nothing needed the upstream");
}

#[tokio::test(start_paused = true)]
async fn quit_after_a_message_closes_the_upstream_session_too() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.transaction(MESSAGE).await, 250);
    assert_code(&s.client.cmd("QUIT").await, 221);
    s.client.closed().await;
    assert!(s.finished().await.text(0).ends_with("QUIT\r\n"));
}

#[tokio::test(start_paused = true)]
async fn helo_gets_one_line_and_ehlo_the_filtered_extensions() {
    let mut s = Harness::new().yaml("ehlo:\n  no_soliciting: \"\"").greeted().await;
    let ehlo = s.client.cmd("EHLO client.example.net").await;
    let lines = ehlo.lines();
    assert_eq!(lines[0], "mx.example.test");
    for hidden in ["backend", "XCLIENT", "XFORWARD", "BINARYMIME", "AUTH", "STARTTLS"] {
        assert!(!lines.iter().any(|l| l.contains(hidden)), "{hidden} leaked: {lines:?}");
    }
    assert!(lines.contains(&"SIZE 10240000".to_owned()), "the smaller SIZE wins: {lines:?}");
    assert!(lines.contains(&"CHUNKING".to_owned()), "doorman's own: {lines:?}");
    assert_eq!(lines.last().map(String::as_str), Some("NO-SOLICITING"));
    assert_eq!(s.client.cmd("HELO client.example.net").await.to_bytes().as_ref(), b"250 mx.example.test\r\n");
}

#[tokio::test(start_paused = true)]
async fn auth_is_not_offered_or_taken_in_plaintext() {
    let mut s = Harness::new().ready().await;
    assert_code(&s.client.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==").await, 503);
    assert!(!s.upstream().all().contains("AUTH"));
}

#[tokio::test(start_paused = true)]
async fn auth_is_relayed_with_its_dialogue_when_allowed() {
    use super::upstream::Mta;
    let mta = Mta::default()
        .on("AUTH", "334 VXNlcm5hbWU6\r\n")
        .on("YWxpY2U=", "334 UGFzc3dvcmQ6\r\n")
        .on("c2VjcmV0", "235 2.7.0 Ok\r\n");
    let mut s = Harness::new().yaml("auth:\n  allow_plaintext: true").mta(mta).ready().await;
    assert_code(&s.client.cmd("AUTH LOGIN").await, 334);
    assert_code(&s.client.cmd("YWxpY2U=").await, 334);
    assert_code(&s.client.cmd("c2VjcmV0").await, 235);
    assert_code(&s.client.cmd("AUTH LOGIN").await, 503);
}
