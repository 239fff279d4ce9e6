//! Every reply doorman composes itself, in one place. Handlers call these
//! constructors; no handler writes reply text. Upstream replies are relayed
//! through [`relayed`] so the mapping rules live here too.

use crate::wire::Reply;
pub(crate) mod helo;

use crate::wire::command::CommandError;
use crate::wire::params::ParamError;

/// The upstream cannot be reached: the client should retry later.
pub(crate) fn service_unavailable(host: &str) -> Reply {
    Reply::new(421, format!("4.3.0 {host} Service not available, try again later"))
}

/// The upstream failed mid-session (closed, timed out, spoke garbage).
pub(crate) fn upstream_failed(host: &str) -> Reply {
    Reply::new(421, format!("4.4.2 {host} Error: upstream connection failed, try again later"))
}

/// No verdict or upstream reply within `limits.final_reply_timeout` after
/// the final dot: the client retries, well before its own 10 minutes end.
pub(crate) fn final_reply_timeout() -> Reply {
    Reply::new(451, "4.4.1 Error: no timely answer for this message, try again later")
}

/// The client was silent for the idle timeout.
pub(crate) fn idle_timeout(host: &str) -> Reply {
    Reply::new(421, format!("4.4.2 {host} Error: timeout exceeded"))
}

/// The client made too many protocol errors.
pub(crate) fn too_many_errors(host: &str) -> Reply {
    Reply::new(421, format!("4.7.0 {host} Error: too many errors"))
}

/// The connection limit is reached.
pub(crate) fn too_many_connections(host: &str) -> Reply {
    Reply::new(421, format!("4.7.0 {host} Error: too many connections, try again later"))
}

/// This client IP has too many connections open.
pub(crate) fn too_many_connections_from(host: &str, ip: std::net::IpAddr) -> Reply {
    Reply::new(421, format!("4.7.0 {host} Error: too many connections from {ip}"))
}

/// This client connects more often than `limits.max_connection_rate_per_ip`.
pub(crate) fn connection_rate(host: &str, ip: std::net::IpAddr) -> Reply {
    Reply::new(421, format!("4.7.0 {host} Error: too many connections from {ip}, slow down"))
}

/// The client collected `limits.max_refused_recipients` refused recipients.
pub(crate) fn too_many_refused_recipients(host: &str) -> Reply {
    Reply::new(421, format!("4.7.0 {host} Error: too many refused recipients, try again later"))
}

/// The client kept its upstream session waiting too often.
pub(crate) fn too_slow(host: &str) -> Reply {
    Reply::new(421, format!("4.4.2 {host} Error: too slow, try again later"))
}

/// The session lasted longer than `limits.session_timeout`.
pub(crate) fn session_too_long(host: &str) -> Reply {
    Reply::new(421, format!("4.4.2 {host} Error: session time limit exceeded"))
}

/// doorman is shutting down; the session was idle.
pub(crate) fn shutting_down(host: &str) -> Reply {
    Reply::new(421, format!("4.3.2 {host} Service shutting down, try again later"))
}

/// The client broke SMTP's command synchronization (RFC 2920): it sent a
/// command, or message content, before the reply it had to wait for.
pub(crate) fn protocol_sync() -> Reply {
    Reply::new(554, "5.5.0 Error: SMTP protocol synchronization")
}

/// The client talked before the greeting, under `early_talker: tempfail`
/// (instead of a greeting, so a 421; `reject` sends the rule's 554).
pub(crate) fn early_talker_tempfail(host: &str) -> Reply {
    Reply::new(421, format!("4.7.0 {host} Error: talked before the greeting, try again later (rule early_talker)"))
}

/// Reply to QUIT.
pub(crate) fn bye(host: &str) -> Reply {
    Reply::new(221, format!("2.0.0 {host} closing connection"))
}

/// MAIL accepted by doorman itself, for a client refused at RCPT.
pub(crate) fn sender_ok() -> Reply {
    Reply::new(250, "2.1.0 Ok")
}

/// Reply to HELO (a single line, no extensions).
pub(crate) fn helo(host: &str) -> Reply {
    Reply::new(250, host.to_owned())
}

/// Reply to NOOP and a local RSET.
pub(crate) fn ok() -> Reply {
    Reply::new(250, "2.0.0 Ok")
}

/// Local reply to VRFY: neither confirms nor denies (RFC 5321 §3.5.3).
pub(crate) fn vrfy() -> Reply {
    Reply::new(252, "2.5.2 Cannot VRFY user, but will accept message and attempt delivery")
}

/// Local reply to EXPN.
pub(crate) fn expn() -> Reply {
    Reply::new(502, "5.5.1 Error: command not implemented")
}

/// Local reply to HELP: no software name or version.
pub(crate) fn help() -> Reply {
    Reply::multi(
        214,
        vec![
            "2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP".into(),
            "2.0.0 See RFC 5321 for details".into(),
        ],
    )
}

