//! The path of MAIL and RCPT: finding it in the command line, and checking
//! it as a mailbox (lengths, characters, a whole quoted local part).

use crate::wire::domain::{Charset, is_domain};
use crate::wire::limits::{DOMAIN_MAX, LOCAL_PART_MAX, PATH_MAX};

/// Splits `<path> params` (or a bare `path params`, as Postfix accepts) into the
/// path without brackets and the parameter text.
pub(super) fn split_path(s: &str) -> Option<(&str, &str)> {
    let (path, rest) = if let Some(inner) = s.strip_prefix('<') {
        let end = closing_bracket(inner)?;
        (&inner[..end], &inner[end + 1..])
    } else {
        let end = s.find([' ', '\t']).unwrap_or(s.len());
        if end == 0 {
            return None;
        }
        (&s[..end], &s[end..])
    };
    if path.len() + 2 > PATH_MAX || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some((path, rest.trim_start_matches([' ', '\t'])))
}

/// Index of the `>` closing a path, skipping quoted strings.
fn closing_bracket(inner: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, false, '"') => quoted = !quoted,
            (false, _, '>') => return Some(i),
            (false, _, '<') => return None,
            _ => {}
        }
    }
    None
}

/// A mailbox, optionally with a source route (`@a,@b:user@example.test`) and
/// optionally without a domain (`postmaster`). Checks lengths and characters
/// only; routing decisions stay with the upstream.
pub(super) fn valid_mailbox(path: &str) -> bool {
    let mailbox = match path.strip_prefix('@') {
        Some(route) => match route.split_once(':') {
            Some((route, mailbox)) if valid_route(route) => mailbox,
            _ => return false,
        },
        None => path,
    };
    if mailbox.chars().any(|c| c.is_control()) {
        return false;
    }
    let (local, domain) = match mailbox.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (mailbox, None),
    };
    let local_ok = !local.is_empty()
        && local.len() <= LOCAL_PART_MAX
        && if local.starts_with('"') {
            is_quoted_string(local)
        } else {
            !local.contains([' ', '\t', '<', '>', '(', ')', ',', ';', '\\', '"'])
        };
    let domain_ok = domain.is_none_or(|d| {
        !d.is_empty()
            && d.len() <= DOMAIN_MAX
            && if d.starts_with('[') {
                d.ends_with(']') && is_literal(&d[1..d.len() - 1])
            } else {
                is_domain(d.strip_suffix('.').unwrap_or(d), Charset::Utf8)
            }
    });
    local_ok && domain_ok
}

/// A source route without its first `@`: `a.example,@b.example`. Found by
/// fuzzing: a route was not checked, and `<` in it (`@re<:u@x`) made the
/// bracketed path doorman writes upstream unparseable.
fn valid_route(route: &str) -> bool {
    route.split(',').enumerate().all(|(i, hop)| {
        let domain = if i == 0 { Some(hop) } else { hop.strip_prefix('@') };
        domain.is_some_and(|d| is_domain(d, Charset::Utf8))
    })
}

/// The inside of an address literal: an IPv4 or `IPv6:` address, or a
/// `tag:content` general literal of letters, digits, `.`, `:` and `-`.
/// Found by fuzzing: a `>` or `"` inside (`e@[>M]`, `e@[9"M]`) made the
/// bracketed path doorman writes upstream unparseable.
fn is_literal(inner: &str) -> bool {
    !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_alphanumeric() || b".:-".contains(&b))
}

/// A whole quoted local part (`"john doe"`): closed by its last character,
/// every `"` and `\` inside escaped. An unclosed quote would swallow the
/// closing `>` of the path doorman writes upstream (found by fuzzing:
/// `MAIL FROM:"<x>` was relayed as `MAIL FROM:<"<x>>`).
fn is_quoted_string(local: &str) -> bool {
    let Some(inner) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
        return false;
    };
    let mut escaped = false;
    for c in inner.chars() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return false,
            _ => {}
        }
    }
    !escaped
}
