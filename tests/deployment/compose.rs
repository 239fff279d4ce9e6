//! docker/docker-compose.yml and its overrides: valid for the Compose v1
//! validator (`docker-compose config`, Debian's 1.29) with every override
//! and profile, and the stack it describes keeps its promises: the MTA and
//! the scanners on internal networks only, doorman the only published
//! service, a healthcheck on every long-running service, volumes for the
//! spool, the TLS certificate and clamd's signatures where the configs
//! expect them, and a stop grace period longer than doorman's.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use super::support::repo;
use super::tools::{doorman_check, list_at, run, str_at, tool, yaml};

/// The shapes: the override files on top of docker-compose.yml, and the
/// doorman configuration each one mounts.
pub(crate) const VARIANTS: [(&[&str], &str); 3] = [
    (&[], "compose/doorman.yaml"),
    (&["docker-compose.exim.yml"], "compose/doorman-exim.yaml"),
    (&["docker-compose.exchange.yml"], "compose/doorman-exchange.yaml"),
];

/// `docker-compose config` of docker-compose.yml plus `overrides`, with
/// every profile enabled: the normalized file, as a JSON value.
pub(crate) fn render(overrides: &[&str]) -> Value {
    let docker = repo().join("docker");
    let mut cmd = Command::new(tool("docker-compose"));
    cmd.current_dir(&docker).args(["-f", "docker-compose.yml"]);
    for o in overrides {
        cmd.args(["-f", o]);
    }
    cmd.args(["--profile", "freshclam", "--profile", "demo-mta", "config"]);
    yaml(&run(&mut cmd), "docker-compose config output")
}

/// The service `name` of a rendered compose file.
pub(crate) fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose.pointer(&format!("/services/{name}")).unwrap_or_else(|| panic!("no service {name} in {compose:#}"))
}

