//! The local side of the fault matrix, against the real process: the spool
//! directory removed under it, the spool budget spent, SIGHUP (reload) and
//! SIGTERM (drain) in the middle of a session. FAULT INJECTION ONLY in the
//! sense that the faults are made by the test; the upstream is Postfix's
//! `smtp-sink` and the scanners are not used.

use std::time::Duration;

use crate::support::client::Client;
use crate::{Cell, Setup, message, open_data, report, short};

/// The local faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    SpoolDirRemoved,
    SpoolMaxTotal,
    HupAtGreeting,
    HupMidData,
    TermAtHelo,
    TermMidData,
}

/// Sends the message in two halves with `between` run in the middle; the
/// reply to the final dot.
async fn message_in_halves(c: &mut Client, between: impl AsyncFnOnce()) -> String {
    let m = format!("{}.\r\n", message());
    let (first, second) = m.split_at(m.len() / 2);
    c.send(first.as_bytes()).await;
    between().await;
    c.send(second.as_bytes()).await;
    short(&c.reply().await.to_string())
}

/// The session of a row; the replies that matter, joined.
async fn session(setup: &Setup, fault: Fault) -> String {
    let (mut c, _) = Client::connect(setup.d.addr).await;
    if fault == Fault::TermAtHelo {
        assert_eq!(c.cmd("EHLO client.example.net").await.code(), 250);
        setup.d.signal("TERM");
        return c.try_reply().await.map_or_else(|| "closed".into(), |r| short(&r.to_string()));
    }
    if fault == Fault::HupAtGreeting {
        setup.d.signal("HUP");
        setup.d.wait_log("configuration reloaded").await;
    }
    if let Err(e) = open_data(&mut c).await {
        return e;
    }
    let reply = message_in_halves(&mut c, async || match fault {
        Fault::HupMidData => {
            setup.d.signal("HUP");
            setup.d.wait_log("configuration reloaded").await;
        }
        Fault::TermMidData => {
            setup.d.signal("TERM");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        _ => {}
    })
    .await;
    // After a drain the session ends with a 421; otherwise QUIT ends it.
    let after = if fault == Fault::TermMidData {
        c.try_reply().await
    } else {
        c.send(b"QUIT\r\n").await;
        c.try_reply().await
    };
    format!("{reply} | {}", after.map_or_else(|| "closed".into(), |r| short(&r.to_string())))
}

async fn run(stage: &'static str, fault: Fault, want: &str, want_saw: &str) -> Cell {
    let data = if fault == Fault::SpoolMaxTotal { "  spool_max_total: 2KiB\n" } else { "" };
    let mut setup = Setup::start("shutdown:\n  grace_period: 20s\n", data).await;
    if fault == Fault::SpoolDirRemoved {
        std::fs::remove_dir(setup.spool_dir()).expect("remove the spool dir");
    }
    let reply = session(&setup, fault).await;
    let (saw, mut leak) = setup.verdict().await;
    if matches!(fault, Fault::TermAtHelo | Fault::TermMidData) {
        let status = setup.d.wait(Duration::from_secs(30)).await;
        if status.code() != Some(0) {
            leak = format!("exit {status}");
        }
    }
    let pass = reply.starts_with(want) && saw == want_saw && leak == "none";
    let mut fault = format!("{fault:?}");
    if !pass {
        fault.push_str(&format!(" (want {want}, {want_saw})"));
    }
    Cell { stage, fault, reply, saw, leak, pass }
}

/// The local side of the fault matrix, real process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_local_side_process() {
    let rows = [
        ("DATA-mid", Fault::SpoolDirRemoved, "451 4.3.0", "Envelope"),
        ("DATA-mid", Fault::SpoolMaxTotal, "452 4.3.1", "Envelope"),
        ("greeting", Fault::HupAtGreeting, "250 ", "One"),
        ("DATA-mid", Fault::HupMidData, "250 ", "One"),
        ("HELO", Fault::TermAtHelo, "421 4.3.2", "Nothing"),
        ("DATA-mid", Fault::TermMidData, "250 ", "One"),
    ];
    let mut cells = Vec::new();
    for (stage, fault, want, saw) in rows {
        cells.push(run(stage, fault, want, saw).await);
    }
    report("local (process)", &cells);
}
