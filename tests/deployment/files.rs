//! The deployment files pass their linters: hadolint for every Dockerfile
//! under `docker/` (a rule is skipped only inline, with its reason next to
//! it), shellcheck for every shell script under `docker/` and
//! `tests/deployment/`, and `fuzz/run.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::support::repo;
use super::tools::tool;

/// Every file under `dir`, recursively.
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let p = entry.path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

/// Runs `checker` on each file; fails the test listing every file it refused.
fn lint(checker: &str, files: &[PathBuf]) {
    let bin = tool(checker);
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let out = Command::new(&bin).arg(f).output().expect("run the linter");
            (!out.status.success()).then(|| {
                format!(
                    "{}:\n{}{}",
                    f.display(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "{checker} refused:\n{}", failures.join("\n"));
}

#[test]
fn dockerfiles_pass_hadolint() {
    let files: Vec<PathBuf> =
        files_under(&repo().join("docker")).into_iter().filter(|p| p.ends_with("Dockerfile")).collect();
    // doorman, Postfix, Exim, spamd and the certificate helper.
    assert!(files.len() >= 5, "Dockerfiles found: {files:?}");
    lint("hadolint", &files);
}

#[test]
fn shell_scripts_pass_shellcheck() {
    let mut files: Vec<PathBuf> = [repo().join("docker"), repo().join("tests/deployment")]
        .iter()
        .flat_map(|dir| files_under(dir))
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    files.push(repo().join("fuzz/run.sh"));
    // docker/tls/make-cert.sh, tests/deployment/redirect.sh, fuzz/run.sh.
    assert!(files.len() >= 2, "shell scripts found: {files:?}");
    lint("shellcheck", &files);
}
