//! One line of client input, before its command runs: framing errors, the
//! deep protocol tests of the client rules (`bare_newline`,
//! `non_smtp_command`, `pipelining`), and SMTP command synchronization
//! (`limits.forbid_unauth_pipelining`, RFC 2920): a command sent before the
//! reply it depends on, or message content sent before the 354, closes the
//! connection with `554 5.5.0` and is never executed. That is what a bot
//! that writes a whole session at once, and hannob's smtpsmug "pipelining"
//! pattern (`.\r\nMAIL…\r\nRCPT…\r\nDATA\r\n<message 2>` in one write), run into.

use tracing::{debug, info};

use super::connection::Input;
use super::{Flow, Session, Step, reason};
use crate::config::{Rule, SyncCheck};
use crate::metrics::{NoUpstream, Reason, metrics};
use crate::replies;
use crate::tls::Io;
use crate::upstream::Dialer;
use crate::wire::{Command, CommandError, LineEndingPolicy};

/// Commands that must end a pipelined group: what the client sends next
/// depends on their reply (RFC 2920 §3.1; HELO too).
fn ends_group(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Ehlo { .. }
            | Command::Helo { .. }
            | Command::Data
            | Command::Vrfy { .. }
            | Command::Expn { .. }
            | Command::Noop
    )
}

impl<S: Io, D: Dialer> Session<S, D> {
    /// `pipelined`: the line was sent before the replies to the lines before it.
    pub(super) async fn on_input(&mut self, input: Input, pipelined: bool) -> Step {
        let line = match input {
            Input::Eof => return Ok(Flow::Close),
            Input::TooLong => {
                let e = CommandError::LineTooLong;
                return Ok(self.protocol_error(reason(&e), replies::command_error(&e)));
            }
            Input::Line(line) => line,
        };
        if line.bare_lf {
            self.deep_test(Rule::BareNewline, "a command ended by a bare LF");
            if self.config.data.bare_line_endings == LineEndingPolicy::Reject {
                let flow = self.protocol_error(Reason::BareLf, replies::bare_lf_command());
                // A refused BDAT line: its payload must not run as commands.
                let bdat = line.bytes.get(..4).is_some_and(|v| v.eq_ignore_ascii_case(b"BDAT"));
                return Ok(if bdat { Flow::Close } else { flow });
            }
        }
        match Command::parse(&line.bytes) {
            Ok(cmd) => {
                debug!(verb = cmd.verb(), pipelined, "command");
                if self.out_of_sync(&cmd, pipelined) == Flow::Close {
                    return Ok(Flow::Close);
                }
                self.dispatch(cmd).await
            }
            Err(CommandError::NonSmtp) => Ok(self.on_non_smtp()),
            Err(e) => {
                debug!(error = %e, "invalid command");
                let reply = replies::command_error(&e);
                if e.closes_session() {
                    metrics().reject(reason(&e));
                    self.conn.queue(&reply);
                    return Ok(Flow::Close);
                }
                Ok(self.protocol_error(reason(&e), reply))
            }
        }
    }

    /// Records a failed deep protocol test (unless the rules skip this client).
    fn deep_test(&mut self, rule: Rule, detail: &str) {
        if self.policy_applies() {
            let found = self.shared.helo.check_protocol(rule, detail);
            self.record(found.into_iter().collect());
        }
    }

    /// An HTTP verb or a header line: the connection closes whatever the
    /// rule says (a client sending its message as commands would otherwise
    /// have its body lines run as commands); `non_smtp_command` decides the
    /// reply (the rule's refusal, or an unknown command under `monitor` and
    /// `off`) and the log.
    fn on_non_smtp(&mut self) -> Flow {
        self.deep_test(Rule::NonSmtpCommand, "an HTTP verb or a header line sent as a command");
        metrics().reject(Reason::NonSmtp);
        self.ended = Some(NoUpstream::NonSmtp);
        let reply = match self.findings.refusal_for(Rule::NonSmtpCommand).filter(|_| self.policy_applies()) {
            Some(reply) => reply,
            None => replies::command_error(&CommandError::NonSmtp),
        };
        self.conn.queue(&reply);
        Flow::Close
    }

    /// Command synchronization: `Close` if `cmd` broke it under `reject`.
    fn out_of_sync(&mut self, cmd: &Command, pipelined: bool) -> Flow {
        let unoffered = pipelined && !self.advertised.has("PIPELINING");
        if unoffered {
            self.deep_test(Rule::Pipelining, "commands sent before their replies without PIPELINING");
        }
        let check = if self.helo_exempt { SyncCheck::Off } else { self.client.sync };
        if check == SyncCheck::Off {
            return Flow::Continue;
        }
        let early = ends_group(cmd) && self.conn.input_pending();
        if !(unoffered || early) {
            return Flow::Continue;
        }
        let what =
            if early { "input after a command that must end a pipelined group" } else { "pipelining not offered" };
        self.sync_violations += 1;
        metrics().sync_violation(check);
        if check == SyncCheck::Monitor {
            if self.sync_violations == 1 {
                info!(
                    rule = "forbid_unauth_pipelining",
                    verb = cmd.verb(),
                    what,
                    "would refuse: SMTP protocol synchronization"
                );
            }
            return Flow::Continue;
        }
        info!(
            rule = "forbid_unauth_pipelining",
            verb = cmd.verb(),
            what,
            "refused: SMTP protocol synchronization; closing"
        );
        metrics().reject(Reason::ProtocolSync);
        self.ended = Some(NoUpstream::ProtocolSync);
        self.conn.queue(&replies::protocol_sync());
        Flow::Close
    }
}
