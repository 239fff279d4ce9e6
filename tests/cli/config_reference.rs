//! docs/configuration.md lists every configuration key, and only real ones:
//! a configuration that sets every optional section goes through
//! `doorman check`, every key path of the effective configuration it prints
//! (`a.b`, `list[].key` for lists of mappings) must be a row of the
//! reference table, and every row must be one of those paths.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{doorman, repo};

/// Every section and every optional key set (the rest has defaults, which
/// `doorman check` prints). `{dir}` holds a generated certificate.
const EVERY_SECTION: &str = r#"
version: 1
hostname: mx.example.test
listen:
  - address: 127.0.0.1:2525
    tls: starttls
    proxy_protocol: true
    trusted_proxies: ["10.0.0.0/8"]
    forbid_unauth_pipelining: monitor
tls:
  certificate: {dir}/cert.pem
  key: {dir}/key.pem
upstream:
  address: 127.0.0.1:25
  tls: required
  tls_ca_file: {dir}/cert.pem
  tls_name: mx.example.test
banner:
  mode: text
  text: "{hostname} ESMTP"
ehlo:
  no_soliciting: ""
helo:
  dnsbl_threshold: 2
  dnsbl_allowlist_threshold: -1
  dnsbl:
    - zone: bl.example.net
      message: "listed: {txt}"
      action: reject
      answers: [127.0.0.2]
      weight: 2
dns:
  nameservers: ["127.0.0.1:53"]
scanners:
  url: "https://mx.example.test/blocked"
  clamav:
    addresses: ["127.0.0.1:3310"]
  spamassassin:
    addresses: ["127.0.0.1:783"]
    user: doorman
  rspamd:
    addresses: ["127.0.0.1:11333"]
    password: s3cret
data:
  spool_dir: /var/spool/doorman
admin:
  address: 127.0.0.1:9025
shield:
  store:
    url: redis://127.0.0.1:6379/0
"#;

/// The key paths of a configuration value.
fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                key_paths(x, &if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, out);
            }
        }
        Value::Array(items) if items.first().is_some_and(Value::is_object) => {
            for x in items {
                key_paths(x, &format!("{prefix}[]"), out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

/// The keys of the reference table: the backquoted names in the first cell
/// of each row.
fn documented() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo().join("docs/configuration.md")).expect("docs/configuration.md");
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let cell = l.split('|').nth(1).unwrap_or_default();
            cell.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_reference_lists_every_key_and_only_real_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = rcgen::generate_simple_self_signed(vec!["mx.example.test".to_owned()]).expect("a certificate");
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).expect("write cert");
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).expect("write key");
    let config = dir.path().join("every-section.yaml");
    std::fs::write(&config, EVERY_SECTION.replace("{dir}", &dir.path().display().to_string())).expect("write config");
    let out = doorman().args(["check", "--config"]).arg(&config).output().expect("run doorman check");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let effective: Value = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).expect("YAML output");
    let mut keys = BTreeSet::new();
    key_paths(&effective, "", &mut keys);
    // Every optional section really is in the output.
    for must in [
        "tls.key",
        "banner.text",
        "helo.dnsbl[].answers",
        "scanners.rspamd.password",
        "admin.address",
        "shield.store.url",
    ] {
        assert!(keys.contains(must), "{must} missing from the effective configuration: {keys:#?}");
    }
    let documented = documented();
    let missing: Vec<&String> = keys.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&keys).collect();
    assert!(missing.is_empty(), "keys missing from the table in docs/configuration.md: {missing:#?}");
    assert!(unknown.is_empty(), "rows of docs/configuration.md that are no configuration key: {unknown:#?}");
}
