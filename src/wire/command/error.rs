//! Why a command line was refused: one variant per reply
//! (`replies::command_error`), with its metrics label.

/// Why a command line was refused. Each variant maps to exactly one reply
/// (see `replies::command_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Longer than [`COMMAND_LINE_MAX`] (AUTH: [`AUTH_LINE_MAX`]).
    #[error("command line too long")]
    LineTooLong,
    /// NUL or a bare CR inside the line.
    #[error("NUL or bare CR in command")]
    BadBytes,
    /// Not UTF-8, or 8-bit where only ASCII is allowed.
    #[error("8-bit or invalid UTF-8 in command")]
    NotAscii,
    /// An empty line or an unknown verb.
    #[error("unrecognized command")]
    Unknown,
    /// A verb doorman knows but does not offer (ETRN, TURN, …).
    #[error("command not implemented")]
    NotImplemented,
    /// BDAT without a chunk size doorman can read: the payload that follows would be
    /// read as commands, so the session closes.
    #[error("BDAT without a valid chunk size")]
    Chunking,
    /// XCLIENT/XFORWARD from a client: reserved for doorman itself.
    #[error("privileged command from client")]
    Forbidden,
    /// HTTP verbs and header-like lines: content sent as commands.
    #[error("non-SMTP command")]
    NonSmtp,
    /// Wrong arguments for a known verb; `usage` is the expected form.
    #[error("syntax error, expected {usage}")]
    Syntax { usage: &'static str },
    /// MAIL FROM path that is not a valid reverse-path.
    #[error("bad sender address syntax")]
    BadSender,
    /// RCPT TO path that is not a valid forward-path.
    #[error("bad recipient address syntax")]
    BadRecipient,
    /// A malformed or duplicated ESMTP parameter.
    #[error("bad parameter syntax")]
    BadParam,
}

impl CommandError {
    /// A fixed label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::LineTooLong => "line_too_long",
            Self::BadBytes => "bad_bytes",
            Self::NotAscii => "not_ascii",
            Self::Unknown => "unknown_command",
            Self::NotImplemented => "not_implemented",
            Self::Chunking => "bdat",
            Self::Forbidden => "forbidden_command",
            Self::NonSmtp => "non_smtp",
            Self::Syntax { .. } => "syntax",
            Self::BadSender => "bad_sender",
            Self::BadRecipient => "bad_recipient",
            Self::BadParam => "bad_parameter",
        }
    }

    /// The session cannot go on after this error: BDAT chunks whose payload
    /// would be read as commands. (A non-SMTP client is the session's
    /// `non_smtp_command` rule to judge.)
    pub fn closes_session(&self) -> bool {
        matches!(self, Self::Chunking)
    }
}
