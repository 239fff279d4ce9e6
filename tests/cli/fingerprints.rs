//! doorman must not give away what it is, or what it stands in front of:
//! none of its own reply texts may match a product's fingerprint in nmap's
//! service-probe database (Debian's `nmap-common`,
//! `/usr/share/nmap/nmap-service-probes`). nmap matches the whole answer to
//! a probe, so each text is tried alone (a reply instead of a greeting),
//! after doorman's greeting, and all of them after the greeting at once.
//! `tests/relay/fingerprint.rs` runs `nmap -sV` itself.

use fancy_regex::Regex;

use super::repo;

const PROBES: &str = "/usr/share/nmap/nmap-service-probes";
const GREETING: &str = "220 mx.example.test ESMTP\r\n";

/// The `match` lines of services whose name holds "smtp": each line's text
/// and its pattern (nmap's `m|...|si` as a Perl-style regex).
fn smtp_matches() -> Vec<(String, Regex)> {
    let file = std::fs::read(PROBES).unwrap_or_else(|e| panic!("{PROBES}: {e} (install nmap)"));
    let text = String::from_utf8_lossy(&file);
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("match ")) {
        let mut words = line.splitn(3, ' ');
        let (_, service, rest) = (words.next(), words.next().unwrap_or(""), words.next().unwrap_or(""));
        if !service.contains("smtp") {
            continue;
        }
        let Some(body) = rest.strip_prefix('m') else { panic!("{line}") };
        let delim = body.chars().next().expect("a delimiter");
        let body = &body[delim.len_utf8()..];
        let end = body.find(delim).unwrap_or_else(|| panic!("{line}"));
        let flags: String = body[end + 1..].chars().take_while(|c| !c.is_whitespace()).collect();
        let mut pattern = String::new();
        for f in flags.chars().filter(|f| matches!(f, 's' | 'i')) {
            pattern.push_str(&format!("(?{f})"));
        }
        pattern.push_str(&perl_to_rust(&body[..end]));
        let re = Regex::new(&pattern).unwrap_or_else(|e| panic!("{line}: {e}"));
        out.push((line.to_owned(), re));
    }
    out
}

/// PCRE and the regex crate read character classes differently: PCRE takes
/// a `]` first in a class (`[]...]`, `[^]...]`) and any `[` inside one as
/// literals, the regex crate nests classes and has set operators (`&&`,
/// `~~`). Escapes keep PCRE's meaning; POSIX classes (`[:alpha:]`) stay.
fn perl_to_rust(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                out.extend(chars.next());
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str("\\]");
                }
            }
            '[' if chars.peek() == Some(&':') => {
                out.push('[');
                for p in chars.by_ref() {
                    out.push(p);
                    if p == ']' {
                        break;
                    }
                }
            }
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every reply doorman composes itself, from the source of `src/replies`
/// and the greeting: `Reply::new(code, "text")`, `Reply::multi(code,
/// vec!["line", ...])` and the HELO rules' `(code, "x.y.z", "text")`, with
/// each `{placeholder}` filled in.
fn own_replies() -> Vec<String> {
    let mut source = String::new();
    for file in ["src/replies.rs", "src/replies/helo.rs"] {
        source += &std::fs::read_to_string(repo().join(file)).expect(file);
    }
    let fill = |t: &str| {
        let placeholder = Regex::new(r"\{[a-z_]*\}").expect("regex");
        placeholder.replace_all(t, "x").replace("x ESMTP", "mx.example.test ESMTP")
    };
    let mut out = vec!["220 mx.example.test ESMTP".to_owned()];
    let single = Regex::new(r#"Reply::new\(\s*(\d{3}),\s*(?:format!\()?"((?:[^"\\]|\\.)*)""#).expect("regex");
    for c in single.captures_iter(&source).map(|c| c.expect("capture")) {
        out.push(format!("{} {}", &c[1], fill(&c[2])));
    }
    let rule = Regex::new(r#"\((\d{3}), "(\d)(\.\d+\.\d+)", "([^"]*)"\)"#).expect("regex");
    for c in rule.captures_iter(&source).map(|c| c.expect("capture")) {
        out.push(format!("{} {}{} {} (rule x)", &c[1], &c[2], &c[3], &c[4]));
        out.push(format!("450 4{} {}, try again later (rule x)", &c[3], &c[4]));
    }
    let multi = Regex::new(r#"(?s)Reply::multi\(\s*(\d{3}),\s*vec!\[(.*?)\]"#).expect("regex");
    let literal = Regex::new(r#""((?:[^"\\]|\\.)*)""#).expect("regex");
    for c in multi.captures_iter(&source).map(|c| c.expect("capture")) {
        let lines: Vec<String> = literal.captures_iter(&c[2]).map(|l| fill(&l.expect("literal")[1])).collect();
        let last = lines.len().saturating_sub(1);
        let text: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{}{}{l}", &c[1], if i == last { ' ' } else { '-' }))
            .collect();
        out.push(text.join("\r\n"));
    }
    out
}

#[test]
fn no_reply_text_matches_a_product_fingerprint() {
    let matches = smtp_matches();
    assert!(matches.len() > 400, "only {} SMTP match lines in {PROBES}", matches.len());
    let replies = own_replies();
    assert!(replies.len() > 70, "the scan of src/replies found only {} replies", replies.len());
    let mut answers: Vec<String> = Vec::new();
    for reply in &replies {
        answers.push(format!("{reply}\r\n"));
        answers.push(format!("{GREETING}{reply}\r\n"));
    }
    answers.push(format!("{GREETING}{}\r\n", replies.join("\r\n")));
    let mut named = Vec::new();
    for answer in &answers {
        for (line, re) in &matches {
            if re.is_match(answer).unwrap_or(false) {
                named.push(format!("{answer:?}\n    matches {line}"));
            }
        }
    }
    assert!(named.is_empty(), "doorman's replies name a product:\n{}", named.join("\n"));
}

/// The check finds what it looks for: Postfix's old answer to an HTTP verb
/// and its stock greeting are both named.
#[test]
fn the_fingerprint_check_names_postfix() {
    let matches = smtp_matches();
    for answer in [
        "220 mx.example.test ESMTP\r\n221 2.7.0 Error: I can break rules, too. Goodbye.\r\n",
        "220 mx.example.test ESMTP Postfix (Debian/GNU)\r\n",
    ] {
        assert!(matches.iter().any(|(_, re)| re.is_match(answer).unwrap_or(false)), "{answer:?}");
    }
}
