//! The external checkers and how the tests run them: where
//! `tests/support/install-deps.sh` put each one, a command that must
//! succeed, `doorman check`, and YAML into JSON values for assertions.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `$DOORMAN_TEST_TOOLS/bin` (default `/opt/doorman-test-tools/bin`): the
/// same variable and default as install-deps.sh.
fn tools_bin() -> PathBuf {
    std::env::var_os("DOORMAN_TEST_TOOLS")
        .map_or_else(|| PathBuf::from("/opt/doorman-test-tools"), PathBuf::from)
        .join("bin")
}

/// A checker by name: hadolint, kubectl (Debian's 1.20) and
/// kubernetes-validate from the tools directory; docker-compose and
/// shellcheck from Debian's packages. Fails the test when it is missing.
pub(crate) fn tool(name: &str) -> PathBuf {
    let path = match name {
        "hadolint" | "kubectl" | "kubernetes-validate" => tools_bin().join(name),
        _ => Path::new("/usr/bin").join(name),
    };
    assert!(path.is_file(), "{} is missing: run tests/support/install-deps.sh (as root)", path.display());
    path
}

/// Runs `cmd`; fails the test with its output unless it exits 0; returns stdout.
pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `doorman check` on a configuration text; `Err` with its message when it
/// is refused.
pub(crate) fn doorman_check(text: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("proxy.yaml");
    std::fs::write(&path, text).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_doorman"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run doorman check");
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// Every YAML document of `text`, as JSON values.
pub(crate) fn yaml_docs(text: &str, what: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("{what} is not YAML: {e}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The one YAML document of `text`.
pub(crate) fn yaml(text: &str, what: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{what} is not YAML: {e}"))
}

/// `v` at the JSON pointer `at`, as a string; fails the test naming `what`.
pub(crate) fn str_at<'a>(v: &'a Value, at: &str, what: &str) -> &'a str {
    v.pointer(at).and_then(Value::as_str).unwrap_or_else(|| panic!("{what}: no string at {at} in {v:#}"))
}

/// `v` at the JSON pointer `at`, as an array (empty when absent).
pub(crate) fn list_at<'a>(v: &'a Value, at: &str) -> &'a [Value] {
    v.pointer(at).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}
