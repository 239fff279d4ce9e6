//! The greeting's configuration (`banner:`), and its templates: rendered
//! with `{hostname}` and `{date}`, and checked at load against RFC 5321 (a
//! domain first, printable ASCII, lines that fit in a reply).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::types::duration;
use crate::wire::limits::REPLY_LINE_MAX;
use crate::wire::{Charset, is_domain};

/// How the greeting is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BannerMode {
    /// Relay the upstream's greeting unchanged.
    Pass,
    /// Keep the upstream's code, replace the text by `<hostname> ESMTP`.
    #[default]
    Rewrite,
    /// Send `banner.text`.
    Text,
}

/// The greeting.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Banner {
    /// pass | rewrite | text.
    #[serde(default)]
    pub mode: BannerMode,
    /// Template for mode `text`: one or more lines, `{hostname}` and `{date}`
    /// placeholders. Default `{hostname} ESMTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Spanned<String>>,
    /// Wait this long before greeting; a client that talks first is an early
    /// talker (`554 5.5.1`, disconnected). Exempt networks are not delayed.
    #[serde(default = "no_delay", with = "duration")]
    pub greet_delay: Duration,
}

fn no_delay() -> Duration {
    Duration::ZERO
}

impl Default for Banner {
    fn default() -> Self {
        Self { mode: BannerMode::default(), text: None, greet_delay: no_delay() }
    }
}

impl Banner {
    /// The text template in effect.
    pub fn template(&self) -> &str {
        self.text.as_ref().map_or("{hostname} ESMTP", |t| t.value.as_str())
    }
}

/// The longest `{date}` expansion (RFC 5322 date-time, [`crate::date`]), for validation.
const LONGEST_DATE: &str = "Wed, 30 Sep 2026 23:59:59 +0000";

/// The lines of a template (LF or CRLF separated; a trailing newline is ignored).
pub fn template_lines(template: &str) -> impl Iterator<Item = &str> {
    template.trim_end_matches(['\r', '\n']).split('\n').map(|l| l.trim_end_matches('\r'))
}

/// Expands `{hostname}` and `{date}` in every line.
pub fn render(template: &str, hostname: &str, date: &str) -> Vec<String> {
    template_lines(template).map(|l| l.replace("{hostname}", hostname).replace("{date}", date)).collect()
}

/// Checks a template: a domain (or address literal) first on the first line,
/// printable ASCII only, and every line at most 512 octets with `220-` and CRLF.
///
/// # Errors
/// A message naming the offending line.
pub fn validate_template(template: &str, hostname: &str) -> Result<(), String> {
    let lines = render(template, hostname, LONGEST_DATE);
    if lines.iter().all(String::is_empty) {
        return Err("the banner text is empty".into());
    }
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = line.chars().find(|c| !(' '..='~').contains(c)) {
            return Err(format!("line {} contains {c:?}: only printable ASCII is allowed", i + 1));
        }
        if line.len() + 6 > REPLY_LINE_MAX {
            return Err(format!(
                "line {} would be {} octets with its code and CRLF; RFC 5321 allows {REPLY_LINE_MAX}",
                i + 1,
                line.len() + 6
            ));
        }
    }
    let first_word = lines[0].split(' ').next().unwrap_or_default();
    let literal = first_word.starts_with('[') && first_word.ends_with(']');
    let fqdn = is_domain(first_word, Charset::Ldh) && first_word.contains('.');
    if !(first_word == hostname || fqdn || literal) {
        return Err(format!(
            "the first line must start with the server's domain (RFC 5321 4.3.1), found {first_word:?}; \
             start it with {{hostname}}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_templates() {
        assert_eq!(validate_template("{hostname} ESMTP", "mx.example.test"), Ok(()));
        let legal = "{hostname} ESMTP NO UCE\nUse of this system for unsolicited electronic mail \
                     advertisements is prohibited (California B&P Code 17538.45).\n{date}";
        assert_eq!(validate_template(legal, "mx.example.test"), Ok(()));
        assert_eq!(validate_template("[192.0.2.1] ESMTP", "mx"), Ok(()));
    }

    #[test]
    fn invalid_templates() {
        assert!(validate_template("Welcome to our server", "mx").unwrap_err().contains("domain"));
        assert!(validate_template("{hostname} caf\u{e9}", "mx").unwrap_err().contains("printable"));
        assert!(validate_template("{hostname} a\tb", "mx").unwrap_err().contains("printable"));
        let long = format!("{{hostname}} {}", "x".repeat(500));
        assert!(validate_template(&long, "mx.example.test").unwrap_err().contains("512"));
        assert!(validate_template("\n", "mx").is_err());
    }
}
