//! clamd's replies to `zINSTREAM`, parsed strictly: anything but the exact
//! forms is an error, never clean and never a virus (security checklist
//! L.89).

use super::too_big_for_clamd;
use crate::scan::endpoint::escape;
use crate::scan::{ScanError, Verdict};

/// Longest signature name accepted in a reply.
pub(super) const SIGNATURE_MAX: usize = 200;

/// A parsed clamd reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdReply {
    /// `stream: OK`.
    Clean,
    /// `stream: <signature> FOUND`.
    Found(String),
    /// `INSTREAM size limit exceeded. ERROR`.
    SizeLimitExceeded,
    /// Any other `<text> ERROR`.
    Error(String),
}

/// Parses one clamd reply to `zINSTREAM`, NUL terminator included.
/// Anything but the exact forms of [`ClamdReply`] is an error (returned as
/// a description with the reply escaped): never clean, never a virus.
///
/// # Errors
/// The reply is empty, not NUL-terminated, holds other control or 8-bit
/// bytes, or has an unknown form.
pub fn parse_reply(raw: &[u8]) -> Result<ClamdReply, String> {
    let Some((&0, body)) = raw.split_last() else {
        return Err(if raw.is_empty() {
            "connection closed without a reply".to_owned()
        } else {
            format!("reply not terminated by NUL: \"{}\"", escape(raw, 200))
        });
    };
    if !body.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(format!("reply with control or 8-bit bytes: \"{}\"", escape(raw, 200)));
    }
    // Printable ASCII, so valid UTF-8.
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    // In an IDSESSION, replies carry the request number: `3: stream: OK`.
    let text = match text.split_once(": ") {
        Some((n, rest)) if !n.is_empty() && n.len() <= 10 && n.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => text,
    };
    if text == "stream: OK" {
        return Ok(ClamdReply::Clean);
    }
    if let Some(sig) = text.strip_prefix("stream: ").and_then(|r| r.strip_suffix(" FOUND")) {
        let valid = !sig.is_empty() && sig.len() <= SIGNATURE_MAX && sig.bytes().all(|b| b.is_ascii_graphic());
        return if valid {
            Ok(ClamdReply::Found(sig.to_owned()))
        } else {
            Err(format!("malformed signature name in \"{}\"", escape(body, 300)))
        };
    }
    if text == "INSTREAM size limit exceeded. ERROR" {
        return Ok(ClamdReply::SizeLimitExceeded);
    }
    if text.len() > " ERROR".len() && text.ends_with(" ERROR") {
        return Ok(ClamdReply::Error(text.to_owned()));
    }
    Err(format!("unexpected reply \"{}\"", escape(raw, 200)))
}

/// A parsed reply as a verdict, or the error it means.
pub(super) fn to_verdict(parsed: Result<ClamdReply, String>, endpoint: &str) -> Result<Verdict, ScanError> {
    match parsed {
        Ok(ClamdReply::Clean) => Ok(Verdict::Clean),
        Ok(ClamdReply::Found(signature)) => Ok(Verdict::Infected { signature }),
        Ok(ClamdReply::SizeLimitExceeded) => Err(too_big_for_clamd()),
        Ok(ClamdReply::Error(text)) => {
            Err(ScanError::Scanner { endpoint: endpoint.to_owned(), detail: escape(text.as_bytes(), 200) })
        }
        Err(detail) => Err(ScanError::Protocol { endpoint: endpoint.to_owned(), detail }),
    }
}
