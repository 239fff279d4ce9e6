//! docker/kubernetes: every kustomization (the top one, the base, each
//! overlay) renders with Debian's kubectl 1.20 and its old kustomize, every
//! rendered object passes `kubernetes-validate --strict`, every doorman
//! configuration in a rendered ConfigMap passes `doorman check`, and each
//! rendering keeps the promises of docs/kubernetes.md: doorman owns port 25
//! of the MX pod and the MTA listens on its loopback only, probes on
//! `/healthz` and `/readyz`, a termination grace period above doorman's,
//! requests on every container, scanner Deployments behind the Services
//! doorman's pools name, a disruption budget and an autoscaler for each, and
//! network policies that let only doorman reach the scanners.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::files::files_under;
use super::identity::{networks, postfix_params, trusted};
use super::support::repo;
use super::tools::{doorman_check, list_at, run, str_at, tool, yaml, yaml_docs};

/// Every directory under docker/kubernetes with a kustomization.yaml.
fn kustomizations() -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = files_under(&repo().join("docker/kubernetes"))
        .into_iter()
        .filter(|p| p.ends_with("kustomization.yaml"))
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    assert!(dirs.len() >= 3, "the top kustomization, the base and an overlay: {dirs:?}");
    dirs
}

/// `kubectl kustomize DIR`, validated by `kubernetes-validate --strict`.
fn render(dir: &Path) -> Vec<Value> {
    let text = run(Command::new(tool("kubectl")).arg("kustomize").arg(dir));
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("rendered.yaml");
    std::fs::write(&file, &text).expect("write the rendering");
    run(Command::new(tool("kubernetes-validate")).args(["--strict", "--quiet"]).arg(&file));
    yaml_docs(&text, &format!("kubectl kustomize {}", dir.display()))
}

/// One rendering, with lookups by kind and name.
struct Rendered {
    dir: PathBuf,
    docs: Vec<Value>,
}

impl Rendered {
    fn find(&self, kind: &str, name: &str) -> &Value {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{}: no {kind} {name}", self.dir.display()))
    }

    fn all(&self, kind: &str) -> impl Iterator<Item = &Value> {
        self.docs.iter().filter(move |d| d["kind"] == kind)
    }

    /// The data key `key` of the ConfigMap a pod's volume `volume` mounts
    /// (generated names carry a hash suffix).
    fn volume_data(&self, pod: &Value, volume: &str, key: &str) -> String {
        let v = list_at(pod, "/volumes").iter().find(|v| v["name"] == volume).expect("the volume");
        let map = self.find("ConfigMap", str_at(v, "/configMap/name", volume));
        str_at(map, &format!("/data/{key}"), volume).to_owned()
    }
}

fn renderings() -> Vec<Rendered> {
    kustomizations().into_iter().map(|dir| Rendered { docs: render(&dir), dir }).collect()
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    list_at(pod, "/containers").iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no container {name}"))
}

/// The mount path of a container's volume `volume`.
fn mount_path<'a>(c: &'a Value, volume: &str) -> &'a str {
    let m = list_at(c, "/volumeMounts").iter().find(|m| m["name"] == volume).expect("the volume mount");
    str_at(m, "/mountPath", volume)
}

/// `sleep N` of a container's preStop hook (`sleep N` or `sh -c 'sleep N; …'`).
fn pre_stop_sleep(c: &Value) -> Duration {
    let command: Vec<&str> = list_at(c, "/lifecycle/preStop/exec/command").iter().filter_map(Value::as_str).collect();
    let joined = command.join(" ");
    let n = joined.split("sleep ").nth(1).and_then(|r| r.split([' ', ';', '&']).next()).expect("a preStop sleep");
    Duration::from_secs(n.parse().expect("seconds"))
}

/// `selector` (matchLabels, or a Service's plain map) selects the pods of `deployment`.
fn selects(selector: &Value, deployment: &Value) -> bool {
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let wanted = selector.get("matchLabels").unwrap_or(selector);
    wanted.as_object().is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| &labels[k] == v))
}

fn port_of(address: &str) -> u16 {
    address.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or_else(|| panic!("no port in {address}"))
}

#[test]
fn every_kustomization_renders_validates_and_carries_valid_doorman_configs() {
    for r in renderings() {
        let mut checked = 0;
        for map in r.all("ConfigMap") {
            for (key, value) in map["data"].as_object().into_iter().flatten() {
                let text = value.as_str().unwrap_or_default();
                let parsed: Option<Value> = serde_saphyr::from_str(text).ok();
                if parsed.is_some_and(|v| v.get("hostname").is_some() && v.get("upstream").is_some()) {
                    doorman_check(text).unwrap_or_else(|e| panic!("{}: {key}: {e}", r.dir.display()));
                    checked += 1;
                }
            }
        }
        assert!(checked >= 1, "{}: no doorman configuration in a ConfigMap", r.dir.display());
    }
}

