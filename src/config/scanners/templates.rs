//! The reply texts of the content scanners (`scanners.replies`): templates
//! with `{virus}`, `{score}`, `{session_id}` and `{url}`, checked at load,
//! and their defaults. `crate::replies` gives them their codes.

use serde::{Deserialize, Deserializer, Serialize, de};

/// Default text of `scanners.replies.virus`.
const SCAN_VIRUS_TEXT: &str = "Error: message rejected, virus found: {virus} (id {session_id})";
/// Default text of `scanners.replies.spam`.
const SCAN_SPAM_TEXT: &str = "Error: message rejected as spam, score {score} (id {session_id})";
/// Default text of `scanners.replies.tempfail`.
const SCAN_TEMPFAIL_TEXT: &str = "Error: message could not be scanned, try again later (id {session_id})";
/// Default text of `scanners.replies.unscanned`.
const SCAN_UNSCANNED_TEXT: &str = "Error: message could not be scanned (id {session_id})";
/// Default text of `scanners.replies.too_big`.
const SCAN_TOO_BIG_TEXT: &str = "Error: message too big to be scanned (id {session_id})";
/// Default text of `scanners.replies.deferred`.
const SCAN_DEFERRED_TEXT: &str = "Error: message deferred by the content filter, try again later (id {session_id})";

/// A reply text: what follows the code and enhanced code. Placeholders:
/// `{virus}`, `{score}`, `{session_id}`, `{url}`. One line of printable
/// ASCII, at most 300 characters before substitution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct ReplyTemplate(String);

/// The placeholders a reply template may use.
pub const TEMPLATE_PLACEHOLDERS: [&str; 4] = ["virus", "score", "session_id", "url"];

impl ReplyTemplate {
    /// Validates a template.
    ///
    /// # Errors
    /// A message naming the problem (unknown placeholder, control characters, length).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 300 {
            return Err("a reply text must have 1 to 300 characters".into());
        }
        if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(format!("reply text {s:?} must be one line of printable ASCII"));
        }
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(format!("reply text {s:?}: unclosed '{{'"));
            };
            let name = &after[..close];
            if !TEMPLATE_PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "reply text {s:?}: unknown placeholder {{{name}}}; known: {{virus}} {{score}} {{session_id}} {{url}}"
                ));
            }
            rest = &after[close + 1..];
        }
        Ok(Self(s.to_owned()))
    }

    /// The template text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<ReplyTemplate> for String {
    fn from(t: ReplyTemplate) -> Self {
        t.0
    }
}

impl<'de> Deserialize<'de> for ReplyTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(de::Error::custom)
    }
}

/// Reply texts for scanning verdicts; the codes are fixed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanReplies {
    /// `554 5.7.1` for a virus.
    #[serde(default = "default_virus_text")]
    pub virus: ReplyTemplate,
    /// `554 5.7.1` for spam at or above `reject_score` (or rspamd `reject`).
    #[serde(default = "default_spam_text")]
    pub spam: ReplyTemplate,
    /// `451 4.7.1` when a scanner failed under `on_error: tempfail`.
    #[serde(default = "default_tempfail_text")]
    pub tempfail: ReplyTemplate,
    /// `554 5.7.1` when a scanner failed under `on_error: reject`.
    #[serde(default = "default_unscanned_text")]
    pub unscanned: ReplyTemplate,
    /// `552 5.3.4` for a message too big to scan under `on_too_big: reject`.
    #[serde(default = "default_too_big_text")]
    pub too_big: ReplyTemplate,
    /// `451 4.7.1` for rspamd's `soft reject` and `greylist` actions.
    #[serde(default = "default_deferred_text")]
    pub deferred: ReplyTemplate,
}

impl ScanReplies {
    pub(crate) fn all(&self) -> [(&'static str, &ReplyTemplate); 6] {
        [
            ("virus", &self.virus),
            ("spam", &self.spam),
            ("tempfail", &self.tempfail),
            ("unscanned", &self.unscanned),
            ("too_big", &self.too_big),
            ("deferred", &self.deferred),
        ]
    }
}

impl Default for ScanReplies {
    fn default() -> Self {
        Self {
            virus: default_virus_text(),
            spam: default_spam_text(),
            tempfail: default_tempfail_text(),
            unscanned: default_unscanned_text(),
            too_big: default_too_big_text(),
            deferred: default_deferred_text(),
        }
    }
}

fn builtin(text: &str) -> ReplyTemplate {
    ReplyTemplate(text.to_owned())
}
fn default_virus_text() -> ReplyTemplate {
    builtin(SCAN_VIRUS_TEXT)
}
fn default_spam_text() -> ReplyTemplate {
    builtin(SCAN_SPAM_TEXT)
}
fn default_tempfail_text() -> ReplyTemplate {
    builtin(SCAN_TEMPFAIL_TEXT)
}
fn default_unscanned_text() -> ReplyTemplate {
    builtin(SCAN_UNSCANNED_TEXT)
}
fn default_too_big_text() -> ReplyTemplate {
    builtin(SCAN_TOO_BIG_TEXT)
}
fn default_deferred_text() -> ReplyTemplate {
    builtin(SCAN_DEFERRED_TEXT)
}
