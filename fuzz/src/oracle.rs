//! What doorman may write to the upstream, checked byte by byte: CRLF line
//! endings only, no NUL, bare CR or bare LF; commands that doorman's own
//! parser reads as SMTP commands (or doorman's XCLIENT/XFORWARD, or a SASL
//! response after a 334); message content dot-stuffed, with exactly one
//! lone `.` line, its last.

use bytes::BytesMut;
use doorman::wire::command::is_sasl_response;
use doorman::wire::{Command, CommandError};

/// The body of one CRLF line (`line` holds its terminator), or why it is
/// not a clean line.
pub fn clean_line(line: &[u8]) -> Result<&[u8], String> {
    let Some(body) = line.strip_suffix(b"\r\n") else {
        return Err(format!("a line not ended by CRLF: {line:?}"));
    };
    if let Some(b) = body.iter().find(|&&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("byte {b:#04x} inside a line: {line:?}"));
    }
    Ok(body)
}

/// Checks one command line doorman sent (CRLF included). `sasl`: the last
/// reply was a 334, so a SASL response is due.
pub fn check_command(line: &[u8], sasl: bool) -> Result<(), String> {
    let body = clean_line(line)?;
    if sasl && std::str::from_utf8(body).is_ok_and(is_sasl_response) {
        return Ok(());
    }
    match Command::parse(body) {
        Ok(cmd) => {
            let mut canonical = BytesMut::new();
            cmd.encode(&mut canonical);
            if canonical[..] != line[..] {
                return Err(format!("not in canonical form: {line:?}, canonical {canonical:?}"));
            }
            Ok(())
        }
        Err(CommandError::Forbidden) => check_identity(body),
        Err(e) => Err(format!("not an SMTP command ({e}): {line:?}")),
    }
}

/// `XCLIENT`/`XFORWARD` `NAME=xtext` ... with an ADDR, within 512 octets.
fn check_identity(body: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    let mut words = text.split(' ');
    let verb = words.next().unwrap_or_default();
    if !matches!(verb, "XCLIENT" | "XFORWARD") || body.len() + 2 > 512 {
        return Err(format!("a bad identity command: {text:?}"));
    }
    let mut addr = false;
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!("attribute without a value in {text:?}"));
        };
        addr |= key == "ADDR";
        let xtext_ok = !value.is_empty() && value.bytes().all(|b| (33..=126).contains(&b) && b != b'=');
        if !key.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') || !xtext_ok {
            return Err(format!("bad attribute {word:?} in {text:?}"));
        }
    }
    if addr { Ok(()) } else { Err(format!("no ADDR in {text:?}")) }
}

/// Checks a whole stuffed message as sent after 354, its final `.` line
/// included.
pub fn check_data_lines(wire: &[u8]) -> Result<(), String> {
    if wire.is_empty() {
        return Err("a message without its final .".to_owned());
    }
    let mut rest = wire;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        let last = check_data_line(line)?;
        if last != tail.is_empty() {
            return Err(format!("the lone . is not the last line: {wire:?}"));
        }
        rest = tail;
    }
    Ok(())
}

/// One line of message content as sent; `Ok(true)` for the final `.`.
pub fn check_data_line(line: &[u8]) -> Result<bool, String> {
    let body = clean_line(line)?;
    match body {
        b"." => Ok(true),
        [b'.', b'.', ..] => Ok(false),
        [b'.', ..] => Err(format!("a content line starting with . is not stuffed: {line:?}")),
        _ => Ok(false),
    }
}
