//! Debian's Exim (exim4-daemon-heavy, unpacked by
//! tests/support/install-deps.sh), run on loopback for the audit from a
//! small configuration: only paths, the port, a local domain and a mailbox
//! router are set, so everything a client sees is Exim's own default; the
//! hardened and legal-banner flavours add their few lines. Each daemon
//! starts once per test binary and is stopped when the test process exits.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::certs;
use super::support::{free_port, stop_at_exit};

/// A running Exim daemon.
pub(crate) struct EximServer {
    pub(crate) port: u16,
    pub(crate) state: PathBuf,
}

impl EximServer {
    pub(crate) fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.state.join("log").join(name)).unwrap_or_default();
        read("mainlog") + &read("paniclog") + &std::fs::read_to_string(self.state.join("exim.out")).unwrap_or_default()
    }
}

/// The sentence the legal-banner flavour repeats into lines of over 600 octets.
const LEGAL_LINE: &str = "By connecting you agree to the terms of use of this system.";

static DEFAULT: OnceLock<EximServer> = OnceLock::new();
static HARDENED: OnceLock<EximServer> = OnceLock::new();
static LEGAL: OnceLock<EximServer> = OnceLock::new();

/// Exim's defaults.
pub(crate) fn default() -> &'static EximServer {
    DEFAULT.get_or_init(|| start("exim-default", |_| String::new()))
}

/// What docs/audit.md recommends for Exim.
pub(crate) fn hardened() -> &'static EximServer {
    HARDENED.get_or_init(|| {
        start("exim-hardened", |state| {
            let cert = certs::write(state, "tls", &["mail.exim-hardened.test"], -1, 90, false);
            format!(
                "smtp_banner = $smtp_active_hostname ESMTP\ntls_certificate = {}\ntls_privatekey = {}\n\
                 pipelining_connect_advertise_hosts =\n",
                cert.chain.display(),
                cert.key.display()
            )
        })
    })
}

/// A legal notice in the greeting: 5 lines, two of them over 512 octets.
pub(crate) fn legal_banner() -> &'static EximServer {
    LEGAL.get_or_init(|| {
        start("exim-legal", |_| {
            let long = LEGAL_LINE.repeat(600 / LEGAL_LINE.len() + 1);
            format!("smtp_banner = $smtp_active_hostname ESMTP\\n{long}\\n{long}\\nNotice 3\\nNotice 4\n")
        })
    })
}

fn config(state: &std::path::Path, name: &str, port: u16, exim: &std::path::Path, extra: &str) -> String {
    let s = state.display();
    format!(
        "# --- a private instance: paths, port, no DNS or ident in the sandbox ---
exim_path = {exim}
keep_environment =
primary_hostname = mail.{name}.test
spool_directory = {s}/spool
log_file_path = {s}/log/%slog
pid_file_path = {s}/exim.pid
local_interfaces = 127.0.0.1
daemon_smtp_ports = {port}
host_lookup =
rfc1413_hosts =
never_users = root
domainlist local_domains = @
acl_smtp_rcpt = acl_check_rcpt
{extra}
begin acl
acl_check_rcpt:
  accept  hosts = :
  deny    message = relay not permitted
          domains = !+local_domains
  require verify = recipient
  accept

begin routers
mailboxes:
  driver = accept
  domains = +local_domains
  local_parts = postmaster : alice
  transport = devnull

begin transports
devnull:
  driver = appendfile
  file = /dev/null
  user = Debian-exim
",
        exim = exim.display()
    )
}

#[allow(clippy::disallowed_methods)] // fixture start-up, once, before the tests use it
fn start(name: &str, extra: impl FnOnce(&std::path::Path) -> String) -> EximServer {
    let exim = crate::support::exim_binary();
    let state = PathBuf::from(format!("/tmp/doorman-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    for sub in ["spool", "log"] {
        std::fs::create_dir_all(state.join(sub)).expect("mkdir");
    }
    let port = free_port();
    let extra = extra(&state);
    std::fs::write(state.join("exim4.conf"), config(&state, name, port, &exim, &extra)).expect("write exim4.conf");
    // Started with -C, Exim drops root for Debian-exim: it must write its
    // spool and log, and read the key. The configuration stays root's.
    let mut chown = Command::new("chown");
    chown.arg("Debian-exim:Debian-exim").arg(state.join("spool")).arg(state.join("log"));
    if state.join("tls.key").exists() {
        chown.arg(state.join("tls.key"));
    }
    let chown = chown.status();
    assert!(chown.is_ok_and(|s| s.success()), "chown for Exim");
    let out = std::fs::File::create(state.join("exim.out")).expect("exim.out");
    let mut child = Command::new(&exim)
        .arg("-C")
        .arg(state.join("exim4.conf"))
        .arg("-bdf")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().expect("dup")))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("start Exim");
    // The daemon outlives the test process unless the watchdog stops it.
    std::fs::write(state.join("stop.sh"), format!("kill {}\n", child.id())).expect("stop.sh");
    stop_at_exit(&state.join("stop.sh"), &[], &state);
    // Reaps the daemon if it dies; never joined.
    std::thread::spawn(move || child.wait());
    let server = EximServer { port, state };
    let begin = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(begin.elapsed() < Duration::from_secs(20), "Exim ({name}) did not listen:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}
