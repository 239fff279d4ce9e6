//! The header fields doorman adds after scanning: each scanner's, folded,
//! and `X-Doorman-Scan` for scanners that gave no verdict. (Copies a sender
//! put in the message are removed as it arrives: [`crate::wire::own_headers`].)

use super::verdict::Decision;

/// Longest header line doorman writes before folding (RFC 5322 §2.1.1 "SHOULD").
const FOLD_AT: usize = 78;

/// One header field, folded at spaces or after commas, ending in CRLF.
pub(crate) fn fold(name: &str, value: &str) -> String {
    let mut out = format!("{name}:");
    let mut line_len = out.len();
    let mut first = true;
    for token in tokens(value) {
        let sep = usize::from(first || !token.starts_with(' '));
        let token_trimmed = token.trim_start_matches(' ');
        if !first && line_len + sep + token_trimmed.len() > FOLD_AT {
            out.push_str("\r\n\t");
            line_len = 1;
        } else if first || token.starts_with(' ') {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(token_trimmed);
        line_len += token_trimmed.len();
        first = false;
    }
    out.push_str("\r\n");
    out
}

/// Splits a value into words: a token ends after a comma or before a space
/// (the space stays at the start of the next token).
fn tokens(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if c == ' ' && i > start {
            out.push(&value[start..i]);
            start = i;
        } else if c == ',' {
            out.push(&value[start..=i]);
            start = i + 1;
        }
    }
    if start < value.len() {
        out.push(&value[start..]);
    }
    out
}

/// The header block for a delivered message: each scanner's headers in
/// order, one `X-Spam-Flag` at most, then `X-Doorman-Scan` naming scanners
/// that gave no verdict (accepted under a failure policy) or were skipped.
pub(crate) fn compose<'a>(
    decisions: impl Iterator<Item = (&'static str, &'a Decision)>,
    skipped: &[&'static str],
) -> String {
    let mut out = String::new();
    let mut flagged = false;
    let mut marks = Vec::new();
    for (scanner, d) in decisions {
        for (name, value) in &d.headers {
            if *name == "X-Spam-Flag" {
                if flagged {
                    continue;
                }
                flagged = true;
            }
            out.push_str(&fold(name, value));
        }
        if let Some(reason) = d.unscanned {
            marks.push(format!("{scanner}=unscanned({reason})"));
        }
    }
    marks.extend(skipped.iter().map(|s| format!("{s}=skipped(authenticated)")));
    if !marks.is_empty() {
        out.push_str(&fold("X-Doorman-Scan", &marks.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding() {
        assert_eq!(fold("X-Spam-Score", "1.0"), "X-Spam-Score: 1.0\r\n");
        let rules: Vec<String> = (0..30).map(|i| format!("RULE_NUMBER_{i}")).collect();
        let v = format!("Yes, score=12.0 required=5.0 tests={}", rules.join(","));
        let folded = fold("X-Spam-Status", &v);
        for line in folded.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= FOLD_AT, "{line:?}");
        }
        // Unfolding (dropping CRLF) gives the value back, with the fold's
        // whitespace after commas.
        let unfolded = folded.replace("\r\n", "").replace(",\t", ",").replace('\t', " ");
        assert_eq!(unfolded, format!("X-Spam-Status: {v}"));
        assert!(folded.ends_with("\r\n") && !folded.ends_with("\r\n\r\n"));
    }
}
