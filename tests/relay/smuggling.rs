//! SMTP smuggling: SEC Consult's published inbound sequences, each followed
//! by a smuggled second transaction. Postfix must never hold the smuggled
//! message: under `reject` the message is refused, under `normalize` exactly
//! one canonical message arrives with the smuggled commands as its text.

use crate::support::client::{Client, assert_code};
use crate::support::postfix::postfix;
use crate::support::proxy::Proxy;
use crate::support::{message, rcpt};

const VECTORS: &[(&str, &[u8])] = &[
    ("lf-dot-lf", b"\n.\n"),
    ("lf-dot-cr", b"\n.\r"),
    ("cr-dot-lf", b"\r.\n"),
    ("cr-dot-cr", b"\r.\r"),
    ("lf-dot-crlf", b"\n.\r\n"),
    ("cr-dot-crlf", b"\r.\r\n"),
    ("crlf-nul-dot-crlf", b"\r\n\x00.\r\n"),
];

/// Sends one message carrying `vector` and a smuggled transaction; returns
/// the reply to the real end of data.
async fn smuggle(c: &mut Client, legit: &str, smuggled: &str, vector: &[u8]) -> doorman::wire::Reply {
    assert_code(&c.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{legit}>")).await, 250);
    assert_code(&c.cmd("DATA").await, 354);
    let mut data = message(legit, "smuggling", &["innocent body"]).into_bytes();
    data.truncate(data.len() - 2); // the vector replaces the last CRLF
    data.extend_from_slice(vector);
    data.extend_from_slice(
        format!(
            "MAIL FROM:<ceo@sender.example>\r\nRCPT TO:<{smuggled}>\r\nDATA\r\nFrom: CEO <ceo@sender.example>\r\n\
             Subject: smuggled\r\n\r\nwire the money\r\n.\r\n"
        )
        .as_bytes(),
    );
    c.send(&data).await;
    c.reply().await
}

async fn run(policy: &str) {
    let proxy = Proxy::start(&postfix().addr(), &format!("data:\n  bare_line_endings: {policy}")).await;
    let mut checks = Vec::new();
    for (name, vector) in VECTORS {
        let legit = rcpt(&format!("legit-{policy}-{name}"));
        let smuggled = rcpt(&format!("smuggled-{policy}-{name}"));
        let (mut c, _) = Client::connect(proxy.addr).await;
        assert_code(&c.cmd("EHLO client.example.net").await, 250);
        let end = smuggle(&mut c, &legit, &smuggled, vector).await;
        // Exactly one reply for the whole thing, then the session is in sync.
        match policy {
            "reject" => assert_eq!(end.code(), 550, "{name}: {end}"),
            _ => assert_eq!(end.code(), 250, "{name}: {end}"),
        }
        let control = rcpt(&format!("control-{policy}-{name}"));
        assert_code(&c.cmd("MAIL FROM:<alice@sender.example>").await, 250);
        assert_code(&c.cmd(&format!("RCPT TO:<{control}>")).await, 250);
        assert_code(&c.cmd("DATA").await, 354);
        c.send(format!("{}.\r\n", message(&control, "control", &["ok"])).as_bytes()).await;
        assert_code(&c.reply().await, 250);
        assert_code(&c.cmd("QUIT").await, 221);
        checks.push((name, legit, smuggled, control));
    }
    for (name, legit, smuggled, control) in checks {
        postfix().wait_for(&control, 1).await;
        let legit_msgs =
            if policy == "reject" { postfix().messages_for(&legit) } else { postfix().wait_for(&legit, 1).await };
        assert!(postfix().messages_for(&smuggled).is_empty(), "{name}: the smuggled message was delivered");
        match policy {
            "reject" => assert!(legit_msgs.is_empty(), "{name}: a refused message was delivered"),
            _ => {
                assert_eq!(legit_msgs.len(), 1, "{name}");
                let text = String::from_utf8_lossy(&legit_msgs[0]);
                assert!(text.contains("MAIL FROM:<ceo@sender.example>"), "{name}: smuggled text missing:\n{text}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_is_refused_under_reject() {
    run("reject").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_becomes_one_message_under_normalize() {
    run("normalize").await;
}

/// BDAT (RFC 3030): a chunk that holds `\r\n.\r\n` and a whole second
/// transaction, split across two chunks at the fake end, is one message
/// whose text holds them; the real Postfix (it offers CHUNKING) gets it as
/// one BDAT and queues exactly that message, and the session stays in sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bdat_payload_with_an_end_of_data_stays_content() {
    let proxy = Proxy::start(&postfix().addr(), "").await;
    let (legit, smuggled, control) = (rcpt("bdat-legit"), rcpt("bdat-smuggled"), rcpt("bdat-control"));
    let (mut c, _) = Client::connect(proxy.addr).await;
    let ehlo = c.cmd("EHLO client.example.net").await;
    assert!(ehlo.lines().iter().any(|l| l == "CHUNKING"), "{ehlo}");
    assert_code(&c.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&c.cmd(&format!("RCPT TO:<{legit}>")).await, 250);
    let text = format!(
        "{}.\r\nMAIL FROM:<ceo@sender.example>\r\nRCPT TO:<{smuggled}>\r\nDATA\r\nSubject: smuggled\r\n\r\nwire the money\r\n.\r\n",
        message(&legit, "bdat", &["innocent body"])
    );
    let split = text.find(".\r\nMAIL").expect("the fake end") + 1;
    for (chunk, last) in [(&text[..split], ""), (&text[split..], " LAST")] {
        c.send(format!("BDAT {}{last}\r\n{chunk}", chunk.len()).as_bytes()).await;
        assert_code(&c.reply().await, 250);
    }
    // The client counts 250s after a 354 for the relay oracle; this one
    // answered BDAT LAST.
    crate::support::oracle::client_accepted(proxy.addr);
    c.deliver(&control, "control after BDAT").await;
    postfix().wait_for(&control, 1).await;
    let got = postfix().wait_for(&legit, 1).await;
    assert_eq!(got.len(), 1);
    // The Maildir file has LF line ends.
    let text = String::from_utf8_lossy(&got[0]).replace("\r\n", "\n");
    assert!(text.contains("\n.\nMAIL FROM:<ceo@sender.example>\n"), "{text}");
    assert!(postfix().messages_for(&smuggled).is_empty(), "the smuggled message was delivered");
}
