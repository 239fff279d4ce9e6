//! The main session: what any client sees. Greeting, EHLO (HELO if EHLO is
//! refused), HELP, VRFY, EXPN, then `MAIL FROM:<>` and RCPT for addresses
//! that exist and one that does not, then RSET and QUIT. Never DATA: the
//! audit sends no message.

use super::super::conn::Conn;
use super::super::plan::Plan;
use super::super::progress::Progress;
use super::super::raw_reply::End;
use super::super::transcript::{Enumeration, Exchange, ProbeFailure, Surface, Users};

/// What the main session recorded.
pub(super) struct Recorded {
    pub(super) surface: Surface,
    pub(super) enumeration: Option<Enumeration>,
    pub(super) users: Users,
    pub(super) failure: Option<ProbeFailure>,
}

/// A connection that stops asking once a reply did not complete, or was 421.
struct Asker {
    conn: Conn,
    failure: Option<ProbeFailure>,
}

impl Asker {
    async fn ask(&mut self, line: &str) -> Option<Exchange> {
        if self.failure.is_some() {
            return None;
        }
        let exchange = self.conn.command(line).await;
        if let Some(why) = match &exchange.reply.end {
            // 421: the server is closing the session (RFC 5321 3.8).
            End::Complete if exchange.reply.code() == Some(421) => Some(exchange.reply.summary()),
            End::Complete => None,
            End::Timeout => Some("no complete reply in time".to_owned()),
            End::Closed => Some("the server closed the connection".to_owned()),
            End::TooBig => Some("the reply was too big".to_owned()),
            End::Failed(e) => Some(e.clone()),
        } {
            self.failure = Some(ProbeFailure { probe: "session", error: format!("{line}: {why}") });
        }
        Some(exchange)
    }
}

/// Runs the main session.
///
/// # Errors
/// No connection, no greeting at all, or a greeting that refuses the
/// session (421, 554): there is nothing to audit.
pub(super) async fn run(plan: &Plan, progress: &mut Progress) -> Result<Recorded, String> {
    let target = plan.target.addr();
    let mut conn = Conn::connect(&target, plan.limits).await?;
    let greeting = conn.read_reply().await;
    if greeting.lines.is_empty() {
        let why = match &greeting.end {
            End::Timeout => format!("no greeting within {:?}", plan.limits.step),
            End::Closed => "the connection closed before any greeting".to_owned(),
            other => format!("{other:?}"),
        };
        return Err(format!("{target}: {why}"));
    }
    if greeting.is_complete() && greeting.code() != Some(220) {
        return Err(format!("{target} refused the session: {}", greeting.summary()));
    }
    let complete = greeting.is_complete();
    let mut surface = Surface::greeting(greeting);
    if !complete {
        let users = plan.users(&plan.domain(&surface));
        return Ok(Recorded { surface, enumeration: None, users, failure: None });
    }
    let mut asker = Asker { conn, failure: None };
    progress.step(&format!("{target}: EHLO, HELP"));
    surface.ehlo = asker.ask(&format!("EHLO {}", plan.helo)).await;
    if surface.ehlo.as_ref().is_some_and(|e| e.reply.is_permanent_failure()) {
        surface.helo = asker.ask(&format!("HELO {}", plan.helo)).await;
    }
    surface.help = asker.ask("HELP").await;
    let users = plan.users(&plan.domain(&surface));
    progress.step(&format!("{target}: VRFY, EXPN"));
    for known in &users.known {
        surface.vrfy_known.extend(asker.ask(&format!("VRFY {known}")).await);
    }
    surface.vrfy_unknown = asker.ask(&format!("VRFY {}", users.unknown)).await;
    surface.expn = asker.ask(&format!("EXPN {}", users.known[0])).await;
    progress.step(&format!("{target}: RCPT for an existing and an unknown user"));
    let enumeration = rcpt(&mut asker, &users).await;
    let failure = asker.failure.take();
    if failure.is_none() {
        asker.conn.quit().await;
    }
    Ok(Recorded { surface, enumeration, users, failure })
}

/// `MAIL FROM:<>`, RCPT for each address, RSET.
async fn rcpt(asker: &mut Asker, users: &Users) -> Option<Enumeration> {
    let mail = asker.ask("MAIL FROM:<>").await?;
    let mut e = Enumeration { mail, known: Vec::new(), unknown: None };
    if e.mail.reply.is_positive() {
        for known in &users.known {
            e.known.extend(asker.ask(&format!("RCPT TO:<{known}>")).await);
        }
        e.unknown = asker.ask(&format!("RCPT TO:<{}>", users.unknown)).await;
        let _ = asker.ask("RSET").await;
    }
    Some(e)
}
