//! The rspamd client: `POST /checkv2` on the normal worker (HTTP, through
//! reqwest), and the mapping of rspamd's action to what doorman does:
//!
//! | rspamd action | outcome | doorman |
//! |---|---|---|
//! | `reject` | `spam` | `554 5.7.1` (`scanners.replies.spam`) |
//! | `soft reject`, `greylist` | `deferred` | `451 4.7.1` (`scanners.replies.deferred`) |
//! | `add header`, `rewrite subject` | `tagged` | deliver with `X-Spam-Flag: YES` |
//! | `no action` | `ham` | deliver |
//! | anything else | `error_protocol` | `on_error` |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use super::endpoint::escape;
use super::pool::Pool;
use super::{ScanContext, ScanError, Scanner, SpamReport, Verdict};
use crate::config as settings;

/// The scanner's name in logs, metrics and headers.
pub const NAME: &str = "rspamd";

/// Longest response body read.
const RESPONSE_MAX: usize = 1024 * 1024;

/// What rspamd wants done with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `no action`.
    NoAction,
    /// `greylist`.
    Greylist,
    /// `add header`.
    AddHeader,
    /// `rewrite subject`.
    RewriteSubject,
    /// `soft reject`.
    SoftReject,
    /// `reject`.
    Reject,
}

impl Action {
    /// Parses rspamd's action string; unknown actions are `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "no action" => Self::NoAction,
            "greylist" => Self::Greylist,
            "add header" => Self::AddHeader,
            "rewrite subject" => Self::RewriteSubject,
            "soft reject" => Self::SoftReject,
            "reject" => Self::Reject,
            _ => return None,
        })
    }

    /// rspamd's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoAction => "no action",
            Self::Greylist => "greylist",
            Self::AddHeader => "add header",
            Self::RewriteSubject => "rewrite subject",
            Self::SoftReject => "soft reject",
            Self::Reject => "reject",
        }
    }
}

#[derive(Deserialize)]
struct CheckV2 {
    score: f64,
    required_score: f64,
    action: String,
    #[serde(default)]
    symbols: BTreeMap<String, Symbol>,
}

#[derive(Deserialize)]
struct Symbol {
    #[serde(default)]
    score: f64,
}

/// Parses a `/checkv2` JSON response into the action and report; symbols
/// are listed by name.
///
/// # Errors
/// A description of what is wrong: not JSON, missing fields, an unknown
/// action, non-finite numbers, odd symbol names.
pub fn parse_response(body: &[u8]) -> Result<(Action, SpamReport), String> {
    let r: CheckV2 =
        serde_json::from_slice(body).map_err(|e| format!("bad /checkv2 response ({e}): \"{}\"", escape(body, 200)))?;
    let action =
        Action::parse(&r.action).ok_or_else(|| format!("unknown action \"{}\"", escape(r.action.as_bytes(), 50)))?;
    if !r.score.is_finite() || !r.required_score.is_finite() {
        return Err("non-finite score".into());
    }
    let mut rules = Vec::with_capacity(r.symbols.len());
    for (name, sym) in r.symbols {
        let valid = !name.is_empty()
            && name.len() <= 100
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && sym.score.is_finite();
        if !valid {
            return Err(format!("bad symbol \"{}\"", escape(name.as_bytes(), 100)));
        }
        rules.push(name);
    }
    Ok((action, SpamReport { score: r.score, required: r.required_score, rules }))
}

/// The rspamd client with its endpoint pool.
#[derive(Debug)]
pub struct RspamdClient {
    pool: Pool,
    /// `None` if the HTTP client could not be built (reported per scan).
    http: Option<reqwest::Client>,
    timeout: Duration,
    password: Option<String>,
}

