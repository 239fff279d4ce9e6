//! Client commands: parsing a command line into a validated [`Command`], and
//! encoding it again in canonical form for the upstream. The upstream never
//! sees the client's raw bytes, only what [`Command::encode`] writes.

use bytes::{BufMut, BytesMut};

use self::path::{split_path, valid_mailbox};
use super::limits::{AUTH_LINE_MAX, COMMAND_LINE_MAX};

mod path;

/// An ESMTP parameter of MAIL or RCPT (`SIZE=1000`, `BODY=8BITMIME`, `SMTPUTF8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Upper-cased keyword.
    pub keyword: String,
    /// The value after `=`, if any.
    pub value: Option<String>,
}

/// A parsed, validated client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `HELO domain`
    Helo { domain: String },
    /// `EHLO domain`
    Ehlo { domain: String },
    /// `MAIL FROM:<path> params`; an empty path is the null sender.
    Mail { path: String, params: Vec<Param> },
    /// `RCPT TO:<path> params`
    Rcpt { path: String, params: Vec<Param> },
    /// `DATA`
    Data,
    /// `RSET`
    Rset,
    /// `NOOP [anything]`
    Noop,
    /// `QUIT`
    Quit,
    /// `VRFY string`
    Vrfy { arg: String },
    /// `EXPN string`
    Expn { arg: String },
    /// `HELP [topic]`
    Help { arg: Option<String> },
    /// `AUTH mechanism [initial-response]`
    Auth { mechanism: String, initial: Option<String> },
    /// `STARTTLS`
    StartTls,
}

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
    /// A verb doorman knows but does not offer (ETRN, TURN, BDAT, …).
    #[error("command not implemented")]
    NotImplemented,
    /// BDAT: CHUNKING is never offered, and the payload that follows would be
    /// read as commands, so the session closes.
    #[error("BDAT without CHUNKING")]
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

impl Command {
    /// Parses one command line (without CRLF).
    ///
    /// # Errors
    /// A [`CommandError`] naming what is wrong; the session replies and goes on.
    pub fn parse(line: &[u8]) -> Result<Self, CommandError> {
        let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let is_auth = line[..verb_end].eq_ignore_ascii_case(b"AUTH");
        let max = if is_auth { AUTH_LINE_MAX } else { COMMAND_LINE_MAX };
        if line.len() + 2 > max {
            return Err(CommandError::LineTooLong);
        }
        if line.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(CommandError::BadBytes);
        }
        let text = std::str::from_utf8(line).map_err(|_| CommandError::NotAscii)?;
        let text = text.trim_matches([' ', '\t']);
        let (verb, rest) = match text.split_once([' ', '\t']) {
            Some((v, r)) => (v, r.trim_start_matches([' ', '\t'])),
            None => (text, ""),
        };
        let upper = verb.to_ascii_uppercase();
        if !matches!(upper.as_str(), "MAIL" | "RCPT") && !text.is_ascii() {
            return Err(CommandError::NotAscii);
        }
        match upper.as_str() {
            "HELO" => Ok(Self::Helo { domain: required(rest, "HELO hostname")? }),
            "EHLO" => Ok(Self::Ehlo { domain: required(rest, "EHLO hostname")? }),
            "MAIL" => parse_mail(rest).and_then(within_line),
            "RCPT" => parse_rcpt(rest).and_then(within_line),
            "DATA" => no_args(rest, Self::Data, "DATA"),
            "RSET" => no_args(rest, Self::Rset, "RSET"),
            "QUIT" => no_args(rest, Self::Quit, "QUIT"),
            "STARTTLS" => no_args(rest, Self::StartTls, "STARTTLS"),
            "NOOP" => Ok(Self::Noop),
            "VRFY" => Ok(Self::Vrfy { arg: required(rest, "VRFY address")? }),
            "EXPN" => Ok(Self::Expn { arg: required(rest, "EXPN mailing-list")? }),
            "HELP" => Ok(Self::Help { arg: (!rest.is_empty()).then(|| rest.to_owned()) }),
            "AUTH" => parse_auth(rest),
            "XCLIENT" | "XFORWARD" => Err(CommandError::Forbidden),
            "BDAT" => Err(CommandError::Chunking),
            "ETRN" | "TURN" | "ATRN" | "XEXCH50" | "SEND" | "SOML" | "SAML" => Err(CommandError::NotImplemented),
            "GET" | "POST" | "HEAD" | "PUT" | "CONNECT" | "OPTIONS" | "DELETE" => Err(CommandError::NonSmtp),
            _ if looks_like_header(verb) => Err(CommandError::NonSmtp),
            _ => Err(CommandError::Unknown),
        }
    }

    /// The verb, for logs and metrics.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Helo { .. } => "HELO",
            Self::Ehlo { .. } => "EHLO",
            Self::Mail { .. } => "MAIL",
            Self::Rcpt { .. } => "RCPT",
            Self::Data => "DATA",
            Self::Rset => "RSET",
            Self::Noop => "NOOP",
            Self::Quit => "QUIT",
            Self::Vrfy { .. } => "VRFY",
            Self::Expn { .. } => "EXPN",
            Self::Help { .. } => "HELP",
            Self::Auth { .. } => "AUTH",
            Self::StartTls => "STARTTLS",
        }
    }

    /// Appends the canonical command line, CRLF included.
    pub fn encode(&self, dst: &mut BytesMut) {
        let verb = self.verb().as_bytes();
        match self {
            Self::Helo { domain } | Self::Ehlo { domain } => put_words(dst, &[verb, domain.as_bytes()]),
            Self::Mail { path, params } => put_path(dst, b"MAIL FROM:<", path, params),
            Self::Rcpt { path, params } => put_path(dst, b"RCPT TO:<", path, params),
            Self::Vrfy { arg } | Self::Expn { arg } => put_words(dst, &[verb, arg.as_bytes()]),
            Self::Help { arg: Some(arg) } => put_words(dst, &[verb, arg.as_bytes()]),
            Self::Auth { mechanism, initial } => {
                let mut words = vec![verb, mechanism.as_bytes()];
                words.extend(initial.as_deref().map(str::as_bytes));
                put_words(dst, &words);
            }
            Self::Data | Self::Rset | Self::Noop | Self::Quit | Self::StartTls | Self::Help { arg: None } => {
                put_words(dst, &[verb]);
            }
        }
    }
}

