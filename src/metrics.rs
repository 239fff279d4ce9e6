//! Every metric doorman exports, with its help text, in one place. Names start
//! with `doorman_`; label values come only from fixed sets (`&'static str`
//! chosen by doorman's code), never from client data, addresses or IPs.
//! The registry is process-global so any module can count without plumbing.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

mod labels;

pub use labels::{ConnectionResult, MessageOutcome, NoUpstream, Reason, ReloadResult};

/// `result` of an accepted TCP connection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// accepted | refused_limit | refused_per_ip
    pub result: &'static str,
}

/// Outcome of one message transaction.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// relayed | upstream_rejected | upstream_tempfail | refused_size | refused_line_length |
    /// refused_bare_line_endings | refused_spool | rejected_virus | rejected_spam |
    /// tempfail_scanner | rejected_scanner | aborted
    pub outcome: &'static str,
}

/// Why doorman refused something itself.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectionLabels {
    /// e.g. syntax, unknown_command, sequence, parameter, too_many_recipients,
    /// too_many_errors, idle_timeout, early_talker, helo, non_smtp, forbidden_command
    pub reason: &'static str,
}

/// A HELO/EHLO rule that fired.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HeloRuleLabels {
    /// The rule's fixed name.
    pub rule: &'static str,
    /// reject | tempfail | would_reject
    pub action: &'static str,
}

/// One scanner.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScannerLabels {
    /// clamav | spamassassin | rspamd
    pub scanner: &'static str,
}

/// One scanner's result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScanResultLabels {
    /// clamav | spamassassin | rspamd
    pub scanner: &'static str,
    /// clean | infected | spam | ham | too_big | error_* (fixed by the scanner code)
    pub outcome: &'static str,
}

/// An upstream failure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    /// connect | greeting | helo | mail | rcpt | data | message | data_end | rset | auth | query | quit | idle
    pub stage: &'static str,
    /// timeout | connect | closed | io | protocol | unexpected | spool | refused_greeting
    pub kind: &'static str,
}

/// A TLS handshake.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TlsLabels {
    /// client_starttls | client_implicit | upstream
    pub side: &'static str,
    /// ok | failed
    pub result: &'static str,
}

/// What doorman did about something it checks.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// reject | monitor
    pub action: &'static str,
}

/// The metric handles.
pub struct Metrics {
    registry: Registry,
    /// doorman_connections_total{result}
    pub connections: Family<ConnectionLabels, Counter>,
    /// doorman_active_sessions
    pub active_sessions: Gauge,
    /// doorman_messages_total{outcome}
    pub messages: Family<MessageLabels, Counter>,
    /// doorman_rejections_total{reason}
    pub rejections: Family<RejectionLabels, Counter>,
    /// doorman_helo_rule_total{rule,action}
    pub helo_rules: Family<HeloRuleLabels, Counter>,
    /// doorman_scan_duration_seconds{scanner}
    pub scan_duration: Family<ScannerLabels, Histogram, fn() -> Histogram>,
    /// doorman_scan_results_total{scanner,outcome}
    pub scan_results: Family<ScanResultLabels, Counter>,
    /// doorman_upstream_errors_total{stage,kind}
    pub upstream_errors: Family<UpstreamErrorLabels, Counter>,
    /// doorman_tls_handshakes_total{side,result}
    pub tls_handshakes: Family<TlsLabels, Counter>,
    /// doorman_config_reloads_total{result}
    pub reloads: Family<ConnectionLabels, Counter>,
    /// doorman_upstream_sessions_total
    pub upstream_sessions: Counter,
    /// doorman_upstream_releases_total
    pub upstream_releases: Counter,
    /// doorman_protocol_sync_violations_total{action}
    pub sync_violations: Family<ActionLabels, Counter>,
    /// doorman_sessions_without_upstream_total{reason}
    pub without_upstream: Family<RejectionLabels, Counter>,
    /// doorman_pass_cache_lookups_total{result}
    pub pass_cache: Family<ConnectionLabels, Counter>,
    /// doorman_shield_store_errors_total
    pub store_errors: Counter,
    /// doorman_recipient_harvest_total{action}: tarpit | closed
    pub harvest: Family<ActionLabels, Counter>,
    /// doorman_shield_store_up
    pub store_up: Gauge,
}