/// Go ahead with the message.
pub(crate) fn start_data() -> Reply {
    Reply::new(354, "End data with <CR><LF>.<CR><LF>")
}

/// MAIL inside a transaction.
pub(crate) fn nested_mail() -> Reply {
    Reply::new(503, "5.5.1 Error: nested MAIL command")
}

/// RCPT or DATA without MAIL.
pub(crate) fn need_mail() -> Reply {
    Reply::new(503, "5.5.1 Error: need MAIL command")
}

/// DATA before any RCPT.
pub(crate) fn need_rcpt() -> Reply {
    Reply::new(503, "5.5.1 Error: need RCPT command")
}

/// RCPT or DATA after BDAT chunks of the same message.
pub(crate) fn in_chunks() -> Reply {
    Reply::new(503, "5.5.1 Error: BDAT chunks already sent; only BDAT or RSET may follow")
}

/// DATA for a message declared `BODY=BINARYMIME`.
pub(crate) fn binary_needs_bdat() -> Reply {
    Reply::new(503, "5.5.1 Error: BODY=BINARYMIME needs BDAT, not DATA")
}

/// A BDAT chunk taken (all but the last, whose reply is the upstream's).
pub(crate) fn chunk_taken(size: u64) -> Reply {
    Reply::new(250, format!("2.0.0 {size} octets taken"))
}

/// BDAT where CHUNKING was not offered (after HELO, or turned off): the
/// session closes, the payload unread.
pub(crate) fn chunking_not_offered() -> Reply {
    Reply::new(521, "5.5.1 Error: BDAT needs EHLO and CHUNKING; closing")
}

/// `BDAT 0` without LAST: a chunk of nothing that does not end the message.
pub(crate) fn empty_chunk() -> Reply {
    Reply::new(501, "5.5.4 Error: an empty BDAT chunk must be the last")
}

/// BDAT content relayed by an upstream that no longer takes BDAT (a
/// BINARYMIME message cannot go by DATA).
pub(crate) fn binary_not_relayable() -> Reply {
    Reply::new(451, "4.3.0 Error: the mail server cannot take binary content now, try again later")
}

/// DATA after every RCPT was refused.
pub(crate) fn no_valid_recipients() -> Reply {
    Reply::new(554, "5.5.1 Error: no valid recipients")
}

/// One RCPT beyond `limits.max_recipients`.
pub(crate) fn too_many_recipients() -> Reply {
    Reply::new(452, "4.5.3 Error: too many recipients")
}

/// A UTF-8 address without SMTPUTF8 (RFC 6531 §3.5).
pub(crate) fn utf8_needs_smtputf8() -> Reply {
    Reply::new(553, "5.6.7 Error: non-ASCII address requires SMTPUTF8")
}

/// The message exceeded `limits.max_message_size`.
pub(crate) fn message_too_big() -> Reply {
    Reply::new(552, "5.3.4 Error: message file too big")
}

/// A message text line exceeded 1000 octets.
pub(crate) fn line_too_long() -> Reply {
    Reply::new(552, "5.3.4 Error: message line longer than 1000 octets (RFC 5321 4.5.3.1.6)")
}

/// Bare CR, bare LF or NUL in a message under the `reject` policy.
pub(crate) fn bare_line_endings() -> Reply {
    Reply::new(550, "5.6.0 Error: message contains bare CR, bare LF or NUL; lines must end in CRLF (RFC 5321 2.3.8)")
}

/// No room to spool the message (a full disk, `data.spool_max_total` or
/// `data.spool_min_free`): the client retries later.
pub(crate) fn insufficient_storage() -> Reply {
    Reply::new(452, "4.3.1 Error: insufficient system storage, try again later")
}

/// The spool could not be written (an I/O error other than a full disk).
pub(crate) fn spool_failed() -> Reply {
    Reply::new(451, "4.3.0 Error: queue file write error")
}

/// A command line ending in bare LF under the `reject` policy.
pub(crate) fn bare_lf_command() -> Reply {
    Reply::new(500, "5.5.2 Error: bare <LF> received; commands must end in CRLF")
}

/// AUTH when it is not offered on this connection.
pub(crate) fn auth_not_enabled() -> Reply {
    Reply::new(503, "5.5.1 Error: authentication not enabled")
}

/// AUTH after a successful AUTH.
pub(crate) fn already_authenticated() -> Reply {
    Reply::new(503, "5.5.1 Error: already authenticated")
}

/// AUTH inside a mail transaction.
pub(crate) fn auth_in_transaction() -> Reply {
    Reply::new(503, "5.5.1 Error: MAIL transaction in progress")
}

/// Go ahead with the TLS handshake.
pub(crate) fn starttls_ready() -> Reply {
    Reply::new(220, "2.0.0 Ready to start TLS")
}