fn put_words(dst: &mut BytesMut, words: &[&[u8]]) {
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            dst.put_u8(b' ');
        }
        dst.put_slice(w);
    }
    dst.put_slice(b"\r\n");
}

fn put_path(dst: &mut BytesMut, prefix: &[u8], path: &str, params: &[Param]) {
    dst.put_slice(prefix);
    dst.put_slice(path.as_bytes());
    dst.put_u8(b'>');
    for p in params {
        dst.put_u8(b' ');
        dst.put_slice(p.keyword.as_bytes());
        if let Some(v) = &p.value {
            dst.put_u8(b'=');
            dst.put_slice(v.as_bytes());
        }
    }
    dst.put_slice(b"\r\n");
}

/// The command, unless its canonical form is longer than a command line
/// (found by fuzzing: a bare path gains its brackets, so a 510-octet
/// `MAIL FROM:a@b` was relayed in 512 octets and its CRLF).
fn within_line(cmd: Command) -> Result<Command, CommandError> {
    let mut wire = BytesMut::new();
    cmd.encode(&mut wire);
    if wire.len() > COMMAND_LINE_MAX { Err(CommandError::LineTooLong) } else { Ok(cmd) }
}

fn required(rest: &str, usage: &'static str) -> Result<String, CommandError> {
    if rest.is_empty() { Err(CommandError::Syntax { usage }) } else { Ok(rest.to_owned()) }
}

fn no_args(rest: &str, cmd: Command, usage: &'static str) -> Result<Command, CommandError> {
    if rest.is_empty() { Ok(cmd) } else { Err(CommandError::Syntax { usage }) }
}

/// `From:`, `Subject:`, `Received:`: a header line read as a command.
fn looks_like_header(verb: &str) -> bool {
    verb.len() > 1
        && verb.ends_with(':')
        && verb[..verb.len() - 1].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Strips a case-insensitive keyword such as `FROM:` and the spaces after it.
fn strip_keyword<'a>(rest: &'a str, keyword: &str) -> Option<&'a str> {
    let head = rest.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword).then(|| rest[keyword.len()..].trim_start_matches([' ', '\t']))
}

fn parse_mail(rest: &str) -> Result<Command, CommandError> {
    const USAGE: &str = "MAIL FROM:<address>";
    let rest = strip_keyword(rest, "FROM:").ok_or(CommandError::Syntax { usage: USAGE })?;
    let (path, params) = split_path(rest).ok_or(CommandError::BadSender)?;
    if !path.is_empty() && !valid_mailbox(path) {
        return Err(CommandError::BadSender);
    }
    Ok(Command::Mail { path: path.to_owned(), params: parse_params(params)? })
}

fn parse_rcpt(rest: &str) -> Result<Command, CommandError> {
    const USAGE: &str = "RCPT TO:<address>";
    let rest = strip_keyword(rest, "TO:").ok_or(CommandError::Syntax { usage: USAGE })?;
    let (path, params) = split_path(rest).ok_or(CommandError::BadRecipient)?;
    if path.is_empty() || !valid_mailbox(path) {
        return Err(CommandError::BadRecipient);
    }
    Ok(Command::Rcpt { path: path.to_owned(), params: parse_params(params)? })
}

fn parse_params(text: &str) -> Result<Vec<Param>, CommandError> {
    let mut params: Vec<Param> = Vec::new();
    for word in text.split([' ', '\t']).filter(|w| !w.is_empty()) {
        let (keyword, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        let keyword_ok = keyword.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && keyword.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let value_ok = value.is_none_or(|v| !v.is_empty() && v.bytes().all(|b| (33..=126).contains(&b) && b != b'='));
        if !keyword_ok || !value_ok {
            return Err(CommandError::BadParam);
        }
        let keyword = keyword.to_ascii_uppercase();
        if params.iter().any(|p| p.keyword == keyword) {
            return Err(CommandError::BadParam);
        }
        params.push(Param { keyword, value: value.map(str::to_owned) });
    }
    Ok(params)
}

fn parse_auth(rest: &str) -> Result<Command, CommandError> {
    const USAGE: &str = "AUTH mechanism [initial-response]";
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let mechanism = words.next().ok_or(CommandError::Syntax { usage: USAGE })?;
    let initial = words.next();
    let mechanism_ok =
        mechanism.len() <= 20 && mechanism.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !mechanism_ok || words.next().is_some() || initial.is_some_and(|i| !is_sasl_response(i)) {
        return Err(CommandError::Syntax { usage: USAGE });
    }
    Ok(Command::Auth { mechanism: mechanism.to_ascii_uppercase(), initial: initial.map(str::to_owned) })
}

/// A SASL response line: base64, `=` (empty initial response) or `*` (cancel).
pub fn is_sasl_response(s: &str) -> bool {
    s == "=" || s == "*" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)))
}

#[cfg(test)]
mod tests;
