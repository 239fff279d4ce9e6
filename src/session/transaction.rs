//! The mail transaction as a pure state machine: which of MAIL, RCPT and DATA
//! may come next (RFC 5321 §3.3), and the recipient limit. The session asks
//! before relaying and records what the upstream accepted.

use crate::wire::Command;

/// A command that is out of sequence, or over a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SequenceError {
    /// MAIL inside a transaction.
    NestedMail,
    /// RCPT or DATA without a MAIL.
    NeedMail,
    /// DATA before any RCPT.
    NeedRcpt,
    /// DATA after every RCPT was refused.
    NoValidRecipients,
    /// RCPT beyond the recipient limit.
    TooManyRecipients,
    /// RCPT or DATA after BDAT chunks (RFC 3030: one way per message).
    InChunks,
    /// DATA for a `BODY=BINARYMIME` message (RFC 3030 3: BDAT only).
    BinaryNeedsBdat,
}

/// The envelope of an open transaction: the sender, and the recipients the
/// upstream accepted (logged only with `log.addresses`; rspamd gets them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Envelope {
    pub(super) from: String,
    pub(super) rcpts: Vec<String>,
}

/// Where the client is in the transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) enum Transaction {
    /// No MAIL yet, or the last one ended.
    #[default]
    Idle,
    /// The upstream accepted MAIL.
    Open {
        /// SMTPUTF8 was given on MAIL.
        utf8: bool,
        /// RCPT commands relayed.
        attempted: usize,
        /// The sender and the accepted recipients.
        envelope: Envelope,
        /// MAIL and the accepted RCPTs as the upstream got them: to build
        /// the transaction again after the upstream session was released.
        replay: Vec<Command>,
        /// BDAT chunks taken so far (the message is not complete yet).
        chunks: u32,
    },
}

impl Transaction {
    /// May MAIL come now?
    ///
    /// # Errors
    /// [`SequenceError::NestedMail`].
    pub(super) fn check_mail(&self) -> Result<(), SequenceError> {
        match self {
            Self::Idle => Ok(()),
            Self::Open { .. } => Err(SequenceError::NestedMail),
        }
    }

    /// The upstream accepted MAIL from `from`.
    pub(super) fn mail_accepted(&mut self, utf8: bool, from: String) {
        let envelope = Envelope { from, rcpts: Vec::new() };
        *self = Self::Open { utf8, attempted: 0, envelope, replay: Vec::new(), chunks: 0 };
    }

    /// `cmd` (MAIL, or a RCPT it accepted) is part of the upstream's
    /// transaction now.
    pub(super) fn relayed(&mut self, cmd: Command) {
        if let Self::Open { replay, .. } = self {
            replay.push(cmd);
        }
    }

    /// The commands that build this transaction at an upstream again.
    pub(super) fn replay(&self) -> &[Command] {
        match self {
            Self::Open { replay, .. } => replay,
            Self::Idle => &[],
        }
    }

    /// May RCPT come now? Returns whether SMTPUTF8 is in effect.
    ///
    /// # Errors
    /// [`SequenceError::NeedMail`] or [`SequenceError::TooManyRecipients`].
    pub(super) fn check_rcpt(&self, max_recipients: usize) -> Result<bool, SequenceError> {
        match self {
            Self::Idle => Err(SequenceError::NeedMail),
            Self::Open { chunks: 1.., .. } => Err(SequenceError::InChunks),
            Self::Open { envelope, .. } if envelope.rcpts.len() >= max_recipients => {
                Err(SequenceError::TooManyRecipients)
            }
            Self::Open { utf8, .. } => Ok(*utf8),
        }
    }

    /// A RCPT to `path` was answered (by the upstream, or refused by doorman);
    /// `accepted` if it got a 2xx.
    pub(super) fn rcpt_answered(&mut self, accepted: bool, path: String) {
        if let Self::Open { attempted, envelope, .. } = self {
            *attempted += 1;
            if accepted {
                envelope.rcpts.push(path);
            }
        }
    }

    /// May DATA come now?
    ///
    /// # Errors
    /// [`SequenceError::NeedMail`], [`SequenceError::NeedRcpt`] or
    /// [`SequenceError::NoValidRecipients`].
    pub(super) fn check_data(&self) -> Result<usize, SequenceError> {
        match self {
            Self::Open { chunks: 1.., .. } => Err(SequenceError::InChunks),
            _ if self.is_binary() => Err(SequenceError::BinaryNeedsBdat),
            _ => self.check_bdat(),
        }
    }

    /// May a BDAT chunk come now? As DATA, and also after earlier chunks.
    ///
    /// # Errors
    /// As [`Transaction::check_data`].
    pub(super) fn check_bdat(&self) -> Result<usize, SequenceError> {
        match self {
            Self::Idle => Err(SequenceError::NeedMail),
            Self::Open { attempted: 0, .. } => Err(SequenceError::NeedRcpt),
            Self::Open { envelope, .. } if envelope.rcpts.is_empty() => Err(SequenceError::NoValidRecipients),
            Self::Open { envelope, .. } => Ok(envelope.rcpts.len()),
        }
    }

    /// A BDAT chunk was taken.
    pub(super) fn chunk_taken(&mut self) {
        if let Self::Open { chunks, .. } = self {
            *chunks = chunks.saturating_add(1);
        }
    }

    /// MAIL said `BODY=BINARYMIME`: the content is octets, relayed by BDAT only.
    pub(super) fn is_binary(&self) -> bool {
        let body = |p: &crate::wire::Param| {
            p.keyword == "BODY" && p.value.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("BINARYMIME"))
        };
        matches!(self.replay().first(), Some(Command::Mail { params, .. }) if params.iter().any(body))
    }

    /// The envelope, when a transaction is open.
    pub(super) fn envelope(&self) -> Option<&Envelope> {
        match self {
            Self::Open { envelope, .. } => Some(envelope),
            Self::Idle => None,
        }
    }

    /// A transaction is open (the upstream holds MAIL state).
    pub(super) fn is_open(&self) -> bool {
        matches!(self, Self::Open { .. })
    }

    /// Ends the transaction (RSET, EHLO, end of DATA, failure).
    pub(super) fn reset(&mut self) {
        *self = Self::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencing_table() {
        let mut t = Transaction::default();
        assert_eq!(t.check_rcpt(10), Err(SequenceError::NeedMail));
        assert_eq!(t.check_data(), Err(SequenceError::NeedMail));
        assert_eq!(t.check_mail(), Ok(()));
        t.mail_accepted(false, "a@sender.example".into());
        assert_eq!(t.check_mail(), Err(SequenceError::NestedMail));
        assert_eq!(t.check_data(), Err(SequenceError::NeedRcpt));
        assert_eq!(t.check_rcpt(2), Ok(false));
        t.rcpt_answered(false, "refused@example.test".into());
        assert_eq!(t.check_data(), Err(SequenceError::NoValidRecipients));
        t.rcpt_answered(true, "b@example.test".into());
        t.rcpt_answered(true, "c@example.test".into());
        assert_eq!(t.check_rcpt(2), Err(SequenceError::TooManyRecipients));
        assert_eq!(t.check_data(), Ok(2));
        let envelope = t.envelope().expect("open");
        assert_eq!((envelope.from.as_str(), envelope.rcpts.len()), ("a@sender.example", 2));
        t.reset();
        assert_eq!(t.check_rcpt(2), Err(SequenceError::NeedMail));
    }
}