fn scan_histogram() -> Histogram {
    // 5 ms .. ~20 s
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let m = Self {
            connections: Family::default(),
            active_sessions: Gauge::default(),
            messages: Family::default(),
            rejections: Family::default(),
            helo_rules: Family::default(),
            scan_duration: Family::new_with_constructor(scan_histogram),
            scan_results: Family::default(),
            upstream_errors: Family::default(),
            tls_handshakes: Family::default(),
            reloads: Family::default(),
            upstream_sessions: Counter::default(),
            upstream_releases: Counter::default(),
            sync_violations: Family::default(),
            without_upstream: Family::default(),
            pass_cache: Family::default(),
            store_errors: Counter::default(),
            harvest: Family::default(),
            store_up: Gauge::default(),
            registry: Registry::default(),
        };
        m.register(&mut registry);
        m.preset();
        Self { registry, ..m }
    }

    fn register(&self, registry: &mut Registry) {
        registry.register("doorman_connections", "Client connections by result", self.connections.clone());
        registry.register("doorman_active_sessions", "Client sessions in progress", self.active_sessions.clone());
        registry.register("doorman_messages", "Message transactions by outcome", self.messages.clone());
        registry.register(
            "doorman_rejections",
            "Replies refusing a client command, by reason",
            self.rejections.clone(),
        );
        registry.register(
            "doorman_helo_rule",
            "HELO/EHLO and client rules that fired, by action",
            self.helo_rules.clone(),
        );
        registry.register("doorman_scan_duration_seconds", "Scanner latency per message", self.scan_duration.clone());
        registry.register("doorman_scan_results", "Scanner results by outcome", self.scan_results.clone());
        registry.register(
            "doorman_upstream_errors",
            "Upstream failures by stage and kind",
            self.upstream_errors.clone(),
        );
        registry.register("doorman_tls_handshakes", "TLS handshakes by side and result", self.tls_handshakes.clone());
        registry.register("doorman_config_reloads", "Configuration reloads (SIGHUP) by result", self.reloads.clone());
        let version = Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]);
        registry.register("doorman_build", "Build information", version);
        self.register_shield(registry);
    }

    /// What the shield (docs/shield.md) spared the MTA and how its memory fares.
    fn register_shield(&self, registry: &mut Registry) {
        registry.register("doorman_upstream_sessions", "Upstream sessions opened", self.upstream_sessions.clone());
        registry.register(
            "doorman_upstream_releases",
            "Upstream sessions given back because the client was slow",
            self.upstream_releases.clone(),
        );
        registry.register(
            "doorman_sessions_without_upstream",
            "Client sessions that ended without an upstream session, by why",
            self.without_upstream.clone(),
        );
        registry.register(
            "doorman_protocol_sync_violations",
            "Clients that broke SMTP command synchronization, by what doorman did",
            self.sync_violations.clone(),
        );
        registry.register(
            "doorman_recipient_harvest",
            "Sessions that collected refused recipients, by what doorman did (tarpit, closed)",
            self.harvest.clone(),
        );
        registry.register("doorman_pass_cache_lookups", "Pass cache lookups by result", self.pass_cache.clone());
        registry.register("doorman_shield_store_errors", "Failed shared-store operations", self.store_errors.clone());
        registry.register("doorman_shield_store_up", "1 while the shared store answers", self.store_up.clone());
    }

    /// Every series of the fixed label sets exists from the start.
    fn preset(&self) {
        for r in ConnectionResult::ALL {
            let _ = self.connections.get_or_create(&ConnectionLabels { result: r.as_str() });
        }
        for r in ReloadResult::ALL {
            let _ = self.reloads.get_or_create(&ConnectionLabels { result: r.as_str() });
        }
        for o in MessageOutcome::ALL {
            let _ = self.messages.get_or_create(&MessageLabels { outcome: o.as_str() });
        }
        for r in Reason::ALL {
            let _ = self.rejections.get_or_create(&RejectionLabels { reason: r.as_str() });
        }
        for r in NoUpstream::ALL {
            let _ = self.without_upstream.get_or_create(&RejectionLabels { reason: r.as_str() });
        }
        for action in ["tarpit", "closed"] {
            let _ = self.harvest.get_or_create(&ActionLabels { action });
        }
        for result in ["hit", "miss"] {
            let _ = self.pass_cache.get_or_create(&ConnectionLabels { result });
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a refusal doorman sent itself.
    pub fn reject(&self, reason: Reason) {
        self.rejections.get_or_create(&RejectionLabels { reason: reason.as_str() }).inc();
    }

    /// Counts a message transaction's outcome.
    pub fn message(&self, outcome: MessageOutcome) {
        self.messages.get_or_create(&MessageLabels { outcome: outcome.as_str() }).inc();
    }

    /// Counts a reload.
    pub fn reload(&self, result: ReloadResult) {
        self.reloads.get_or_create(&ConnectionLabels { result: result.as_str() }).inc();
    }

    /// Counts an upstream failure.
    pub fn upstream_error(&self, stage: &'static str, kind: &'static str) {
        self.upstream_errors.get_or_create(&UpstreamErrorLabels { stage, kind }).inc();
    }

    /// Counts a break of command synchronization under `check` (reject or monitor).
    pub fn sync_violation(&self, check: crate::config::SyncCheck) {
        let action = if check == crate::config::SyncCheck::Reject { "reject" } else { "monitor" };
        self.sync_violations.get_or_create(&ActionLabels { action }).inc();
    }

    /// Counts a session that ended without an upstream session.
    pub fn session_without_upstream(&self, reason: NoUpstream) {
        self.without_upstream.get_or_create(&RejectionLabels { reason: reason.as_str() }).inc();
    }

    /// Counts a connection.
    pub fn connection(&self, result: ConnectionResult) {
        self.connections.get_or_create(&ConnectionLabels { result: result.as_str() }).inc();
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family_with_the_doorman_prefix() {
        let m = metrics();
        m.connection(ConnectionResult::Accepted);
        m.message(MessageOutcome::Relayed);
        m.reject(Reason::Syntax);
        m.upstream_error("mail", "closed");
        m.scan_duration.get_or_create(&ScannerLabels { scanner: "clamav" }).observe(0.01);
        let text = m.encode();
        for name in [
            "doorman_connections_total{result=\"accepted\"}",
            "doorman_active_sessions",
            "doorman_messages_total{outcome=\"relayed\"}",
            "doorman_rejections_total{reason=\"syntax\"}",
            "doorman_upstream_errors_total{stage=\"mail\",kind=\"closed\"}",
            "doorman_scan_duration_seconds_bucket{le=",
            "doorman_build_info{version=",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            assert!(line.starts_with("doorman_"), "{line}");
        }
    }

    /// Every label value exists from the start, and docs/operations.md
    /// names each one in its metric's row.
    #[test]
    fn every_label_is_registered_and_documented() {
        let text = metrics().encode();
        let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md"))
            .expect("docs/operations.md");
        let row =
            |metric: &str| doc.lines().find(|l| l.starts_with(&format!("| `{metric}`"))).unwrap_or_default().to_owned();
        let sets: [(&str, &str, Vec<&str>); 5] = [
            ("doorman_connections_total", "result", ConnectionResult::ALL.iter().map(|v| v.as_str()).collect()),
            ("doorman_config_reloads_total", "result", ReloadResult::ALL.iter().map(|v| v.as_str()).collect()),
            ("doorman_messages_total", "outcome", MessageOutcome::ALL.iter().map(|v| v.as_str()).collect()),
            ("doorman_rejections_total", "reason", Reason::ALL.iter().map(|v| v.as_str()).collect()),
            ("doorman_sessions_without_upstream_total", "reason", NoUpstream::ALL.iter().map(|v| v.as_str()).collect()),
        ];
        for (metric, label, values) in sets {
            let documented = row(metric);
            for value in values {
                assert!(text.contains(&format!("{metric}{{{label}=\"{value}\"}}")), "{metric} {value} not registered");
                assert!(documented.contains(value), "docs/operations.md: {metric} does not name {value}");
            }
        }
    }
}
