//! docs/plain-host.md, run for real: the guide's iptables REDIRECT rule in a
//! private network namespace (`unshare -n`, so the machine's firewall is
//! never touched), doorman on its unprivileged port behind it, smtp-sink as
//! the MTA. A client dialling port 25 from 127.0.0.2 gets doorman's
//! greeting; doorman sees the client's own address (REDIRECT keeps the
//! source) and logs the original destination, port 25.

use std::process::Command;

use super::support::repo;
use super::tools::run;

#[test]
fn port_25_redirected_to_doorman_keeps_the_client_address() {
    let guide = std::fs::read_to_string(repo().join("docs/plain-host.md")).expect("docs/plain-host.md");
    let rule = guide
        .split('`')
        .find(|s| s.starts_with("iptables -t nat -A OUTPUT"))
        .expect("the guide's REDIRECT rule for local clients");
    assert!(rule.ends_with("--dport 25 -j REDIRECT --to-ports 2525"), "{rule}");
    let iptables = std::path::Path::new("/usr/sbin/iptables");
    assert!(iptables.is_file(), "iptables is missing: run tests/support/install-deps.sh (as root)");

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("proxy.yaml");
    let log = dir.path().join("doorman.log");
    std::fs::write(
        &config,
        "hostname: mx.example.test\nlisten:\n  - address: 127.0.0.1:2525\nupstream:\n  address: 127.0.0.1:10025\n\
         dns:\n  nameservers: [\"127.0.0.1:9\"]\nlog:\n  level: debug\n",
    )
    .expect("write config");
    let out = run(Command::new("unshare")
        .arg("-n")
        .arg("bash")
        .arg(repo().join("tests/deployment/redirect.sh"))
        .arg(env!("CARGO_BIN_EXE_doorman"))
        .arg(&config)
        .arg(&log)
        .arg(rule));
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(out.starts_with("220 mx.example.test ESMTP\n250-mx.example.test"), "{out}\n{log}");
    assert!(log.contains("client=127.0.0.2:"), "doorman did not see the client's own address:\n{log}");
    assert!(log.contains("redirected connection original=127.0.0.1:25"), "{log}");
}
