//! The code's shape, checked so it cannot drift: no `use` cycle between the
//! crate's top-level modules (the layering `wire` → `config` → policies and
//! scanners → `session` → `server` holds), and small files and functions
//! (at most 400 lines a file, 60 a function) in `src/`, `tests/` and the
//! fuzz targets (`fuzz/src`, `fuzz/fuzz_targets`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::repo;

const FILE_MAX: usize = 400;
const FN_MAX: usize = 60;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without its comment lines and its `#[cfg(test)] mod
/// tests { .. }` tail (tests may reach anywhere).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let text = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or_default();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Each top-level module of `src/` and the top-level modules its code names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo().join("src");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&src).expect("src").flatten() {
        let name = entry.file_name().to_string_lossy().trim_end_matches(".rs").to_owned();
        if entry.path().is_file() && !matches!(name.as_str(), "lib" | "main") {
            names.insert(name);
        }
    }
    let mut graph = BTreeMap::new();
    for module in &names {
        let mut files = vec![src.join(format!("{module}.rs"))];
        rust_files(&src.join(module), &mut files);
        let mut uses = BTreeSet::new();
        for f in files.iter().filter(|f| !f.components().any(|c| c.as_os_str() == "tests")) {
            let code = code(f);
            for (i, _) in code.match_indices("crate::") {
                let name: String =
                    code[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if names.contains(&name) && &name != module {
                    uses.insert(name);
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// A cycle through `from`, if any (depth-first, with the path so far).
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>) -> Option<Vec<String>> {
    let last = path.last()?.clone();
    for next in graph.get(&last).into_iter().flatten() {
        if let Some(at) = path.iter().position(|m| m == next) {
            let mut found = path[at..].to_vec();
            found.push(next.clone());
            return Some(found);
        }
        path.push(next.clone());
        if let Some(found) = cycle(graph, path) {
            return Some(found);
        }
        path.pop();
    }
    None
}

#[test]
fn top_level_modules_have_no_use_cycle() {
    let graph = module_graph();
    assert!(graph.len() > 10 && graph["wire"].is_empty(), "{graph:#?}");
    for module in graph.keys() {
        if let Some(found) = cycle(&graph, &mut vec![module.clone()]) {
            panic!("a use cycle between top-level modules: {}", found.join(" -> "));
        }
    }
}

/// The length of each function in `text`, by its braces (string and char
/// literals skipped, which is enough for rustfmt-formatted code).
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        let head = trimmed
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("async ")
            .trim_start_matches("const ");
        let Some(rest) = head.strip_prefix("fn ") else {
            i += 1;
            continue;
        };
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let (mut depth, mut started, mut j) = (0i64, false, i);
        while j < lines.len() {
            let braces = without_literals(lines[j]);
            depth += braces.matches('{').count() as i64 - braces.matches('}').count() as i64;
            started |= braces.contains('{');
            if started && depth <= 0 {
                break;
            }
            if !started && lines[j].trim_end().ends_with(';') {
                break;
            }
            j += 1;
        }
        if started {
            out.push((name, j - i + 1));
        }
        i = j + 1;
    }
    out
}

fn without_literals(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' if chars.clone().nth(1) == Some('\'') => {
                chars.nth(1);
            }
            '\'' if chars.peek() == Some(&'\\') => {
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn files_and_functions_stay_small() {
    let mut files = Vec::new();
    rust_files(&repo().join("src"), &mut files);
    rust_files(&repo().join("tests"), &mut files);
    // The fuzz crate's code (not its build directory, fuzz/target).
    rust_files(&repo().join("fuzz/src"), &mut files);
    rust_files(&repo().join("fuzz/fuzz_targets"), &mut files);
    let mut too_big = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let rel = f.strip_prefix(repo()).unwrap_or(f).display().to_string();
        if text.lines().count() > FILE_MAX {
            too_big.push(format!("{rel}: {} lines", text.lines().count()));
        }
        for (name, len) in function_lengths(&text).into_iter().filter(|(_, len)| *len > FN_MAX) {
            too_big.push(format!("{rel}: fn {name}, {len} lines"));
        }
    }
    assert!(files.len() > 50);
    assert!(too_big.is_empty(), "over {FILE_MAX} lines a file or {FN_MAX} a function:\n{}", too_big.join("\n"));
    assert_eq!(function_lengths("fn a() {\n    let s = \"{\";\n}\n"), [("a".to_owned(), 3)]);
}