impl RspamdClient {
    /// A client for `scanners.rspamd`.
    pub fn new(cfg: &settings::Rspamd) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .no_proxy()
            .build()
            .map_err(|e| tracing::error!(error = %e, "cannot build the rspamd HTTP client"))
            .ok();
        Self {
            pool: Pool::new(&cfg.addresses, cfg.backoff, cfg.max_backoff),
            http,
            timeout: cfg.timeout,
            password: cfg.password.clone(),
        }
    }

    /// The endpoint pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Checks one message on the next reachable endpoint.
    ///
    /// # Errors
    /// See [`ScanError`].
    pub async fn check(&self, message: Bytes, ctx: &ScanContext) -> Result<(Action, SpamReport), ScanError> {
        let Some(http) = &self.http else {
            return Err(ScanError::Internal("no HTTP client".into()));
        };
        let mut last = None;
        for i in self.pool.order() {
            let endpoint = self.pool.address(i).to_string();
            let result = self.request(http, &endpoint, message.clone(), ctx).await;
            match result {
                Err(e @ ScanError::Connect { .. }) => {
                    tracing::debug!(endpoint = %endpoint, error = %e, "rspamd endpoint unreachable; trying the next");
                    self.pool.failure(i);
                    last = Some(e);
                }
                Err(e) => {
                    if e.blames_endpoint() {
                        self.pool.failure(i);
                    }
                    return Err(e);
                }
                Ok(v) => {
                    self.pool.success(i);
                    return Ok(v);
                }
            }
        }
        Err(last.unwrap_or_else(|| ScanError::Internal("no endpoints".into())))
    }

    async fn request(
        &self,
        http: &reqwest::Client,
        endpoint: &str,
        message: Bytes,
        ctx: &ScanContext,
    ) -> Result<(Action, SpamReport), ScanError> {
        let mut req = http.post(format!("http://{endpoint}/checkv2")).timeout(self.timeout).body(message);
        for (name, value) in request_headers(ctx, self.password.as_deref()) {
            req = req.header(name, value);
        }
        let transport = |e: reqwest::Error, stage| classify(e, endpoint, stage, self.timeout);
        let mut resp = req.send().await.map_err(|e| transport(e, "sending the message"))?;
        let status = resp.status();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport(e, "reading the verdict"))? {
            body.extend_from_slice(&chunk);
            if body.len() > RESPONSE_MAX {
                return Err(ScanError::Protocol {
                    endpoint: endpoint.to_owned(),
                    detail: format!("response longer than {RESPONSE_MAX} bytes"),
                });
            }
        }
        if !status.is_success() {
            return Err(ScanError::Scanner {
                endpoint: endpoint.to_owned(),
                detail: format!("HTTP {status}: \"{}\"", escape(&body, 200)),
            });
        }
        parse_response(&body).map_err(|detail| ScanError::Protocol { endpoint: endpoint.to_owned(), detail })
    }
}

/// rspamd's request headers for what the session knows. Values are checked:
/// anything that could not be a header value is left out.
fn request_headers(ctx: &ScanContext, password: Option<&str>) -> Vec<(&'static str, String)> {
    let clean =
        |s: &str| (!s.is_empty() && s.len() <= 512 && s.bytes().all(|b| b.is_ascii_graphic())).then(|| s.to_owned());
    let mut h = Vec::new();
    if let Some(v) = clean(&ctx.session_id) {
        h.push(("Queue-Id", v));
    }
    if let Some(ip) = ctx.client_ip {
        let mut s = String::new();
        let _ = write!(s, "{ip}");
        h.push(("IP", s));
    }
    if let Some(v) = ctx.helo.as_deref().and_then(clean) {
        h.push(("Helo", v));
    }
    if let Some(v) = ctx.mail_from.as_deref().and_then(clean) {
        h.push(("From", v));
    }
    for r in &ctx.rcpt_to {
        if let Some(v) = clean(r) {
            h.push(("Rcpt", v));
        }
    }
    if let Some(p) = password {
        h.push(("Password", p.to_owned()));
    }
    h
}

