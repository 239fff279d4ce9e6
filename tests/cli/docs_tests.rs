//! The documentation names tests as the proof of its promises
//! (`docs/security.md` above all). Every `` `tests/x.rs::name` `` or
//! `` `src/x.rs::name` `` it names must be a function in that file, so a
//! renamed or deleted test cannot leave a promise without its proof.

use super::repo;

/// `path::name` references in backticks.
fn test_references(text: &str) -> Vec<(String, String)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| {
            let (path, name) = quoted.split_once(".rs::")?;
            let path = format!("{path}.rs");
            let ok = (path.starts_with("tests/") || path.starts_with("src/"))
                && !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            ok.then(|| (path, name.to_owned()))
        })
        .collect()
}

#[test]
fn docs_name_real_tests() {
    let mut docs = vec![repo().join("README.md")];
    docs.extend(std::fs::read_dir(repo().join("docs")).expect("docs").flatten().map(|e| e.path()));
    let mut checked = 0;
    let mut missing = Vec::new();
    for doc in docs.iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let text = std::fs::read_to_string(doc).expect("read doc");
        for (path, name) in test_references(&text) {
            let source = std::fs::read_to_string(repo().join(&path)).unwrap_or_default();
            if source.contains(&format!("fn {name}(")) {
                checked += 1;
            } else {
                missing.push(format!("{}: {path}::{name}", doc.display()));
            }
        }
    }
    assert!(missing.is_empty(), "documented tests that do not exist:\n{}", missing.join("\n"));
    let security = std::fs::read_to_string(repo().join("docs/security.md")).expect("docs/security.md");
    assert!(test_references(&security).len() >= 20, "docs/security.md names too few tests");
    eprintln!("{checked} documented tests found");
}

/// The IDs of docs/security-checklist.md: a section's letter (`## A. ...`)
/// and each numbered item in it (`1. **...`), as `A1`.
fn checklist_ids(text: &str) -> Vec<String> {
    let mut section = None;
    let mut ids = Vec::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title.split_once(". ").map(|(l, _)| l.to_owned()).filter(|l| l.len() == 1);
        } else if let (Some(letter), Some((number, rest))) = (&section, line.trim_start().split_once(". "))
            && rest.starts_with("**")
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
        {
            ids.push(format!("{letter}{number}"));
        }
    }
    ids
}

/// The rows of the "Checklist accounting" table: (ID, status, held by).
fn accounting_rows(security: &str) -> Vec<(String, String, String)> {
    let section = security.split("## Checklist accounting").nth(1).expect("a Checklist accounting section");
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.strip_prefix('|')?.split(" | ").map(str::trim).collect();
            let id = *cells.first()?;
            let is_id =
                id.len() > 1 && id.as_bytes()[0].is_ascii_uppercase() && id[1..].bytes().all(|b| b.is_ascii_digit());
            (is_id && cells.len() == 4)
                .then(|| (id.to_owned(), cells[2].to_owned(), cells[3].trim_end_matches('|').trim().to_owned()))
        })
        .collect()
}

/// Every checklist item has one row, tested (naming tests, which
/// `docs_name_real_tests` checks exist) or decided (with its reason); the
/// counts line says what the rows say, and nothing is open.
#[test]
fn checklist_is_fully_accounted() {
    let checklist = std::fs::read_to_string(repo().join("docs/security-checklist.md")).expect("checklist");
    let security = std::fs::read_to_string(repo().join("docs/security.md")).expect("docs/security.md");
    let ids = checklist_ids(&checklist);
    assert!(ids.len() >= 100 && ids.first().map(String::as_str) == Some("A1"), "checklist parsed badly: {ids:?}");
    let rows = accounting_rows(&security);
    let row_ids: Vec<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(row_ids, ids.iter().map(String::as_str).collect::<Vec<_>>(), "one row per checklist item, in order");
    let (mut tested, mut decided) = (0, 0);
    for (id, status, held_by) in &rows {
        match status.as_str() {
            "tested" => {
                tested += 1;
                assert!(!test_references(held_by).is_empty(), "{id} is tested by no named test: {held_by}");
            }
            "decided" => {
                decided += 1;
                assert!(held_by.len() > 40, "{id} is decided without a reason: {held_by}");
            }
            other => panic!("{id} has status {other:?}: every item is tested or decided"),
        }
    }
    let counts = format!("Counts: tested {tested}, decided {decided}, open 0.");
    assert!(security.contains(&counts), "docs/security.md must say {counts:?}");
}