#[test]
fn the_mx_pod_owns_port_25_keeps_the_mta_on_loopback_and_drains_in_time() {
    for r in renderings() {
        let mx = r.find("Deployment", "doorman-mx");
        let pod = &mx["spec"]["template"]["spec"];
        let config = yaml(&r.volume_data(pod, "doorman-config", "proxy.yaml"), "doorman's ConfigMap");
        doorman_owns_port_25(&r, mx, &config);
        mta_on_loopback_only(&r, pod, &config);
        config_tls_and_probes(pod, &config);
        drains_in_time(pod, &config);
    }
}

/// doorman owns port 25: its listener, its container port, the sysctl that
/// lets uid 10025 bind it, the Service's target.
fn doorman_owns_port_25(r: &Rendered, mx: &Value, config: &Value) {
    let pod = &mx["spec"]["template"]["spec"];
    let doorman = container(pod, "doorman");
    let listen = str_at(config, "/listen/0/address", "listen");
    assert_eq!(port_of(listen), 25, "{listen}");
    let smtp = list_at(doorman, "/ports").iter().find(|p| p["name"] == "smtp").expect("the smtp port");
    assert_eq!(smtp["containerPort"], 25);
    let sysctl = list_at(pod, "/securityContext/sysctls")
        .iter()
        .find(|s| s["name"] == "net.ipv4.ip_unprivileged_port_start")
        .expect("the unprivileged-port sysctl");
    assert!(str_at(sysctl, "/value", "sysctl").parse::<u16>().expect("a port") <= 25);
    assert_eq!(doorman["securityContext"]["runAsNonRoot"], true);
    let svc = r.find("Service", "doorman-mx");
    assert!(selects(&svc["spec"]["selector"], mx));
    assert_eq!(
        (&svc["spec"]["ports"][0]["port"], &svc["spec"]["ports"][0]["targetPort"]),
        (&25.into(), &"smtp".into())
    );
}

