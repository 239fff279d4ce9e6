//! rspamd: verdicts from the real daemon (Debian's package and rules).

use doorman::config::Rspamd;
use doorman::scan::ScanAction;
use doorman::scan::rspamd::RspamdClient;

use crate::support::scanners::rspamd;
use crate::{clean_message, closed_port, ctx, engine, gtube, refusal, result, scan};

fn config(addresses: &str) -> String {
    format!("rspamd:\n  addresses: [{addresses}]\n  timeout: 20s\n")
}

#[tokio::test]
async fn gtube_is_refused() {
    let e = engine(&config(&format!("\"{}\"", rspamd().addr())));
    let msg = clean_message("rgtube").replace("Alice", &gtube());
    let (o, _) = scan(&e, msg.as_bytes()).await;
    let text = refusal(&o);
    assert!(text.starts_with("554 5.7.1 Error: message rejected as spam"), "{text}");
    assert_eq!(result(&o, "rspamd").outcome, "spam");
}

/// The suite's clean message, with the context a loopback session gives,
/// scores well below rspamd's first action (greylist in Debian's rules).
#[tokio::test]
async fn clean_message_has_a_known_margin() {
    let cfg: Rspamd = serde_saphyr::from_str(&format!("addresses: [\"{}\"]\n", rspamd().addr())).expect("config");
    let (action, report) =
        RspamdClient::new(&cfg).check(clean_message("margin").into(), &ctx()).await.expect("rspamd check");
    let actions = rspamd().script_output("actions");
    let thresholds: Vec<(String, f64)> = actions
        .lines()
        .filter_map(|l| {
            let (name, value) = l.trim_end_matches(';').split_once(" = ")?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect();
    let (first, at) = thresholds
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or_else(|| panic!("no action thresholds from rspamadm configdump:\n{actions}"));
    let margin = at - report.score;
    eprintln!(
        "rspamd: clean message score {:.1} ({}), first action {first} at {at:.1}, margin {margin:.1}; rules: {}",
        report.score,
        action.as_str(),
        report.rules.join(",")
    );
    assert!(
        margin >= crate::HAM_MARGIN,
        "the clean test message scores {:.1} with rules {:?}: only {margin:.1} below {first} at {at:.1} \
         (wanted {}); fix the message in tests/support/mod.rs, not the threshold",
        report.score,
        report.rules,
        crate::HAM_MARGIN
    );
}

/// The first endpoint refuses connections: the second answers.
#[tokio::test]
async fn ham_is_delivered_with_rspamd_headers() {
    let e = engine(&config(&format!("\"{}\", \"{}\"", closed_port(), rspamd().addr())));
    for _ in 0..2 {
        let (o, took) = scan(&e, clean_message("rham").as_bytes()).await;
        assert_eq!(o.action, ScanAction::Deliver, "{o:?}");
        assert_eq!(result(&o, "rspamd").outcome, "ham");
        assert!(o.headers.contains("X-Rspamd-Action: no action\r\n"), "{}", o.headers);
        assert!(o.headers.starts_with("X-Rspamd-Score: "), "{}", o.headers);
        eprintln!("rspamd ham check took {took:?}");
    }
}

/// rspamd accepts the connection and never answers: `on_error`.
#[tokio::test]
async fn stalled_rspamd_applies_on_error() {
    use std::time::Duration;

    use crate::support::fake_scanner::{self, Behaviour, Protocol};

    let fake = fake_scanner::start(Protocol::Spamd, Behaviour::Silent).await;
    let e = engine(&format!("rspamd:\n  addresses: [\"{}\"]\n  timeout: 300ms\n", fake.address()));
    let (o, took) = scan(&e, clean_message("rstall").as_bytes()).await;
    assert_eq!(result(&o, "rspamd").outcome, "error_timeout", "{o:?}");
    assert!(refusal(&o).starts_with("451 4.7.1 "));
    assert!(took < Duration::from_secs(10), "the 300 ms timeout was not applied: {took:?}");
}
