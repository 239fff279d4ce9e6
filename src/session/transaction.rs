//! The mail transaction as a pure state machine: which of MAIL, RCPT and DATA
//! may come next (RFC 5321 §3.3), and the recipient limit. The session asks
//! before relaying and records what the upstream accepted.

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
        /// RCPT commands the upstream accepted.
        accepted: usize,
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

    /// The upstream accepted MAIL.
    pub(super) fn mail_accepted(&mut self, utf8: bool) {
        *self = Self::Open { utf8, attempted: 0, accepted: 0 };
    }

    /// May RCPT come now? Returns whether SMTPUTF8 is in effect.
    ///
    /// # Errors
    /// [`SequenceError::NeedMail`] or [`SequenceError::TooManyRecipients`].
    pub(super) fn check_rcpt(&self, max_recipients: usize) -> Result<bool, SequenceError> {
        match self {
            Self::Idle => Err(SequenceError::NeedMail),
            Self::Open { accepted, .. } if *accepted >= max_recipients => Err(SequenceError::TooManyRecipients),
            Self::Open { utf8, .. } => Ok(*utf8),
        }
    }

    /// A RCPT was relayed; `accepted` if the upstream said 2xx.
    pub(super) fn rcpt_relayed(&mut self, was_accepted: bool) {
        if let Self::Open { attempted, accepted, .. } = self {
            *attempted += 1;
            *accepted += usize::from(was_accepted);
        }
    }

    /// May DATA come now?
    ///
    /// # Errors
    /// [`SequenceError::NeedMail`], [`SequenceError::NeedRcpt`] or
    /// [`SequenceError::NoValidRecipients`].
    pub(super) fn check_data(&self) -> Result<usize, SequenceError> {
        match self {
            Self::Idle => Err(SequenceError::NeedMail),
            Self::Open { attempted: 0, .. } => Err(SequenceError::NeedRcpt),
            Self::Open { accepted: 0, .. } => Err(SequenceError::NoValidRecipients),
            Self::Open { accepted, .. } => Ok(*accepted),
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
        t.mail_accepted(false);
        assert_eq!(t.check_mail(), Err(SequenceError::NestedMail));
        assert_eq!(t.check_data(), Err(SequenceError::NeedRcpt));
        assert_eq!(t.check_rcpt(2), Ok(false));
        t.rcpt_relayed(false);
        assert_eq!(t.check_data(), Err(SequenceError::NoValidRecipients));
        t.rcpt_relayed(true);
        t.rcpt_relayed(true);
        assert_eq!(t.check_rcpt(2), Err(SequenceError::TooManyRecipients));
        assert_eq!(t.check_data(), Ok(2));
        t.reset();
        assert_eq!(t.check_rcpt(2), Err(SequenceError::NeedMail));
    }
}