/// The MTA: on the pod's loopback only, at the port doorman relays to,
/// taking XCLIENT from doorman (127.0.0.1) without trusting it.
fn mta_on_loopback_only(r: &Rendered, pod: &Value, config: &Value) {
    let mta = container(pod, "mta");
    let upstream: SocketAddr = str_at(config, "/upstream/address", "upstream").parse().expect("an ip:port");
    assert!(upstream.ip().is_loopback(), "{upstream}");
    let master_cf = r.volume_data(pod, "postfix-config", "master.cf");
    let inet: Vec<&str> = master_cf
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("inet"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(inet, [upstream.to_string()], "the MTA's only SMTP listener");
    let main_cf = postfix_params(&r.volume_data(pod, "postfix-config", "main.cf"));
    assert_eq!(main_cf["inet_interfaces"], "loopback-only");
    assert_eq!(str_at(config, "/upstream/client_identity", "upstream"), "xclient");
    assert_eq!(networks(&main_cf["smtpd_authorized_xclient_hosts"]), [upstream.ip().into()]);
    assert!(!trusted(&main_cf["mynetworks"], upstream.ip()), "doorman's address in mynetworks: an open relay");
    for (volume, path) in [("postfix-config", "/etc/postfix/main.cf"), ("postfix-config", "/etc/postfix/master.cf")] {
        assert!(list_at(mta, "/volumeMounts").iter().any(|m| m["name"] == volume && m["mountPath"] == path));
    }
}

/// Configuration from the ConfigMap, TLS from the Secret, probes on
/// doorman's admin port.
fn config_tls_and_probes(pod: &Value, config: &Value) {
    let doorman = container(pod, "doorman");
    let args: Vec<&str> = list_at(doorman, "/args").iter().filter_map(Value::as_str).collect();
    assert!(args.join(" ").starts_with(&format!("run --config {}/", mount_path(doorman, "doorman-config"))));
    let tls_dir = mount_path(doorman, "doorman-tls");
    for key in ["certificate", "key"] {
        assert!(str_at(config, &format!("/tls/{key}"), "tls").starts_with(&format!("{tls_dir}/")));
    }
    let tls = list_at(pod, "/volumes").iter().find(|v| v["name"] == "doorman-tls").expect("the TLS volume");
    assert_eq!(str_at(tls, "/secret/secretName", "doorman-tls"), "doorman-tls");
    let admin = port_of(str_at(config, "/admin/address", "admin"));
    let admin_port = list_at(doorman, "/ports").iter().find(|p| p["name"] == "admin").expect("the admin port");
    assert_eq!(admin_port["containerPort"], admin);
    assert_eq!(str_at(doorman, "/readinessProbe/httpGet/path", "readiness"), "/readyz");
    assert_eq!(str_at(doorman, "/livenessProbe/httpGet/path", "liveness"), "/healthz");
}

/// Shutdown: doorman drains while the MTA runs, all before SIGKILL.
fn drains_in_time(pod: &Value, config: &Value) {
    let (doorman, mta) = (container(pod, "doorman"), container(pod, "mta"));
    let grace = humantime::parse_duration(str_at(config, "/shutdown/grace_period", "shutdown")).expect("duration");
    let drained = pre_stop_sleep(doorman) + grace;
    let period = Duration::from_secs(pod["terminationGracePeriodSeconds"].as_u64().expect("a grace period"));
    assert!(pre_stop_sleep(mta) >= drained, "the MTA stops before doorman has drained");
    assert!(period > pre_stop_sleep(mta), "terminationGracePeriodSeconds {period:?} leaves the MTA no time");
    assert!(period > drained, "terminationGracePeriodSeconds {period:?} <= doorman's drain {drained:?}");
}

#[test]
fn scanners_budgets_autoscalers_and_policies_cover_every_deployment() {
    for r in renderings() {
        let mx = r.find("Deployment", "doorman-mx");
        let pod = &mx["spec"]["template"]["spec"];
        let config = yaml(&r.volume_data(pod, "doorman-config", "proxy.yaml"), "doorman's ConfigMap");
        for (scanner, pool) in [("clamd", "clamav"), ("spamd", "spamassassin")] {
            // doorman's pool is the scanner's Service, which selects its pods.
            let deployment = r.find("Deployment", scanner);
            let svc = r.find("Service", scanner);
            let port = svc["spec"]["ports"][0]["port"].as_u64().expect("a port");
            assert_eq!(
                list_at(&config, &format!("/scanners/{pool}/addresses")),
                [Value::from(format!("{scanner}:{port}"))]
            );
            assert!(selects(&svc["spec"]["selector"], deployment), "Service {scanner} selects no pod");
            let probe = &container(&deployment["spec"]["template"]["spec"], scanner)["readinessProbe"];
            assert!(probe.is_object(), "{scanner} has no readiness probe");
            // Only doorman's pods may connect, on the scanner's port only.
            let policy = r.find("NetworkPolicy", scanner);
            assert!(selects(&policy["spec"]["podSelector"], deployment));
            for rule in list_at(policy, "/spec/ingress") {
                let from = list_at(rule, "/from");
                assert!(!from.is_empty() && from.iter().all(|f| selects(&f["podSelector"], mx)), "{rule}");
                let ports: Vec<&Value> = list_at(rule, "/ports").iter().map(|p| &p["port"]).collect();
                assert_eq!(ports, [&Value::from(port)]);
            }
        }
        for name in ["doorman-mx", "clamd", "spamd"] {
            let deployment = r.find("Deployment", name);
            for c in list_at(deployment, "/spec/template/spec/containers") {
                for resource in ["cpu", "memory"] {
                    assert!(
                        c["resources"]["requests"][resource].is_string(),
                        "{name}/{}: no {resource} request",
                        c["name"]
                    );
                }
            }
            let budget = r.find("PodDisruptionBudget", name);
            assert!(selects(&budget["spec"]["selector"], deployment), "the budget {name} selects no pod");
            let hpa = r.find("HorizontalPodAutoscaler", name);
            assert_eq!(
                (&hpa["spec"]["scaleTargetRef"]["kind"], &hpa["spec"]["scaleTargetRef"]["name"]),
                (&"Deployment".into(), &name.into())
            );
            assert!(hpa["spec"]["minReplicas"].as_u64().expect("minReplicas") >= 2, "{name}: one pod is no budget");
        }
    }
}

/// With PROXY protocol in, the header is taken from the balancer's network
/// only, and only that network may connect; without it, the Service keeps
/// the client's address itself.
#[test]
fn proxy_protocol_only_from_the_balancers_network() {
    let mut seen_proxy = false;
    for r in renderings() {
        let mx = r.find("Deployment", "doorman-mx");
        let config = yaml(&r.volume_data(&mx["spec"]["template"]["spec"], "doorman-config", "proxy.yaml"), "config");
        let svc = r.find("Service", "doorman-mx");
        let policy = r.find("NetworkPolicy", "doorman-mx");
        let smtp_rules: Vec<&Value> = list_at(policy, "/spec/ingress")
            .iter()
            .filter(|rule| list_at(rule, "/ports").iter().any(|p| p["port"] == 25))
            .collect();
        assert_eq!(smtp_rules.len(), 1, "{}: one ingress rule for SMTP", r.dir.display());
        let sources: Vec<&str> =
            list_at(smtp_rules[0], "/from").iter().filter_map(|f| f.pointer("/ipBlock/cidr")?.as_str()).collect();
        if config.pointer("/listen/0/proxy_protocol") == Some(&Value::Bool(true)) {
            seen_proxy = true;
            let trusted: Vec<&str> =
                list_at(&config, "/listen/0/trusted_proxies").iter().filter_map(Value::as_str).collect();
            assert!(
                !trusted.is_empty() && trusted == sources,
                "{}: PROXY from {trusted:?}, SMTP from {sources:?}",
                r.dir.display()
            );
            assert_eq!(svc["spec"]["externalTrafficPolicy"], "Cluster");
        } else {
            assert!(sources.is_empty(), "{}: SMTP limited to {sources:?} without a balancer", r.dir.display());
            assert_eq!(
                svc["spec"]["externalTrafficPolicy"],
                "Local",
                "{}: the client address would be lost",
                r.dir.display()
            );
        }
    }
    assert!(seen_proxy, "no overlay with PROXY protocol in");
}
