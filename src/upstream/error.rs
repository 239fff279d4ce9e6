//! Upstream failures, named by what happened and at which stage.

use std::time::Duration;

use crate::wire::{Reply, ReplyError};

/// The point of the dialogue where the upstream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// TCP connect.
    Connect,
    /// The 220 greeting.
    Greeting,
    /// HELO or EHLO.
    Helo,
    /// STARTTLS and the TLS handshake.
    StartTls,
    /// XCLIENT or XFORWARD.
    Identity,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// The DATA command.
    Data,
    /// Streaming the message content.
    Message,
    /// The reply to the final dot.
    DataEnd,
    /// RSET.
    Rset,
    /// The AUTH exchange.
    Auth,
    /// VRFY, EXPN or HELP passed through.
    Query,
    /// QUIT.
    Quit,
    /// Between commands.
    Idle,
}

impl Stage {
    /// A fixed label for logs and metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Greeting => "greeting",
            Self::Helo => "helo",
            Self::StartTls => "starttls",
            Self::Identity => "identity",
            Self::Mail => "mail",
            Self::Rcpt => "rcpt",
            Self::Data => "data",
            Self::Message => "message",
            Self::DataEnd => "data_end",
            Self::Rset => "rset",
            Self::Auth => "auth",
            Self::Query => "query",
            Self::Quit => "quit",
            Self::Idle => "idle",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the upstream could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No connection and greeting within `connect_timeout`.
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout { addr: String, after: Duration },
    /// The connection was refused or the name did not resolve.
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// No reply within the stage's timeout.
    #[error("no reply during {stage} within {after:?}")]
    Timeout { stage: Stage, after: Duration },
    /// The upstream closed the connection.
    #[error("upstream closed the connection during {stage}")]
    Closed { stage: Stage },
    /// A read or write failed.
    #[error("i/o error during {stage}: {source}")]
    Io {
        stage: Stage,
        #[source]
        source: std::io::Error,
    },
    /// The upstream sent something that is not an SMTP reply.
    #[error("malformed reply during {stage}: {source}")]
    Protocol {
        stage: Stage,
        #[source]
        source: ReplyError,
    },
    /// The upstream sent bytes no command was waiting for: replies would be
    /// handed to the wrong commands from here on.
    #[error("upstream sent {unsolicited} bytes no command asked for, before {stage}")]
    OutOfSync { stage: Stage, unsolicited: usize },
    /// The upstream sent bytes after its 220 to STARTTLS, before the TLS
    /// handshake: a response-injection attempt.
    #[error("upstream sent data after its STARTTLS reply (response injection)")]
    Injection,
    /// The upstream does not offer what `client_identity` needs.
    #[error("upstream does not offer {0}; authorize doorman there or change upstream.client_identity")]
    IdentityUnsupported(&'static str),
    /// The client's identity cannot be sent whole; nothing may be relayed.
    #[error("client identity not sent: {0}")]
    IdentityIncomplete(#[from] super::identity::IdentityError),
    /// TLS is required toward the upstream and it does not offer STARTTLS.
    #[error("upstream does not offer STARTTLS and upstream.tls is required")]
    TlsUnavailable,
    /// The spooled message could not be read back (local disk failure).
    #[error("reading the spooled message: {0}")]
    Spool(#[source] std::io::Error),
    /// A well-formed reply that makes no sense at this stage.
    #[error("unexpected reply during {stage}: {reply}")]
    Unexpected { stage: Stage, reply: Reply },
}

impl UpstreamError {
    /// An I/O error; a reset or broken pipe means the upstream went away.
    pub(crate) fn io(stage: Stage, source: std::io::Error) -> Self {
        use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
        match source.kind() {
            BrokenPipe | ConnectionReset | UnexpectedEof => Self::Closed { stage },
            _ => Self::Io { stage, source },
        }
    }

    /// The stage where it failed.
    pub(crate) fn stage(&self) -> Stage {
        match self {
            Self::ConnectTimeout { .. } | Self::Connect { .. } => Stage::Connect,
            Self::Spool(_) => Stage::Message,
            Self::Injection | Self::TlsUnavailable => Stage::StartTls,
            Self::IdentityUnsupported(_) | Self::IdentityIncomplete(_) => Stage::Identity,
            Self::Timeout { stage, .. }
            | Self::Closed { stage }
            | Self::Io { stage, .. }
            | Self::Protocol { stage, .. }
            | Self::Unexpected { stage, .. }
            | Self::OutOfSync { stage, .. } => *stage,
        }
    }

    /// A fixed label for metrics.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::ConnectTimeout { .. } | Self::Timeout { .. } => "timeout",
            Self::Connect { .. } => "connect",
            Self::Closed { .. } => "closed",
            Self::Io { .. } => "io",
            Self::Protocol { .. } => "protocol",
            Self::Unexpected { .. } => "unexpected",
            Self::OutOfSync { .. } => "out_of_sync",
            Self::Spool(_) => "spool",
            Self::Injection => "injection",
            Self::IdentityUnsupported(_) => "unsupported",
            Self::IdentityIncomplete(_) => "incomplete",
            Self::TlsUnavailable => "tls_unavailable",
        }
    }
}
