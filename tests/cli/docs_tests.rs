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