/// The networks a service joins.
fn networks(svc: &Value) -> BTreeSet<String> {
    svc.get("networks").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

/// The volume mounted at `target` in a service: its source.
pub(crate) fn mount_source(svc: &Value, target: &str) -> String {
    list_at(svc, "/volumes")
        .iter()
        .filter_map(Value::as_str)
        .find_map(|v| {
            let mut parts = v.split(':');
            let source = parts.next()?;
            (parts.next()? == target).then(|| source.to_owned())
        })
        .unwrap_or_else(|| panic!("nothing mounted at {target} in {svc:#}"))
}

/// The doorman configuration a rendered stack mounts, parsed.
pub(crate) fn doorman_config(compose: &Value) -> Value {
    let path = mount_source(service(compose, "doorman"), "/etc/doorman/proxy.yaml");
    yaml(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")), &path)
}

fn duration(text: &str) -> std::time::Duration {
    humantime::parse_duration(text).unwrap_or_else(|e| panic!("{text:?} is not a duration: {e}"))
}

#[test]
fn every_variant_passes_the_compose_v1_validator_and_mounts_a_valid_config() {
    for (overrides, config) in VARIANTS {
        let compose = render(overrides);
        let mounted = mount_source(service(&compose, "doorman"), "/etc/doorman/proxy.yaml");
        assert!(mounted.ends_with(config), "{overrides:?} mounts {mounted}, not {config}");
        let text = std::fs::read_to_string(&mounted).expect("read the mounted config");
        doorman_check(&text).unwrap_or_else(|e| panic!("{mounted}: {e}"));
    }
}

#[test]
fn only_doorman_is_published_and_the_mta_and_scanners_are_internal() {
    let compose = render(&[]);
    for (name, internal) in [("edge", false), ("mta", true), ("scan", true)] {
        let is = compose.pointer(&format!("/networks/{name}/internal")).and_then(Value::as_bool).unwrap_or(false);
        assert_eq!(is, internal, "network {name}: internal should be {internal}");
    }
    let services = compose.get("services").and_then(Value::as_object).expect("services");
    for (name, svc) in services {
        assert_eq!(svc.get("ports").is_some(), name == "doorman", "{name}: only doorman publishes a port");
    }
    let joins = |name: &str| networks(service(&compose, name));
    assert_eq!(joins("doorman"), ["edge", "mta", "scan"].map(String::from).into());
    assert_eq!(joins("mta"), ["mta"].map(String::from).into());
    assert_eq!(joins("clamd"), ["scan"].map(String::from).into());
    assert_eq!(joins("spamd"), ["scan"].map(String::from).into());
    // Only freshclam, which fetches signatures, leaves the internal networks.
    assert_eq!(joins("freshclam"), ["edge"].map(String::from).into());
    assert_eq!(str_at(service(&compose, "tls-init"), "/network_mode", "tls-init"), "none");
}

#[test]
fn every_long_running_service_has_a_healthcheck_and_doorman_waits_for_its_dependencies() {
    for (overrides, _) in VARIANTS {
        let compose = render(overrides);
        for (name, svc) in compose.get("services").and_then(Value::as_object).expect("services") {
            if svc.get("restart").and_then(Value::as_str) == Some("no") {
                continue; // a one-shot job (tls-init): doorman waits for it to complete instead
            }
            let test = list_at(svc, "/healthcheck/test");
            let disabled = test.first().and_then(Value::as_str) == Some("NONE");
            assert!(test.len() >= 2 && !disabled, "{overrides:?}: {name} has no healthcheck");
        }
        let doorman = service(&compose, "doorman");
        for (dep, condition) in
            [("clamd", "service_healthy"), ("spamd", "service_healthy"), ("tls-init", "service_completed_successfully")]
        {
            assert_eq!(str_at(doorman, &format!("/depends_on/{dep}/condition"), "doorman"), condition);
        }
    }
}

/// The volumes sit where the configurations expect them: doorman's spool
/// and certificate, clamd's signatures (and the test database it copies in).
#[test]
fn volumes_hold_the_spool_the_certificate_and_the_signatures() {
    let compose = render(&[]);
    let config = doorman_config(&compose);
    let doorman = service(&compose, "doorman");
    let spool = str_at(&config, "/data/spool_dir", "doorman.yaml");
    assert_eq!(mount_source(doorman, spool), "doorman-spool");
    let cert = std::path::Path::new(str_at(&config, "/tls/certificate", "doorman.yaml"));
    let tls_dir = cert.parent().and_then(|p| p.to_str()).expect("certificate directory");
    assert_eq!(mount_source(doorman, tls_dir), "tls");
    assert_eq!(mount_source(service(&compose, "tls-init"), "/tls"), "tls");

    let clamd = service(&compose, "clamd");
    assert_eq!(mount_source(clamd, "/var/lib/clamav"), "clamav-db");
    assert_eq!(mount_source(service(&compose, "freshclam"), "/var/lib/clamav"), "clamav-db");
    let clamd_conf = std::fs::read_to_string(repo().join("docker/clamav/clamd.conf")).expect("clamd.conf");
    assert!(clamd_conf.lines().any(|l| l == "DatabaseDirectory /var/lib/clamav"), "{clamd_conf}");
    assert!(clamd_conf.lines().any(|l| l == "TCPSocket 3310"), "{clamd_conf}");
    let testdb = mount_source(clamd, "/opt/doorman-testdb");
    assert!(std::path::Path::new(&testdb).join("doorman.ndb").is_file(), "no doorman.ndb in {testdb}");
    let command: Vec<&str> = list_at(clamd, "/command").iter().filter_map(Value::as_str).collect();
    assert!(command.join(" ").contains("cp /opt/doorman-testdb/doorman.ndb /var/lib/clamav/"), "{command:?}");
}

/// doorman's configuration names the services that exist, on their ports,
/// and compose waits longer than doorman drains.
#[test]
fn doorman_reaches_the_services_it_names_and_may_drain() {
    let compose = render(&[]);
    let config = doorman_config(&compose);
    assert_eq!(str_at(&config, "/upstream/address", "doorman.yaml"), "mta:25");
    assert_eq!(list_at(&config, "/scanners/clamav/addresses"), [Value::from("clamd:3310")]);
    assert_eq!(list_at(&config, "/scanners/spamassassin/addresses"), [Value::from("spamd:783")]);
    let spamd: Vec<&str> = list_at(service(&compose, "spamd"), "/command").iter().filter_map(Value::as_str).collect();
    let subnet = str_at(&compose, "/networks/scan/ipam/config/0/subnet", "scan network");
    assert_eq!(spamd, ["--listen=0.0.0.0:783", &format!("--allowed-ips={subnet}")]);

    let stop = duration(str_at(service(&compose, "doorman"), "/stop_grace_period", "doorman"));
    let grace = duration(str_at(&config, "/shutdown/grace_period", "doorman.yaml"));
    assert!(stop > grace + std::time::Duration::from_secs(5), "stop_grace_period {stop:?} vs grace_period {grace:?}");
}

/// The Exim override builds Exim as the MTA; the Exchange one starts no MTA
/// (the demo MTA only under its profile).
#[test]
fn the_overrides_swap_the_upstream() {
    let exim = render(&["docker-compose.exim.yml"]);
    assert!(str_at(service(&exim, "mta"), "/build/context", "mta").ends_with("docker/exim"));
    let exchange = render(&["docker-compose.exchange.yml"]);
    assert_eq!(list_at(service(&exchange, "mta"), "/profiles"), [Value::from("demo-mta")]);
    let config = doorman_config(&exchange);
    assert_eq!(str_at(&config, "/upstream/client_identity", "doorman-exchange.yaml"), "none");
}
