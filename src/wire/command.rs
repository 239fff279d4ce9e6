//! Client commands: parsing a command line into a validated [`Command`], and
//! encoding it again in canonical form for the upstream. The upstream never
//! sees the client's raw bytes, only what [`Command::encode`] writes.

use bytes::{BufMut, BytesMut};

use self::path::{split_path, valid_mailbox};
use super::limits::{AUTH_LINE_MAX, COMMAND_LINE_MAX};

mod path;

mod error;
pub use error::CommandError;

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
    /// `BDAT size [LAST]` (RFC 3030): `size` octets of message follow the
    /// command line, and are never read as commands.
    Bdat { size: u64, last: bool },
}

impl Command {
    /// Parses one command line (without CRLF).
    ///
    /// # Errors
    /// A [`CommandError`] naming what is wrong; the session replies and goes on.
    pub fn parse(line: &[u8]) -> Result<Self, CommandError> {
        let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        if line[..verb_end].eq_ignore_ascii_case(b"BDAT") {
            // Whatever is wrong with a BDAT line, its payload follows: only a
            // size read from a clean line lets the session go on.
            return Self::parse_clean(line).map_err(|_| CommandError::Chunking);
        }
        Self::parse_clean(line)
    }

    fn parse_clean(line: &[u8]) -> Result<Self, CommandError> {
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
            "BDAT" => parse_bdat(rest),
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
            Self::Bdat { .. } => "BDAT",
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
            Self::Bdat { size, last } => {
                let size = size.to_string();
                let words: &[&[u8]] = if *last { &[verb, size.as_bytes(), b"LAST"] } else { &[verb, size.as_bytes()] };
                put_words(dst, words);
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

/// `size [LAST]`: a size of 1 to 20 digits (0 is legal, RFC 3030 2). A
/// size doorman cannot read leaves the payload's end unknown:
/// [`CommandError::Chunking`], which closes the session.
fn parse_bdat(rest: &str) -> Result<Command, CommandError> {
    let mut words = rest.split([' ', '\t']).filter(|w| !w.is_empty());
    let size = words.next().filter(|w| w.len() <= 20 && w.bytes().all(|b| b.is_ascii_digit()));
    let size = size.and_then(|w| w.parse::<u64>().ok()).ok_or(CommandError::Chunking)?;
    let last = match (words.next(), words.next()) {
        (None, _) => false,
        (Some(w), None) if w.eq_ignore_ascii_case("LAST") => true,
        _ => return Err(CommandError::Chunking),
    };
    Ok(Command::Bdat { size, last })
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
