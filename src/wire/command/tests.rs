//! Tests of `command`.

use super::*;

fn parse(s: &str) -> Result<Command, CommandError> {
    Command::parse(s.as_bytes())
}

fn encoded(s: &str) -> String {
    let mut b = BytesMut::new();
    parse(s).unwrap().encode(&mut b);
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn verbs_are_case_insensitive_and_canonicalised() {
    assert_eq!(encoded("mail from:<a@b.example>"), "MAIL FROM:<a@b.example>\r\n");
    assert_eq!(encoded("MaIl FrOm: <a@b.example> size=100"), "MAIL FROM:<a@b.example> SIZE=100\r\n");
    assert_eq!(encoded("MAIL  FROM:<a@b.example>"), "MAIL FROM:<a@b.example>\r\n");
    assert_eq!(encoded("\tRCPT TO:<c@d.example> NOTIFY=NEVER "), "RCPT TO:<c@d.example> NOTIFY=NEVER\r\n");
    assert_eq!(encoded("MAIL FROM:bare@b.example"), "MAIL FROM:<bare@b.example>\r\n");
    assert_eq!(encoded("ehlo client.example"), "EHLO client.example\r\n");
    assert_eq!(encoded("rcpt to:<postmaster>"), "RCPT TO:<postmaster>\r\n");
    assert_eq!(encoded("MAIL FROM:<\"john doe\"@x.example>"), "MAIL FROM:<\"john doe\"@x.example>\r\n");
}

#[test]
fn null_sender_and_its_lookalikes() {
    assert_eq!(parse("MAIL FROM:<>"), Ok(Command::Mail { path: String::new(), params: vec![] }));
    assert_eq!(parse("MAIL FROM:"), Err(CommandError::BadSender));
    assert_eq!(parse("MAIL FROM:<<>>"), Err(CommandError::BadSender));
    assert_eq!(parse("RCPT TO:<>"), Err(CommandError::BadRecipient));
    assert_eq!(parse("MAIL TO:<a@b>"), Err(CommandError::Syntax { usage: "MAIL FROM:<address>" }));
}

#[test]
fn hostile_lines_are_refused() {
    assert_eq!(Command::parse(b"RCPT TO:<ok@v.example>\0<evil@o.example>"), Err(CommandError::BadBytes));
    assert_eq!(Command::parse(b"MAIL FROM:<a@b>\rRCPT TO:<c@d>"), Err(CommandError::BadBytes));
    assert_eq!(Command::parse(b"EHLO h\xe9llo"), Err(CommandError::NotAscii));
    assert_eq!(Command::parse("EHLO héllo".as_bytes()), Err(CommandError::NotAscii));
    assert_eq!(parse("XCLIENT ADDR=127.0.0.1"), Err(CommandError::Forbidden));
    assert_eq!(parse("xforward ADDR=127.0.0.1"), Err(CommandError::Forbidden));
    assert_eq!(parse("GET / HTTP/1.1"), Err(CommandError::NonSmtp));
    assert_eq!(parse("Subject: hello"), Err(CommandError::NonSmtp));
    for unreadable in ["BDAT", "BDAT -1", "BDAT 1x", "BDAT 579 FIRST", "BDAT 579 LAST x", "BDAT 123456789012345678901"]
    {
        assert_eq!(parse(unreadable), Err(CommandError::Chunking), "{unreadable}");
    }
    assert_eq!(parse("ETRN example.test"), Err(CommandError::NotImplemented));
    assert_eq!(parse("FOO"), Err(CommandError::Unknown));
    assert_eq!(parse(""), Err(CommandError::Unknown));
    let long = format!("NOOP {}RCPT TO:<x@other.example>", "A".repeat(600));
    assert_eq!(parse(&long), Err(CommandError::LineTooLong));
}

#[test]
fn paths_and_params_are_validated() {
    assert_eq!(parse("MAIL FROM:<a@b>SIZE=1"), Err(CommandError::BadSender));
    assert_eq!(parse("MAIL FROM:<a@b> SIZE=1 SIZE=2"), Err(CommandError::BadParam));
    assert_eq!(parse("MAIL FROM:<a@b> SIZE="), Err(CommandError::BadParam));
    assert_eq!(parse("MAIL FROM:<a@b> -X=1"), Err(CommandError::BadParam));
    let long_local = format!("MAIL FROM:<{}@b.example>", "x".repeat(65));
    assert_eq!(parse(&long_local), Err(CommandError::BadSender));
    assert_eq!(parse("RCPT TO:<a b@c>"), Err(CommandError::BadRecipient));
    assert_eq!(parse("RCPT TO:<@relay.example:u@other.example>").map(|c| c.verb()), Ok("RCPT"));
    assert!(parse("RCPT TO:<user@[127.0.0.1]>").is_ok());
    assert!(Command::parse("MAIL FROM:<jörg@bücher.example> SMTPUTF8".as_bytes()).is_ok());
}

#[test]
fn other_verbs() {
    assert_eq!(parse("DATA"), Ok(Command::Data));
    assert_eq!(parse("DATA now"), Err(CommandError::Syntax { usage: "DATA" }));
    assert_eq!(parse("NOOP whatever"), Ok(Command::Noop));
    assert_eq!(parse("HELP"), Ok(Command::Help { arg: None }));
    assert_eq!(parse("EHLO"), Err(CommandError::Syntax { usage: "EHLO hostname" }));
    assert_eq!(
        parse("auth plain AGFsaWNlAHNlY3JldA=="),
        Ok(Command::Auth { mechanism: "PLAIN".into(), initial: Some("AGFsaWNlAHNlY3JldA==".into()) })
    );
    assert!(parse("AUTH PLAIN not-base64!").is_err());
    let long_auth = format!("AUTH PLAIN {}", "A".repeat(4000));
    assert!(parse(&long_auth).is_ok());
}

/// Checklist D28 and O108: the RFC 5321 length limits of a path (a domain
/// over 255 octets makes the path too long) and its local part; control characters (an ESC sequence meant for a
/// terminal that shows the log) never pass into an address.
#[test]
fn path_lengths_and_control_characters() {
    let domain = |n: usize| format!("{}.example", ["a"; 200].join(".")).chars().take(n).collect::<String>();
    let at_limit = format!("MAIL FROM:<{}@{}>", "x".repeat(60), domain(193));
    assert!(parse(&at_limit).is_ok(), "a path of 256 octets with its brackets");
    assert_eq!(parse(&format!("MAIL FROM:<{}@{}>", "x".repeat(60), domain(194))), Err(CommandError::BadSender));
    assert_eq!(parse(&format!("RCPT TO:<{}@b.example>", "x".repeat(65))), Err(CommandError::BadRecipient));
    assert_eq!(parse(&format!("RCPT TO:<postmaster@{}>", domain(256))), Err(CommandError::BadRecipient));
    for hostile in
        ["MAIL FROM:<a\x1b[2J@b.example>", "RCPT TO:<a@b\x1b]0;x\x07.example>", "RCPT TO:<\"a\x7f\"@b.example>"]
    {
        assert!(parse(hostile).is_err(), "{hostile:?}");
    }
}

#[test]
fn bdat_sizes_and_last() {
    assert_eq!(parse("BDAT 579 LAST"), Ok(Command::Bdat { size: 579, last: true }));
    assert_eq!(parse("bdat 0 last"), Ok(Command::Bdat { size: 0, last: true }));
    assert_eq!(parse("BDAT 1000"), Ok(Command::Bdat { size: 1000, last: false }));
    for cmd in [Command::Bdat { size: 7, last: false }, Command::Bdat { size: 18446744073709551615, last: true }] {
        let mut out = bytes::BytesMut::new();
        cmd.encode(&mut out);
        assert_eq!(out.last_chunk::<2>(), Some(b"\r\n"));
        assert_eq!(Command::parse(&out[..out.len() - 2]), Ok(cmd));
    }
}

/// Found by fuzzing (fuzz/fuzz_targets/command.rs): a bare path with an
/// unclosed quote was accepted, and its canonical form `MAIL FROM:<"<le>>`
/// is a different (unparseable) command. A quoted local part must be a
/// whole quoted string; every accepted command parses back from its encoding.
#[test]
fn quoted_local_parts_are_whole_quoted_strings() {
    for bad in
        ["MAIL FROM:\"<le>", "MAIL FROM:<\"a\"b@c.example>", "RCPT TO:<\"a\\\"@c.example>", "RCPT TO:\"@x.example"]
    {
        assert!(parse(bad).is_err(), "{bad}");
    }
    for good in ["MAIL FROM:<\"john doe\"@x.example>", "RCPT TO:<\"a\\\"b\"@c.example>", "MAIL FROM:\"x\"@y.example"] {
        let cmd = parse(good).unwrap();
        let mut wire = BytesMut::new();
        cmd.encode(&mut wire);
        assert_eq!(Command::parse(&wire[..wire.len() - 2]), Ok(cmd), "{good}");
    }
}

/// Found by fuzzing: a source route was not checked (`RCPT TO:@re<:u@x`
/// was relayed as `RCPT TO:<@re<:u@x>`, which does not parse); no `<` or
/// `>` may hide in a route or an address literal.
#[test]
fn source_routes_are_domains() {
    for bad in ["RCPT TO:@re<:u@x.example", "RCPT TO:<@:u@x.example>", "RCPT TO:<@a.example,b.example:u@x.example>"] {
        assert_eq!(parse(bad), Err(CommandError::BadRecipient), "{bad}");
    }
    assert!(parse("RCPT TO:<@a.example,@b.example:u@x.example>").is_ok());
    // Nor in an address literal (`RCPT TO:!e@[>M]` relayed as `<!e@[>M]>`).
    assert_eq!(parse("RCPT TO:!e@[>M]"), Err(CommandError::BadRecipient));
    assert_eq!(parse("MAIL FROM:e@[<1]"), Err(CommandError::BadSender));
    assert_eq!(parse("RCPT TO:<!@[9\"M]>"), Err(CommandError::BadRecipient));
    assert_eq!(parse("RCPT TO:!@[9\"M]"), Err(CommandError::BadRecipient));
    assert!(parse("RCPT TO:<u@[IPv6:2001:db8::1]>").is_ok());
}

/// Found by fuzzing: a bare path gains two octets of brackets, so the
/// relayed line could exceed 512 octets with its CRLF.
#[test]
fn the_canonical_line_fits_the_limit() {
    let bare = |n: usize| format!("MAIL FROM:a@b.example X-{}", "A".repeat(n));
    assert_eq!(parse(&bare(510 - bare(0).len())), Err(CommandError::LineTooLong));
    assert_eq!(encoded(&bare(508 - bare(0).len())).len(), 512);
}