/// STARTTLS on a connection that already has TLS.
pub(crate) fn tls_already_active() -> Reply {
    Reply::new(554, "5.5.1 Error: TLS already active")
}

/// MAIL or AUTH before STARTTLS on a `tls: required` listener.
pub(crate) fn tls_required() -> Reply {
    Reply::new(530, "5.7.0 Must issue a STARTTLS command first")
}

/// MAIL after STARTTLS without a new EHLO.
pub(crate) fn ehlo_after_starttls() -> Reply {
    Reply::new(503, "5.5.1 Error: send EHLO first; the session was reset by STARTTLS")
}

/// STARTTLS after a successful AUTH.
pub(crate) fn starttls_after_auth() -> Reply {
    Reply::new(503, "5.5.1 Error: STARTTLS is not allowed after AUTH")
}

/// A command that is only allowed between transactions.
pub(crate) fn transaction_in_progress() -> Reply {
    Reply::new(503, "5.5.1 Error: MAIL transaction in progress")
}

/// STARTTLS when doorman does not offer it.
pub(crate) fn starttls_not_offered() -> Reply {
    Reply::new(502, "5.5.1 Error: command not implemented")
}

/// The reply to a command line that could not be parsed.
pub(crate) fn command_error(e: &CommandError) -> Reply {
    match e {
        CommandError::LineTooLong => Reply::new(500, "5.5.2 Error: command line too long"),
        CommandError::BadBytes => Reply::new(500, "5.5.2 Error: NUL or bare CR in command"),
        CommandError::NotAscii => Reply::new(500, "5.5.2 Error: bad UTF-8 syntax or 8-bit characters"),
        CommandError::NotImplemented => Reply::new(502, "5.5.1 Error: command not implemented"),
        CommandError::Chunking => Reply::new(554, "5.5.4 Error: BDAT without a valid chunk size; closing"),
        CommandError::Forbidden => Reply::new(550, "5.7.0 Error: insufficient authorization"),
        CommandError::Unknown | CommandError::NonSmtp => Reply::new(500, "5.5.2 Error: command not recognized"),
        CommandError::Syntax { usage } => Reply::new(501, format!("5.5.4 Syntax: {usage}")),
        CommandError::BadSender => Reply::new(501, "5.1.7 Bad sender address syntax"),
        CommandError::BadRecipient => Reply::new(501, "5.1.3 Bad recipient address syntax"),
        CommandError::BadParam => Reply::new(501, "5.5.4 Bad parameter syntax"),
    }
}

/// The reply to a refused MAIL or RCPT parameter.
pub(crate) fn param_error(e: &ParamError) -> Reply {
    match e {
        ParamError::Unsupported(k) => Reply::new(555, format!("5.5.4 Unsupported option: {k}")),
        ParamError::BadValue(k) => Reply::new(501, format!("5.5.4 Bad {k} parameter value")),
        ParamError::TooBig => Reply::new(552, "5.3.4 Message size exceeds fixed limit"),
    }
}

/// An upstream reply on its way to the client: relayed verbatim (it was
/// parsed strictly and is re-encoded), except 421, which closes the upstream
/// and names the upstream host: the client gets doorman's own 421 instead.
pub(crate) fn relayed(upstream: Reply, host: &str) -> Reply {
    if upstream.code() == 421 { service_unavailable(host) } else { upstream }
}

// Content scanning. The texts are the operator's `scanners.replies`
// templates (their defaults are in `crate::config::scanners`), rendered by
// `crate::scan`; the constructors below fix the codes.

/// A virus was found; `text` is the rendered `scanners.replies.virus`.
pub(crate) fn scan_virus(text: &str) -> Reply {
    Reply::new(554, format!("5.7.1 {text}"))
}

/// Spam at or above the reject score; `text` is the rendered `scanners.replies.spam`.
pub(crate) fn scan_spam(text: &str) -> Reply {
    Reply::new(554, format!("5.7.1 {text}"))
}

/// A scanner failed under `on_error: tempfail` (or `on_too_big: tempfail`).
pub(crate) fn scan_tempfail(text: &str) -> Reply {
    Reply::new(451, format!("4.7.1 {text}"))
}

/// A scanner failed under `on_error: reject`.
pub(crate) fn scan_unscanned(text: &str) -> Reply {
    Reply::new(554, format!("5.7.1 {text}"))
}

/// The message is bigger than a scanner takes, under `on_too_big: reject`.
pub(crate) fn scan_too_big(text: &str) -> Reply {
    Reply::new(552, format!("5.3.4 {text}"))
}

/// rspamd said `soft reject` or `greylist`.
pub(crate) fn scan_deferred(text: &str) -> Reply {
    Reply::new(451, format!("4.7.1 {text}"))
}
