//! The synchronisation probes, each on its own connection: an EHLO sent
//! before the greeting (an early talker, what spambots do), and EHLO and
//! NOOP in one write before PIPELINING was offered (RFC 2920 forbids it).
//! A server that cares refuses or disconnects; one that does not answers.

use super::super::conn::Conn;
use super::super::plan::Plan;
use super::super::raw_reply::escape;
use super::super::transcript::SyncProbe;

/// How often the early talker tries before it calls a server one that
/// answers early talkers. A server that checks can still miss one (it may
/// greet before the EHLO arrives: a race of microseconds); a server that
/// does not check never refuses one.
const EARLY_ATTEMPTS: usize = 3;

/// EHLO at once after connecting; the greeting and the EHLO reply. Tried
/// again on a new connection while the server answers the EHLO.
///
/// # Errors
/// No connection, or the write failed.
pub(super) async fn early_talker(plan: &Plan) -> Result<SyncProbe, String> {
    let sent = format!("EHLO {}\r\n", plan.helo);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut conn = Conn::connect_talking(&plan.target.addr(), plan.limits, sent.as_bytes()).await?;
        let mut replies = vec![conn.read_reply().await];
        if replies[0].is_positive() {
            replies.push(conn.read_reply().await);
        }
        conn.quit().await;
        let answered = replies.len() == 2 && replies[1].is_positive();
        if !answered || attempts == EARLY_ATTEMPTS {
            return Ok(SyncProbe { sent: escape(sent.as_bytes()), replies, attempts });
        }
    }
}

/// EHLO and NOOP in one write after the greeting.
///
/// # Errors
/// No connection, no 220 greeting, or the write failed.
pub(super) async fn pipelining(plan: &Plan) -> Result<SyncProbe, String> {
    let mut conn = Conn::connect(&plan.target.addr(), plan.limits).await?;
    let greeting = conn.read_reply().await;
    if !greeting.is_positive() {
        return Err(format!("no 220 greeting: {}", greeting.summary()));
    }
    let sent = format!("EHLO {}\r\nNOOP\r\n", plan.helo);
    conn.send(sent.as_bytes()).await.map_err(|e| format!("{e:?}"))?;
    let mut replies = vec![conn.read_reply().await];
    if replies[0].is_positive() {
        replies.push(conn.read_reply().await);
    }
    conn.quit().await;
    Ok(SyncProbe { sent: escape(sent.as_bytes()), replies, attempts: 1 })
}
