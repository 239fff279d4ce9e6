//! Every doorman configuration the repository ships passes `doorman check`:
//! `proxy.yaml`, every YAML file under `docker/` and `docs/` that is a
//! doorman config, the ones embedded in Kubernetes ConfigMaps or generated
//! into them by a kustomization's configMapGenerator, and the
//! ```yaml snippets of the documentation (completed with a minimal
//! hostname/listen/upstream when they show one section).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{doorman, repo};

/// One configuration found in the repository.
struct Found {
    /// Where it is (file, ConfigMap key, snippet line).
    origin: String,
    /// The YAML (or JSON, which is YAML) to check.
    text: String,
}

/// The keys a doorman configuration may have at the top.
const TOP_KEYS: &[&str] = &[
    "hostname", "listen", "upstream", "banner", "ehlo", "commands", "data", "limits", "tls", "helo", "dns", "scanners",
    "auth", "admin", "log", "shutdown",
];

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() { files_under(&p, out) } else { out.push(p) }
    }
}

fn is_doorman(v: &Value) -> bool {
    v.get("hostname").is_some() && v.get("upstream").is_some()
}

/// A YAML file: a doorman config itself, or manifests with ConfigMaps that
/// hold one.
fn from_yaml_file(path: &Path, rel: &str, found: &mut Vec<Found>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"));
    for doc in &docs {
        if is_doorman(doc) {
            let text = if docs.len() == 1 { text.clone() } else { doc.to_string() };
            found.push(Found { origin: rel.to_owned(), text });
        }
        from_config_map_generator(path, rel, doc, found);
        if doc.get("kind").and_then(Value::as_str) != Some("ConfigMap") {
            continue;
        }
        let name = doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
        for (key, value) in doc.get("data").and_then(Value::as_object).into_iter().flatten() {
            let Some(embedded) = value.as_str() else { continue };
            if serde_saphyr::from_str::<Value>(embedded).is_ok_and(|v| is_doorman(&v)) {
                found.push(Found { origin: format!("{rel}: ConfigMap {name}, {key}"), text: embedded.to_owned() });
            }
        }
    }
}

/// A kustomization's configMapGenerator: the files it puts into ConfigMaps
/// (`key=path` or `path`, relative to the kustomization) that are doorman
/// configurations.
fn from_config_map_generator(path: &Path, rel: &str, doc: &Value, found: &mut Vec<Found>) {
    let dir = path.parent().unwrap_or(Path::new("."));
    for generator in doc.get("configMapGenerator").and_then(Value::as_array).into_iter().flatten() {
        let name = generator.get("name").and_then(Value::as_str).unwrap_or("?");
        for entry in generator.get("files").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            let (key, file) = entry.split_once('=').unwrap_or((entry, entry));
            let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{rel}: {file}: {e}"));
            if serde_saphyr::from_str::<Value>(&text).is_ok_and(|v| is_doorman(&v)) {
                found.push(Found { origin: format!("{rel}: ConfigMap {name} (configMapGenerator), {key}"), text });
            }
        }
    }
}

/// The ```yaml blocks of a Markdown file whose keys are all doorman's,
/// completed into a whole configuration.
fn from_markdown(path: &Path, rel: &str, found: &mut Vec<Found>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let mut block: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut block, line.trim_start()) {
            (None, "```yaml") => block = Some((i + 1, String::new())),
            (Some((start, body)), "```") => {
                let snippet: Option<Map<String, Value>> = serde_saphyr::from_str(body).ok();
                let ours = snippet.filter(|m| !m.is_empty() && m.keys().all(|k| TOP_KEYS.contains(&k.as_str())));
                if let Some(snippet) = ours {
                    // Text, not a re-serialized value: YAML 1.1 readings
                    // (`off` as false) must not change what doorman sees.
                    let base = [
                        ("hostname", "hostname: mx.example.test\n"),
                        ("listen", "listen: [{address: 127.0.0.1:2525}]\n"),
                        ("upstream", "upstream: {address: 127.0.0.1:25}\n"),
                    ];
                    let mut whole: String =
                        base.iter().filter(|(k, _)| !snippet.contains_key(*k)).map(|(_, line)| *line).collect();
                    whole.push_str(body);
                    found.push(Found { origin: format!("{rel}:{} (snippet)", *start + 1), text: whole });
                }
                block = None;
            }
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, _) => {}
        }
    }
}

fn shipped_configs() -> Vec<Found> {
    let root = repo();
    let mut files = vec![root.join("proxy.yaml"), root.join("README.md")];
    files_under(&root.join("docker"), &mut files);
    files_under(&root.join("docs"), &mut files);
    let mut found = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => from_yaml_file(&path, &rel, &mut found),
            Some("md") => from_markdown(&path, &rel, &mut found),
            _ => {}
        }
    }
    found
}

#[test]
fn every_shipped_config_passes_doorman_check() {
    let found = shipped_configs();
    let origins: Vec<&str> = found.iter().map(|f| f.origin.as_str()).collect();
    for must in ["proxy.yaml", "docker/proxy.yaml", "ConfigMap"] {
        assert!(origins.iter().any(|o| o.starts_with(must) || o.contains(must)), "{must} not found in {origins:#?}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for (i, f) in found.iter().enumerate() {
        let path = dir.path().join(format!("config-{i}.yaml"));
        std::fs::write(&path, &f.text).expect("write config");
        let out = doorman().args(["check", "--config"]).arg(&path).output().expect("run doorman");
        if !out.status.success() {
            failures.push(format!("{}: {}", f.origin, String::from_utf8_lossy(&out.stderr).trim()));
        }
    }
    eprintln!("checked {} configurations:\n  {}", found.len(), origins.join("\n  "));
    assert!(failures.is_empty(), "shipped configurations that do not pass `doorman check`:\n{}", failures.join("\n"));
}
