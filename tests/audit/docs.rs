//! docs/audit.md against the code: its check table lists exactly the checks
//! the audit makes, its JSON table exactly the fields it prints, and its
//! example report is what a real run against stock Postfix through doorman
//! gives, check for check.

use std::collections::BTreeSet;

use doorman::audit::finding::Check;
use serde_json::Value;

use super::postfix_server::stock;
use super::run::command;
use super::support::repo;
use super::support::tls::TestCert;
use super::through_doorman::config_file;

fn doc() -> String {
    std::fs::read_to_string(repo().join("docs/audit.md")).expect("docs/audit.md")
}

/// The first column of the table under `heading` (its backticked names).
fn table_names(doc: &str, heading: &str) -> BTreeSet<String> {
    let section = doc.split_once(heading).unwrap_or_else(|| panic!("{heading:?} in docs/audit.md")).1;
    let table = section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'));
    table.filter_map(|l| l.split('`').nth(1).map(str::to_owned)).collect()
}

#[test]
fn every_check_is_documented() {
    let documented = table_names(&doc(), "\n## Checks\n");
    let made: BTreeSet<String> = Check::ALL.iter().map(|c| c.id().to_owned()).collect();
    assert_eq!(documented, made, "docs/audit.md's check table and Check::ALL differ");
}

/// Field paths as docs/audit.md writes them (`view.findings[].id`).
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = match (prefix, k.as_str()) {
                    ("", "direct" | "doorman") => {
                        out.insert(k.clone());
                        paths(child, "view", out);
                        continue;
                    }
                    ("", _) => k.clone(),
                    _ => format!("{prefix}.{k}"),
                };
                out.insert(path.clone());
                paths(child, &path, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| paths(i, &format!("{prefix}[]"), out)),
        _ => {}
    }
}

async fn stock_through_doorman(format: &str) -> String {
    let (dir, cert) = (tempfile::tempdir().expect("tempdir"), TestCert::new());
    let config = config_file(&dir, &stock().addr());
    let text = std::fs::read_to_string(&config).expect("config") + &cert.config();
    std::fs::write(&config, text).expect("write config");
    command(&[&stock().addr(), "--config", &config, "--format", format]).await.1
}

#[tokio::test]
async fn json_fields_are_the_documented_ones() {
    let out = stock_through_doorman("json").await;
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let mut printed = BTreeSet::new();
    paths(&report, "", &mut printed);
    assert_eq!(table_names(&doc(), "\n### JSON\n"), printed);
    assert_eq!(report["schema"], 1);
}

/// (view heading, severity, check) of each finding row in a table report.
fn rows(table: &str) -> Vec<(usize, String, String)> {
    let mut view = 0;
    let mut out = Vec::new();
    for line in table.lines() {
        if line.starts_with("doorman audit of ") {
            view += 1;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [severity @ ("high" | "medium" | "low" | "info"), id, ..] = words[..] {
            out.push((view, severity.to_owned(), id.to_owned()));
        }
    }
    out
}

#[tokio::test]
async fn the_example_report_is_a_real_run() {
    let doc = doc();
    let example = doc.split_once("```text\n").and_then(|(_, rest)| rest.split_once("```")).expect("the example").0;
    let real = stock_through_doorman("table").await;
    assert_eq!(rows(example), rows(&real), "docs/audit.md's example is not what the audit says now:\n{real}");
    assert!(rows(example).len() > 10);
    let exit = example.lines().last().expect("an exit line");
    assert!(real.ends_with(&format!("{exit}\n")), "{exit:?} vs\n{real}");
}
