//! The greeting under RFC 5321: complete, one code, well-formed lines of at
//! most 512 octets, printable ASCII, a domain first, few lines, one write.

use crate::audit::finding::{Check, Finding, Severity};
use crate::audit::raw_reply::{End, RawReply};
use crate::wire::limits::REPLY_LINE_MAX;
use crate::wire::{Charset, is_domain};

/// More lines than this break real clients (.NET's System.Net.Mail among
/// others; a 27-line greeting once stopped one organisation's mail).
const MAX_LINES: usize = 3;

const FIX_SHORT: &str = "Greet with one line, `220 <your host name> ESMTP`; put legal text on your web site, \
                         or use doorman's banner (banner.mode: rewrite)";

/// Findings about the greeting.
pub(crate) fn judge(g: &RawReply, out: &mut Vec<Finding>) {
    incomplete(g, out);
    let lines = terminated(g);
    let mut codes: Vec<u16> = lines.iter().filter_map(|l| l.code()).collect();
    codes.dedup();
    if codes.len() > 1 {
        out.push(
            Finding::new(Check::BannerMixedCodes, Severity::High, "the greeting mixes reply codes")
                .evidence(format!("codes {codes:?}: {}", g.summary()))
                .fix("Send one code on every line of the greeting (220)"),
        );
    }
    let bad: Vec<usize> = (1..).zip(lines).filter(|(_, l)| !l.well_formed()).map(|(i, _)| i).collect();
    if !bad.is_empty() {
        out.push(
            Finding::new(Check::BannerMalformed, Severity::Medium, "greeting lines without `220-`/`220 ` or CRLF")
                .evidence(format!("lines {bad:?}: {}", g.summary()))
                .fix("End every line with CRLF and start it with `220-` (more follow) or `220 ` (the last)"),
        );
    }
    long_lines(g, out);
    non_ascii(g, out);
    shape(g, out);
}

/// The lines that ended (an unterminated tail is the incomplete finding's).
fn terminated(g: &RawReply) -> &[crate::audit::raw_reply::RawLine] {
    let n = if g.is_complete() { g.lines.len() } else { g.lines.len().saturating_sub(1) };
    &g.lines[..n]
}

fn incomplete(g: &RawReply, out: &mut Vec<Finding>) {
    let why = match &g.end {
        End::Complete => return,
        End::Timeout => "no complete greeting before the time limit (a line without CRLF, or a server that stalls)",
        End::Closed => "the server closed the connection in the middle of its greeting",
        End::TooBig => "the greeting is too big; the audit stopped reading it",
        End::Failed(_) => "reading the greeting failed",
    };
    let bytes: usize = g.lines.iter().map(|l| l.bytes.len()).sum();
    out.push(
        Finding::new(Check::BannerIncomplete, Severity::High, why)
            .evidence(format!("{bytes} bytes: {}", g.summary()))
            .fix("Send a complete `220 <host name> ESMTP` line ending in CRLF at once"),
    );
}

fn long_lines(g: &RawReply, out: &mut Vec<Finding>) {
    let long: Vec<String> = (1..)
        .zip(&g.lines)
        .filter(|(_, l)| l.wire_len() > REPLY_LINE_MAX)
        .map(|(i, l)| format!("line {i}: {} octets", l.wire_len()))
        .collect();
    if !long.is_empty() {
        out.push(
            Finding::new(
                Check::BannerLineTooLong,
                Severity::Medium,
                format!("greeting lines over {REPLY_LINE_MAX} octets (RFC 5321 4.5.3.1.5); strict clients give up"),
            )
            .evidence(long.join(", "))
            .fix(FIX_SHORT),
        );
    }
}

fn non_ascii(g: &RawReply, out: &mut Vec<Finding>) {
    // RFC 5321 textstring: HT and printable US-ASCII.
    let bad = |b: &u8| *b != b'\t' && !(0x20..=0x7e).contains(b);
    let found: Vec<usize> = (1..).zip(&g.lines).filter(|(_, l)| l.bytes.iter().any(bad)).map(|(i, _)| i).collect();
    if !found.is_empty() {
        out.push(
            Finding::new(
                Check::BannerNonAscii,
                Severity::Medium,
                "the greeting holds bytes outside printable US-ASCII",
            )
            .evidence(format!("lines {found:?}: {}", g.summary()))
            .fix("Use only printable US-ASCII in the greeting (RFC 5321 4.2: replies are 7-bit text)"),
        );
    }
}

fn shape(g: &RawReply, out: &mut Vec<Finding>) {
    if g.lines.len() > MAX_LINES {
        out.push(
            Finding::new(
                Check::BannerTooManyLines,
                Severity::Medium,
                format!("a {}-line greeting: some clients break on more than {MAX_LINES}", g.lines.len()),
            )
            .evidence(g.summary())
            .fix(FIX_SHORT),
        );
    }
    if let Some(first) = g.lines.first().filter(|l| l.code().is_some()) {
        let text = first.text();
        let word = text.split(' ').next().unwrap_or_default();
        let literal = word.starts_with('[') && word.ends_with(']');
        if !(literal || (is_domain(word, Charset::Ldh) && word.contains('.'))) {
            out.push(
                Finding::new(
                    Check::BannerNoDomain,
                    Severity::Low,
                    "line 1 of the greeting does not start with a domain",
                )
                .evidence(first.display())
                .fix("Start the greeting with the server's fully qualified name (RFC 5321 4.3.1)"),
            );
        }
    }
    if g.is_complete() && g.reads > 1 {
        out.push(
            Finding::new(
                Check::BannerSplit,
                Severity::Low,
                format!("the greeting came in {} reads: a client that reads once sees part of it", g.reads),
            )
            .evidence(g.summary())
            .fix("Send the whole greeting in one write, and keep it short"),
        );
    }
}
