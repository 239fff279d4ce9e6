//! The client side of the fault matrix. FAULT INJECTION ONLY: the harness's
//! client disconnects, stalls, or sends more than it announced (its SIZE,
//! a BDAT chunk's size, the size limit) at each stage; the upstream is the
//! well-behaved scripted MTA of `upstream.rs`. The runner is shared with the
//! local side.

use super::super::upstream::Mta;
use super::{Cell, DATA_FLOW, RSET_FLOW, Saw, drive, end, harness, message, panicked, report, saw_fits, short};

/// What the client sends when the fault strikes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Payload {
    /// Nothing.
    Nothing,
    /// A command line (CRLF added).
    Line(&'static str),
    /// Bytes as they are (a partial line, a BDAT chunk).
    Raw(&'static str),
    /// The first half of the message.
    HalfMessage,
    /// The message and its final dot.
    WholeMessage,
}

impl Payload {
    fn bytes(self) -> Vec<u8> {
        let message = message();
        match self {
            Self::Nothing => Vec::new(),
            Self::Line(l) => format!("{l}\r\n").into_bytes(),
            Self::Raw(r) => r.as_bytes().to_vec(),
            Self::HalfMessage => message.as_bytes()[..message.len() / 2].to_vec(),
            Self::WholeMessage => format!("{message}.\r\n").into_bytes(),
        }
    }
}

/// The fault.
#[derive(Debug, Clone, Copy)]
pub(super) enum Act {
    /// Send the payload and hang up without reading.
    Disconnect(Payload),
    /// Send the payload, then nothing more; read until doorman closes.
    Stall(Payload),
    /// Send the payload, read as many replies as expected, then QUIT.
    Send(Payload),
    /// Send the first payload, shut doorman down (as SIGTERM does), send
    /// the second; read until doorman closes.
    Shutdown(Payload, Payload),
}

/// One row: names, `data:` keys, the client's flow and how many of its
/// steps go as normal before the fault, the replies expected after it
/// (exact codes, or 4 / 5 for a class), and what may reach the upstream.
pub(super) struct Row {
    pub(super) stage: &'static str,
    pub(super) fault: &'static str,
    pub(super) data: &'static str,
    /// Top-level YAML (`limits:`).
    pub(super) yaml: &'static str,
    pub(super) flow: &'static [(&'static str, u16)],
    pub(super) done: usize,
    pub(super) act: Act,
    pub(super) want: &'static [u16],
    pub(super) saw: Saw,
}

/// The replies until doorman closes.
async fn until_close(s: &mut super::Running, replies: &mut Vec<String>) {
    while let Some(r) = s.client.try_reply().await {
        replies.push(short(&r.to_string()));
    }
}

/// Runs a row; the replies after the fault, or why it never got there.
async fn act(s: &mut super::Running, row: &Row) -> Result<Vec<String>, String> {
    if let Some((verb, _, text)) = drive(s, &row.flow[..row.done]).await {
        return Err(format!("{verb} -> {text} before the fault"));
    }
    let mut replies = Vec::new();
    match row.act {
        Act::Disconnect(p) => {
            let _ = s.client.try_send(&p.bytes()).await;
        }
        Act::Stall(p) => {
            let _ = s.client.try_send(&p.bytes()).await;
            until_close(s, &mut replies).await;
        }
        Act::Send(p) => {
            let _ = s.client.try_send(&p.bytes()).await;
            while replies.len() < row.want.len()
                && let Some(r) = s.client.try_reply().await
            {
                replies.push(short(&r.to_string()));
            }
            let _ = s.client.try_send(b"QUIT\r\n").await;
        }
        Act::Shutdown(before, after) => {
            let _ = s.client.try_send(&before.bytes()).await;
            tokio::task::yield_now().await;
            s.shutdown.cancel();
            let _ = s.client.try_send(&after.bytes()).await;
            until_close(s, &mut replies).await;
        }
    }
    Ok(replies)
}

/// Whether the replies are the expected ones.
fn replies_fit(want: &[u16], got: &[String]) -> bool {
    let codes: Vec<u16> = got.iter().map(|r| r.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0)).collect();
    codes.len() == want.len() && want.iter().zip(&codes).all(|(&w, &c)| if w < 10 { c / 100 == w } else { c == w })
}

pub(super) async fn run(row: &Row, greet: bool) -> Cell {
    let dir = tempfile::tempdir().expect("spool dir");
    let h = harness(&dir, row.data).yaml(row.yaml).mta(Mta::default());
    let mut s = if greet { h.greeted().await } else { h.start() };
    let got = act(&mut s, row).await;
    let (up, leak) = end(s, &dir).await;
    let saw = Saw::of(&up);
    let pass = got.as_ref().is_ok_and(|r| replies_fit(row.want, r)) && saw_fits(saw.as_ref().ok(), row.saw);
    let mut reply = match &got {
        Ok(r) if r.is_empty() => "(none read)".into(),
        Ok(r) => r.join(" | "),
        Err(e) => e.clone(),
    };
    if !pass {
        reply.push_str(&format!(" (want {:?}, {:?})", row.want, row.saw));
    }
    let saw = saw.map_or_else(|e| e, |s| format!("{s:?}"));
    Cell { stage: row.stage, fault: row.fault, pass: pass && leak == "none", reply, saw, leak }
}