fn classify(e: reqwest::Error, endpoint: &str, stage: &'static str, after: Duration) -> ScanError {
    // A connect that timed out is a connect failure: the next endpoint is tried.
    if e.is_connect() {
        ScanError::Connect {
            endpoint: endpoint.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, e.to_string()),
        }
    } else if e.is_timeout() {
        ScanError::Timeout { endpoint: endpoint.to_owned(), stage, after }
    } else {
        ScanError::Io { endpoint: endpoint.to_owned(), stage, source: std::io::Error::other(e.to_string()) }
    }
}

impl Scanner for RspamdClient {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn scan(&self, message: Bytes, ctx: &ScanContext) -> Result<Verdict, ScanError> {
        let (action, report) = self.check(message, ctx).await?;
        Ok(Verdict::Action { action, report })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_responses_parse() {
        // What rspamd 3.4 (Debian 12) answered in the lab.
        let (a, r) = parse_response(br#"{"is_skipped":true,"score":15.0,"required_score":15.0,"action":"reject","symbols":{"GTUBE":{"name":"GTUBE","score":0.0,"metric_score":0.0}},"messages":{"smtp_message":"Gtube pattern"},"message-id":"undef","time_real":0.134135}"#).unwrap();
        assert_eq!(a, Action::Reject);
        assert_eq!((r.score, r.required), (15.0, 15.0));
        assert_eq!(r.rules, ["GTUBE"]);
        let (a, r) = parse_response(br#"{"is_skipped":false,"score":2.400000,"required_score":15.0,"action":"no action","symbols":{"MIME_GOOD":{"name":"MIME_GOOD","score":-0.100000,"metric_score":-0.100000,"description":"Known content-type","options":["text/plain"]},"ARC_NA":{"name":"ARC_NA","score":0.0}},"messages":{},"milter":{"remove_headers":{"X-Spam":0}}}"#).unwrap();
        assert_eq!(a, Action::NoAction);
        assert_eq!(r.rules, ["ARC_NA", "MIME_GOOD"]);
    }

    #[test]
    fn every_action_maps() {
        for a in [
            Action::NoAction,
            Action::Greylist,
            Action::AddHeader,
            Action::RewriteSubject,
            Action::SoftReject,
            Action::Reject,
        ] {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            let body = format!(r#"{{"score":1,"required_score":15,"action":"{}"}}"#, a.as_str());
            assert_eq!(parse_response(body.as_bytes()).unwrap().0, a);
        }
    }

    #[test]
    fn garbage_is_an_error() {
        for body in [
            &b""[..],
            b"not json",
            b"{}",
            br#"{"score":1,"required_score":15}"#,
            br#"{"score":1,"required_score":15,"action":"discard"}"#,
            br#"{"score":1,"required_score":15,"action":"Reject"}"#,
            br#"{"score":"high","required_score":15,"action":"reject"}"#,
            br#"{"score":1,"required_score":15,"action":"no action","symbols":{"A B":{"score":1}}}"#,
            br#"{"error":"bad request"}"#,
        ] {
            assert!(parse_response(body).is_err(), "{:?}", escape(body, 100));
        }
    }

    #[test]
    fn request_headers_skip_unsafe_values() {
        let ctx = ScanContext {
            session_id: "abc123".into(),
            client_ip: Some("192.0.2.7".parse().unwrap()),
            helo: Some("bad\r\nInjected: 1".into()),
            mail_from: Some("a@b.example".into()),
            rcpt_to: vec!["c@d.example".into(), String::new()],
            ..Default::default()
        };
        let h = request_headers(&ctx, None);
        assert_eq!(
            h,
            vec![
                ("Queue-Id", "abc123".to_owned()),
                ("IP", "192.0.2.7".to_owned()),
                ("From", "a@b.example".to_owned()),
                ("Rcpt", "c@d.example".to_owned()),
            ]
        );
    }
}
