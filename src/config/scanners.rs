//! Content scanner configuration: clamd, spamd and rspamd, their endpoint
//! pools, failure policies and the reply templates (`endpoint.rs`,
//! `sections.rs`, `templates.rs`). `docs/scanning.md`
//! describes every key for operators. Each scanner section is optional; an
//! absent section means the scanner is not used.
//!
//! Checks that span keys (`tag_score` ≤ `reject_score`, `{url}` needs `url`)
//! run while deserializing (`try_from` a raw struct), so their errors carry
//! the key path like any other.

use serde::{Deserialize, Serialize};

mod endpoint;
mod sections;
mod templates;

pub use endpoint::{OnError, ScannerAddress};
pub use sections::{Clamav, Rspamd, SpamAssassin};
pub use templates::{ReplyTemplate, ScanReplies, TEMPLATE_PLACEHOLDERS};

/// Content scanners.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawScanners")]
pub struct Scanners {
    /// clamd (ClamAV): virus scanning, streamed while the message arrives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clamav: Option<Clamav>,
    /// spamd (SpamAssassin): spam score of the complete message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spamassassin: Option<SpamAssassin>,
    /// rspamd over HTTP (`/checkv2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rspamd: Option<Rspamd>,
    /// Operator URL for `{url}` in reply templates (e.g. a page where a
    /// wrongly refused sender can ask for help).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Reply texts.
    #[serde(default)]
    pub replies: ScanReplies,
}

impl Scanners {
    /// The longest the scanners may take after the final dot: each one's
    /// connect and verdict timeouts (clamd's twice: its stream's verdict,
    /// then one replay from the spool), the slowest of them (they run side
    /// by side).
    pub fn after_final_dot(&self) -> std::time::Duration {
        let clamav = self.clamav.as_ref().map(|c| 2 * (c.connect_timeout + c.timeout));
        let spamd = self.spamassassin.as_ref().map(|c| c.connect_timeout + c.timeout);
        let rspamd = self.rspamd.as_ref().map(|c| c.connect_timeout + c.timeout);
        [clamav, spamd, rspamd].into_iter().flatten().max().unwrap_or_default()
    }
}

/// The same keys as [`Scanners`]; checked and converted by `try_from`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScanners {
    #[serde(default)]
    clamav: Option<Clamav>,
    #[serde(default)]
    spamassassin: Option<SpamAssassin>,
    #[serde(default)]
    rspamd: Option<Rspamd>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    replies: ScanReplies,
}

impl TryFrom<RawScanners> for Scanners {
    type Error = String;

    fn try_from(raw: RawScanners) -> Result<Self, String> {
        if let Some(url) = &raw.url {
            if url.is_empty() || !url.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!("url {url:?} must be printable ASCII without spaces"));
            }
            if url.len() > 200 {
                return Err("url is longer than 200 characters".into());
            }
        }
        if raw.url.is_none() {
            for (key, t) in raw.replies.all() {
                if t.as_str().contains("{url}") {
                    return Err(format!("replies.{key} uses {{url}} but scanners.url is not set"));
                }
            }
        }
        Ok(Self {
            clamav: raw.clamav,
            spamassassin: raw.spamassassin,
            rspamd: raw.rspamd,
            url: raw.url,
            replies: raw.replies,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytesize::ByteSize;

    use super::*;

    fn parse(yaml: &str) -> Result<Scanners, String> {
        serde_saphyr::from_str::<Scanners>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn contract_example_parses_with_defaults() {
        let s = parse(
            "clamav:\n  addresses: [\"127.0.0.1:3310\", \"unix:/run/clamav/clamd.ctl\"]\n  timeout: 30s\n  on_error: tempfail\n\
             spamassassin:\n  addresses: [\"127.0.0.1:783\"]\n  tag_score: 5.0\n  reject_score: 10.0\n  on_error: tempfail\n",
        )
        .unwrap();
        let c = s.clamav.unwrap();
        assert_eq!(
            c.addresses,
            vec![ScannerAddress::Tcp("127.0.0.1:3310".into()), ScannerAddress::Unix("/run/clamav/clamd.ctl".into())]
        );
        assert_eq!(c.on_too_big, OnError::Reject);
        assert_eq!(c.max_size, ByteSize::mib(25));
        let sa = s.spamassassin.unwrap();
        assert_eq!(sa.reject_score, Some(10.0));
        assert_eq!(sa.on_too_big, OnError::Accept);
        assert_eq!(sa.max_size, ByteSize::kib(500));
        assert!(s.rspamd.is_none());
    }

    #[test]
    fn empty_section_means_nothing_configured() {
        let s = parse("{}").unwrap();
        assert!(s.clamav.is_none() && s.spamassassin.is_none() && s.rspamd.is_none());
        assert_eq!(s.replies.virus.as_str(), "Error: message rejected, virus found: {virus} (id {session_id})");
    }

    #[test]
    fn bad_values_are_refused() {
        for (yaml, needle) in [
            ("clamav:\n  addresses: []\n", "at least one"),
            ("clamav:\n  addresses: [\"localhost\"]\n", "host:port"),
            ("clamav:\n  addresses: [\"unix:relative\"]\n", "absolute"),
            ("clamav:\n  addresses: [\"1.2.3.4:0\"]\n", "host:port"),
            ("clamav:\n  addresses: [\"a:1\"]\n  on_error: maybe\n", "maybe"),
            ("clamav:\n  addresses: [\"a:1\"]\n  adresses: []\n", "adresses"),
            ("spamassassin:\n  addresses: [\"a:1\"]\n  tag_score: 8\n  reject_score: 6\n", "below tag_score"),
            ("spamassassin:\n  addresses: [\"a:1\"]\n  user: \"a b\"\n", "user"),
            ("rspamd:\n  addresses: [\"unix:/x\"]\n", "HTTP"),
            ("replies:\n  virus: \"found {virsu}\"\n", "unknown placeholder"),
            ("replies:\n  spam: \"see {url}\"\n", "scanners.url is not set"),
            ("url: \"has space\"\n", "printable"),
        ] {
            let err = parse(yaml).expect_err(yaml);
            assert!(err.contains(needle), "{yaml}: {err}");
        }
    }

    #[test]
    fn addresses_parse() {
        for ok in ["127.0.0.1:3310", "[::1]:783", "clamd.mail.svc:3310", "unix:/run/c.sock"] {
            ScannerAddress::parse(ok).unwrap();
        }
        for bad in ["", ":3310", "host:", "host:99999", "[::1:783", "a b:1", "unix:"] {
            assert!(ScannerAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn null_reject_score_never_rejects_and_round_trips() {
        let s = parse(
            "spamassassin:\n  addresses: [\"a:1\"]\n  reject_score: null\nurl: https://x.example/help\nreplies:\n  spam: \"spam {score}, see {url}\"\n",
        )
        .unwrap();
        assert_eq!(s.spamassassin.as_ref().unwrap().reject_score, None);
        let yaml = serde_saphyr::to_string(&s).unwrap();
        let again = parse(&yaml).unwrap();
        assert_eq!(again.spamassassin.unwrap().reject_score, None);
        assert_eq!(again.replies.spam.as_str(), "spam {score}, see {url}");
    }
}