const fn row(stage: &'static str, fault: &'static str, done: usize, act: Act, want: &'static [u16], saw: Saw) -> Row {
    Row { stage, fault, data: "", yaml: "", flow: DATA_FLOW, done, act, want, saw }
}

const MAIL: &str = "MAIL FROM:<alice@sender.example>";
const SIZE_FLOW: &[(&str, u16)] = &[
    ("EHLO client.example.net", 250),
    ("MAIL FROM:<alice@sender.example> SIZE=1000", 250),
    ("RCPT TO:<bob@example.test>", 250),
    ("DATA", 354),
];

fn rows() -> Vec<Row> {
    use {Act::*, Payload::*};
    let gone = "disconnects";
    let mut rows = vec![
        row("greeting", gone, 0, Disconnect(Nothing), &[], Saw::Nothing),
        row("HELO", gone, 0, Disconnect(Line("EHLO client.example.net")), &[], Saw::Nothing),
        row("MAIL", gone, 1, Disconnect(Line(MAIL)), &[], Saw::Envelope),
        row("RCPT", gone, 2, Disconnect(Line("RCPT TO:<bob@example.test>")), &[], Saw::Envelope),
        row("DATA", gone, 3, Disconnect(Line("DATA")), &[], Saw::Envelope),
        row("DATA-mid", gone, 4, Disconnect(HalfMessage), &[], Saw::Envelope),
        row("after-dot", gone, 4, Disconnect(WholeMessage), &[], Saw::One),
        Row { flow: RSET_FLOW, ..row("RSET", gone, 3, Disconnect(Line("RSET")), &[], Saw::Envelope) },
        row("QUIT", gone, 5, Disconnect(Line("QUIT")), &[], Saw::One),
        row("BDAT", "gone mid-chunk", 3, Disconnect(Raw("BDAT 100 LAST\r\nSubject: short\r\n")), &[], Saw::Envelope),
    ];
    let stall = "stalls";
    rows.extend([
        row("greeting", stall, 0, Stall(Nothing), &[421], Saw::Nothing),
        row("HELO", stall, 0, Stall(Raw("EHLO cli")), &[421], Saw::Nothing),
        row("MAIL", stall, 1, Stall(Raw("MAIL FROM:<al")), &[421], Saw::Nothing),
        row("RCPT", stall, 2, Stall(Raw("RCPT TO:<b")), &[421], Saw::Envelope),
        row("DATA", stall, 3, Stall(Raw("DA")), &[421], Saw::Envelope),
        row("DATA-mid", stall, 4, Stall(HalfMessage), &[421], Saw::Envelope),
        row("after-dot", stall, 4, Stall(WholeMessage), &[250, 421], Saw::One),
        Row { flow: RSET_FLOW, ..row("RSET", stall, 3, Stall(Raw("RS")), &[421], Saw::Envelope) },
        row("QUIT", stall, 5, Stall(Nothing), &[421], Saw::One),
        row("BDAT", "stalls mid-chunk", 3, Stall(Raw("BDAT 100 LAST\r\nSubject: x\r\n")), &[421], Saw::Envelope),
    ]);
    let yaml = "limits:\n  max_message_size: 2KiB";
    let past_chunk = Raw("BDAT 10 LAST\r\nSubject: xjunk past the chunk\r\n");
    rows.extend([
        Row { flow: SIZE_FLOW, ..row("DATA-mid", "more than its SIZE", 4, Send(WholeMessage), &[250], Saw::One) },
        Row {
            yaml,
            ..row(
                "MAIL",
                "SIZE over the limit",
                1,
                Send(Line("MAIL FROM:<a@b.example> SIZE=99999")),
                &[552],
                Saw::Nothing,
            )
        },
        Row { yaml, ..row("DATA-mid", "over the size limit", 4, Send(WholeMessage), &[552], Saw::Envelope) },
        row("BDAT", "past the chunk's size", 3, Send(past_chunk), &[250, 5], Saw::One),
        Row {
            yaml,
            ..row("BDAT", "chunk over the limit", 3, Send(Raw("BDAT 99999 LAST\r\nx")), &[552], Saw::Envelope)
        },
    ]);
    rows
}

/// The client side of the fault matrix (see the module docs).
#[tokio::test(start_paused = true)]
async fn fault_matrix_client_side() {
    let mut cells = Vec::new();
    let connect = row("connect", "disconnects", 0, Act::Disconnect(Payload::Nothing), &[], Saw::Nothing);
    cells.push(tokio::spawn(async move { run(&connect, false).await }).await.expect("connect row"));
    for row in rows() {
        let (stage, fault) = (row.stage, row.fault);
        let cell = tokio::spawn(async move { run(&row, true).await }).await;
        cells.push(cell.unwrap_or_else(|e| panicked(stage, fault, &e)));
    }
    report("client", &cells);
}
