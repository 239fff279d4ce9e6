//! The upstream side of the fault matrix. FAULT INJECTION ONLY: a scripted
//! upstream (`upstream.rs`) that dies, stalls, answers garbage, answers 421
//! or answers slowly at each stage of a session; the client is the
//! harness's, under paused time.

use std::time::Duration;

use super::super::upstream::{Step, Upstream};
use super::{Cell, DATA_FLOW, RSET_FLOW, Saw, Want, cell, drive, end, harness, panicked, report};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connect,
    Greeting,
    Helo,
    Mail,
    Rcpt,
    /// The upstream's reply to DATA (before its 354).
    Data,
    /// After its 354, while doorman writes the message.
    DataMid,
    /// After the final dot, before the reply.
    AfterDot,
    Rset,
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Dies,
    Stalls,
    Garbage,
    Says421,
    /// Answers, but only after [`SLOW`] (less than every timeout).
    Slow,
}

/// How long a slow upstream takes (`upstream.connect_timeout` is 5s).
const SLOW: Duration = Duration::from_secs(3);

/// The stages of a session with a message, and of one reset instead.
const DATA_STAGES: &[Stage] = &[
    Stage::Greeting,
    Stage::Helo,
    Stage::Mail,
    Stage::Rcpt,
    Stage::Data,
    Stage::DataMid,
    Stage::AfterDot,
    Stage::Quit,
];
const RSET_STAGES: &[Stage] = &[Stage::Greeting, Stage::Helo, Stage::Mail, Stage::Rcpt, Stage::Rset, Stage::Quit];

/// What the upstream reads at a stage (`None`: nothing), and its answer.
fn normal(stage: Stage) -> (Option<Step>, &'static str) {
    match stage {
        Stage::Connect | Stage::DataMid => (None, ""),
        Stage::Greeting => (None, "220 backend.test ESMTP\r\n"),
        Stage::Helo => (Some(Step::Expect("EHLO")), "250-backend.test\r\n250 PIPELINING\r\n"),
        Stage::Mail => (Some(Step::Expect("MAIL")), "250 2.1.0 Ok\r\n"),
        Stage::Rcpt => (Some(Step::Expect("RCPT")), "250 2.1.5 Ok\r\n"),
        Stage::Data => (Some(Step::Expect("DATA")), "354 End data with <CR><LF>.<CR><LF>\r\n"),
        Stage::AfterDot => (Some(Step::ExpectData), "250 2.0.0 Ok: queued as 4ABC\r\n"),
        Stage::Rset => (Some(Step::Expect("RSET")), "250 2.0.0 Ok\r\n"),
        Stage::Quit => (Some(Step::Expect("QUIT")), "221 2.0.0 Bye\r\n"),
    }
}

/// The upstream's script: every stage before `at` as normal, then `fault`
/// (a slow upstream goes on as normal after its wait).
fn script(stages: &[Stage], at: Stage, fault: Fault) -> Vec<Step> {
    let mut steps = Vec::new();
    for &stage in stages {
        let (read, answer) = normal(stage);
        steps.extend(read);
        if stage != at {
            steps.extend((!answer.is_empty()).then_some(Step::Send(answer)));
            continue;
        }
        match fault {
            Fault::Dies => steps.push(Step::Close),
            Fault::Stalls => steps.push(Step::Hang),
            Fault::Garbage => steps.push(Step::Send("25O garbage\0\r\n")),
            Fault::Says421 => steps.extend([Step::Send("421 4.3.2 backend.test shutting down\r\n"), Step::Close]),
            Fault::Slow => {
                steps.push(Step::Wait(SLOW));
                steps.extend((!answer.is_empty()).then_some(Step::Send(answer)));
                continue;
            }
        }
        break;
    }
    steps
}

/// The upstream connection for a row.
fn upstream(stages: &[Stage], at: Stage, fault: Fault) -> Vec<Upstream> {
    match (at, fault) {
        (Stage::Connect, Fault::Dies) => Vec::new(),
        (Stage::Connect, Fault::Stalls) => vec![Upstream::Blackhole],
        (Stage::Connect, _) => vec![Upstream::SlowDial(SLOW, script(stages, Stage::Connect, Fault::Slow))],
        _ => vec![Upstream::Script(script(stages, at, fault))],
    }
}

/// One row: the stage, the fault, the reply, what reached the upstream.
type Row = (Stage, Fault, Want, Saw);

async fn run(&(stage, fault, want, saw): &Row) -> Cell {
    let stages = if stage == Stage::Rset { RSET_STAGES } else { DATA_STAGES };
    let flow = if stage == Stage::Rset { RSET_FLOW } else { DATA_FLOW };
    let dir = tempfile::tempdir().expect("spool dir");
    let mut s = harness(&dir, "").upstreams(upstream(stages, stage, fault)).greeted().await;
    let got = drive(&mut s, flow).await;
    let ended = end(s, &dir).await;
    let names = (leak_name(format!("{stage:?}")), leak_name(format!("{fault:?}")));
    cell(names, (want, saw), got, ended)
}

/// A name for the table (a handful per run: leaked on purpose).
fn leak_name(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

/// The rows: every stage × every fault (connect: dies, stalls, slow).
fn rows() -> Vec<Row> {
    use Fault::*;
    use Stage::*;
    let ok = |stage: Stage, saw| (stage, Slow, None, saw);
    let mut rows = vec![(Connect, Dies, Some(("MAIL", 421)), Saw::Nothing)];
    rows.push((Connect, Stalls, Some(("MAIL", 421)), Saw::Nothing));
    rows.push(ok(Connect, Saw::One));
    // Before MAIL: the client hears at its MAIL (the late connect).
    for stage in [Greeting, Helo] {
        for fault in [Dies, Stalls, Garbage, Says421] {
            rows.push((stage, fault, Some(("MAIL", 421)), Saw::Nothing));
        }
        rows.push(ok(stage, Saw::One));
    }
    let data_stages: [(Stage, &str, Saw); 6] = [
        (Mail, "MAIL", Saw::Envelope),
        (Rcpt, "RCPT", Saw::Envelope),
        (Data, ".", Saw::Envelope),
        (DataMid, ".", Saw::Envelope),
        (AfterDot, ".", Saw::One),
        (Rset, "RSET", Saw::Envelope),
    ];
    for (stage, verb, saw) in data_stages {
        for fault in [Dies, Stalls, Garbage, Says421] {
            rows.push((stage, fault, Some((verb, 4)), saw));
        }
        rows.push(ok(stage, if stage == Rset { Saw::Envelope } else { Saw::One }));
    }
    // The message was taken: QUIT is answered whatever the upstream does.
    for fault in [Dies, Stalls, Garbage, Says421, Slow] {
        rows.push((Quit, fault, None, Saw::One));
    }
    rows
}

/// The upstream side of the fault matrix (see the module docs): each row
/// in a task of its own under paused time.
#[tokio::test(start_paused = true)]
async fn fault_matrix_upstream_side() {
    let mut cells = Vec::new();
    for row in rows() {
        let task = tokio::spawn(async move { run(&row).await });
        let names = (leak_name(format!("{:?}", row.0)), leak_name(format!("{:?}", row.1)));
        cells.push(task.await.unwrap_or_else(|e| panicked(names.0, names.1, &e)));
    }
    report("upstream", &cells);
}
