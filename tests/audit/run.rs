//! Running an audit: in-process through the library (`doorman::audit::run`),
//! or as the `doorman audit` command.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use doorman::Config;
use doorman::audit::conn::Limits;
use doorman::audit::finding::{Check, Finding, Severity};
use doorman::audit::plan::{Plan, Target, random_local_part};
use doorman::audit::progress::Progress;
use doorman::audit::report::{Report, View};
use doorman::audit::{Request, run};

/// Step and overall limits of the audits against real servers: generous,
/// a loaded 2-core machine must not fail a test a quiet one passes.
pub(crate) const STEP: Duration = Duration::from_secs(10);
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// A plan for `target` with the given limits.
pub(crate) fn plan(target: &str, step: Duration, deadline: Duration) -> Plan {
    Plan {
        target: Target::parse(target).expect("target"),
        helo: "doorman-audit.invalid".into(),
        domain: None,
        user: None,
        tls_name: None,
        limits: Limits { step, deadline: tokio::time::Instant::now() + deadline },
        unknown_local: random_local_part(),
    }
}

pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs() as i64
}

/// Audits `plan` in-process, with doorman's `config` if given.
pub(crate) async fn audit_plan(plan: Plan, config: Option<Config>) -> Report {
    run(Request { plan, config, now: now() }, &mut Progress::none()).await
}

/// Audits `target` in-process with the default limits.
pub(crate) async fn audit(target: &str) -> Report {
    audit_plan(plan(target, STEP, DEADLINE), None).await
}

/// The finding `id` of `view`; fails the test showing all findings if absent.
#[track_caller]
pub(crate) fn finding(view: &View, id: Check) -> &Finding {
    view.findings.iter().find(|f| f.id == id).unwrap_or_else(|| panic!("no {} in {:#?}", id.id(), view))
}

/// The severity of `id` in `view`, if found.
pub(crate) fn severity(view: &View, id: Check) -> Option<Severity> {
    view.findings.iter().find(|f| f.id == id).map(|f| f.severity)
}

/// Runs `doorman audit ARGS`; returns (exit code, stdout, stderr).
pub(crate) async fn command(args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_doorman"))
        .arg("audit")
        .args(args)
        .output()
        .await
        .expect("run doorman audit");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}
