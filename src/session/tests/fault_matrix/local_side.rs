//! The local side of the fault matrix, in memory. FAULT INJECTION ONLY (the
//! scripted MTA of `upstream.rs`, the harness's client): the spool cannot be
//! written (a missing directory, `data.spool_max_total`, no free space left
//! above `data.spool_min_free`), and shutdown (what SIGTERM starts) at each
//! point of a session. SIGHUP and SIGTERM to the real process, with its
//! file descriptors counted, are the rows of `tests/faults.rs`.

use super::client_side::{Act, Payload, Row, run};
use super::{DATA_FLOW, Saw, panicked, report};

const fn row(stage: &'static str, fault: &'static str, data: &'static str, act: Act, want: &'static [u16]) -> Row {
    Row { stage, fault, data, yaml: "", flow: DATA_FLOW, done: 4, act, want, saw: Saw::Envelope }
}

fn rows() -> Vec<Row> {
    use {Act::*, Payload::*};
    let mut rows = vec![
        row("DATA-mid", "spool dir missing", "  spool_dir: /nonexistent/doorman-spool\n", Send(WholeMessage), &[451]),
        row("DATA-mid", "spool_max_total", "  spool_max_total: 2KiB\n", Send(WholeMessage), &[452]),
        row("DATA-mid", "disk full (min_free)", "  spool_min_free: 1000TiB\n", Send(WholeMessage), &[452]),
    ];
    let term = "shutdown";
    rows.extend([
        Row { done: 0, saw: Saw::Nothing, ..row("greeting", term, "", Shutdown(Nothing, Nothing), &[421]) },
        Row { done: 1, saw: Saw::Nothing, ..row("HELO", term, "", Shutdown(Nothing, Nothing), &[421]) },
        Row { done: 2, ..row("MAIL", term, "", Shutdown(Nothing, Line("RCPT TO:<bob@example.test>")), &[250, 421]) },
        Row { done: 3, ..row("DATA", term, "", Shutdown(Line("DATA"), Nothing), &[354, 421]) },
        Row { saw: Saw::One, ..row("DATA-mid", term, "", Shutdown(HalfMessage, Raw("more\r\n.\r\n")), &[250, 421]) },
        Row { saw: Saw::One, ..row("after-dot", term, "", Shutdown(WholeMessage, Nothing), &[250, 421]) },
        // Before QUIT (a QUIT racing the shutdown gets 221 or 421, both right).
        Row { done: 5, saw: Saw::One, ..row("QUIT", "shutdown before QUIT", "", Shutdown(Nothing, Nothing), &[421]) },
    ]);
    rows
}

/// The local side of the fault matrix (see the module docs).
#[tokio::test(start_paused = true)]
async fn fault_matrix_local_side() {
    let mut cells = Vec::new();
    for row in rows() {
        let (stage, fault) = (row.stage, row.fault);
        let cell = tokio::spawn(async move { run(&row, true).await }).await;
        cells.push(cell.unwrap_or_else(|e| panicked(stage, fault, &e)));
    }
    report("local", &cells);
}
