//! Debian's Postfix, run on loopback for the audit, in two configurations:
//!
//! - **stock**: what Debian's postinst writes for "Internet Site":
//!   `/usr/share/postfix/main.cf.debian` and `main.cf.tls` (appended when the
//!   snakeoil key exists) verbatim, then its `postconf -e` settings, plus only
//!   what a private instance needs (its own directories, a log file,
//!   loopback, a generated stand-in for the snakeoil certificate);
//! - **hardened**: the same, then the settings docs/audit.md recommends.
//!
//! Each starts once per test binary in `/tmp/doorman-audit-<flavour>-<pid>`
//! and is stopped by a watchdog when the test process exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::certs;
use super::support::{free_port, stop_at_exit};

/// A running private Postfix.
pub(crate) struct PostfixServer {
    pub(crate) port: u16,
    pub(crate) state: PathBuf,
}

impl PostfixServer {
    pub(crate) fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.state.join("log/postfix.log")).unwrap_or_default()
    }
}

static STOCK: OnceLock<PostfixServer> = OnceLock::new();
static HARDENED: OnceLock<PostfixServer> = OnceLock::new();

/// Debian's default configuration.
pub(crate) fn stock() -> &'static PostfixServer {
    STOCK.get_or_init(|| start("stock", "mail.stock.test", STOCK_EXTRA, true))
}

/// The hardened configuration.
pub(crate) fn hardened() -> &'static PostfixServer {
    HARDENED.get_or_init(|| start("hardened", "mail.hardened.test", HARDENED_EXTRA, false))
}

/// Nothing beyond Debian's defaults.
const STOCK_EXTRA: &[&str] = &[];

/// What docs/audit.md recommends for Postfix.
const HARDENED_EXTRA: &[&str] = &[
    "smtpd_banner=$myhostname ESMTP",
    "disable_vrfy_command=yes",
    "smtpd_forbid_unauth_pipelining=yes",
    "smtpd_tls_auth_only=yes",
    "smtpd_tls_protocols=>=TLSv1.2",
    "smtpd_tls_mandatory_protocols=>=TLSv1.2",
    "smtpd_helo_required=yes",
];

/// main.cf as Debian's postinst copies it: `main.cf.debian`, then
/// `main.cf.tls` (appended when the snakeoil key exists).
fn debian_main_cf() -> String {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/usr/share/postfix/{name}"))
            .unwrap_or_else(|e| panic!("/usr/share/postfix/{name}: {e}: run tests/support/install-deps.sh"))
    };
    read("main.cf.debian") + &read("main.cf.tls")
}

/// What the postinst then sets with `postconf -e` for "Internet Site"
/// (where this instance differs, the comment says Debian's value), and
/// where this private instance lives. Applied with `postconf -e` too, so each
/// key is in main.cf once: a repeated key makes every Postfix process warn
/// at start, and postlogd, logging its own warnings to itself, can deadlock.
fn settings(state: &Path, hostname: &str) -> Vec<String> {
    let s = state.display();
    [
        format!("myhostname={hostname}"),
        // Debian: hash:/etc/aliases (texthash needs no postalias run).
        format!("alias_maps=texthash:{s}/etc/aliases"),
        "alias_database=".into(),
        // Debian: /etc/mailname.
        "myorigin=$myhostname".into(),
        "mydestination=$myhostname, localhost.localdomain, localhost".into(),
        "relayhost=".into(),
        "mynetworks=127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128".into(),
        "mailbox_size_limit=0".into(),
        "recipient_delimiter=+".into(),
        // Debian: all.
        "inet_interfaces=loopback-only".into(),
        "inet_protocols=all".into(),
        "smtpd_relay_restrictions=permit_mynetworks permit_sasl_authenticated defer_unauth_destination".into(),
        // Debian: the snakeoil certificate.
        format!("smtpd_tls_cert_file={s}/tls.pem"),
        format!("smtpd_tls_key_file={s}/tls.key"),
        format!("config_directory={s}/etc"),
        format!("queue_directory={s}/spool"),
        format!("data_directory={s}/data"),
        "command_directory=/usr/sbin".into(),
        "daemon_directory=/usr/lib/postfix/sbin".into(),
        "meta_directory=/etc/postfix".into(),
        "shlib_directory=/usr/lib/postfix".into(),
        format!("maillog_file={s}/log/postfix.log"),
        format!("maillog_file_prefixes=/var, /dev/stdout, {s}"),
    ]
    .into()
}

fn master_cf(port: u16) -> String {
    let mut text = format!("127.0.0.1:{port} inet n - n - - smtpd\n");
    for (name, kind, private, unpriv, wakeup, limit, command) in [
        ("pickup", "unix", "n", "-", "60", "1", "pickup"),
        ("cleanup", "unix", "n", "-", "-", "0", "cleanup"),
        ("qmgr", "unix", "n", "-", "300", "1", "qmgr"),
        ("tlsmgr", "unix", "-", "-", "1000?", "1", "tlsmgr"),
        ("rewrite", "unix", "-", "-", "-", "-", "trivial-rewrite"),
        ("bounce", "unix", "-", "-", "-", "0", "bounce"),
        ("defer", "unix", "-", "-", "-", "0", "bounce"),
        ("trace", "unix", "-", "-", "-", "0", "bounce"),
        ("verify", "unix", "-", "-", "-", "1", "verify"),
        ("flush", "unix", "n", "-", "1000?", "0", "flush"),
        ("proxymap", "unix", "-", "-", "-", "-", "proxymap"),
        ("proxywrite", "unix", "-", "-", "-", "1", "proxymap"),
        ("smtp", "unix", "-", "-", "-", "-", "smtp"),
        ("relay", "unix", "-", "-", "-", "-", "smtp"),
        ("showq", "unix", "n", "-", "-", "-", "showq"),
        ("error", "unix", "-", "-", "-", "-", "error"),
        ("retry", "unix", "-", "-", "-", "-", "error"),
        ("discard", "unix", "-", "-", "-", "-", "discard"),
        ("local", "unix", "-", "n", "-", "-", "local"),
        ("virtual", "unix", "-", "n", "-", "-", "virtual"),
        ("lmtp", "unix", "-", "-", "-", "-", "lmtp"),
        ("anvil", "unix", "-", "-", "-", "1", "anvil"),
        ("scache", "unix", "-", "-", "-", "1", "scache"),
        ("postlog", "unix-dgram", "n", "-", "-", "1", "postlogd"),
    ] {
        // The fifth column, chroot, is "n": no chroot jail is populated.
        text.push_str(&format!("{name} {kind} {private} {unpriv} n {wakeup} {limit} {command}\n"));
    }
    text
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e} (run tests/support/install-deps.sh)"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[allow(clippy::disallowed_methods)] // fixture start-up, once, before the tests use it
fn start(flavour: &str, hostname: &str, extra: &[&str], self_signed: bool) -> PostfixServer {
    let state = PathBuf::from(format!("/tmp/doorman-audit-{flavour}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    for dir in ["etc", "spool", "data", "log"] {
        std::fs::create_dir_all(state.join(dir)).expect("mkdir");
    }
    let port = free_port();
    let write = |name: &str, text: &str| std::fs::write(state.join(name), text).expect("write config");
    write("etc/main.cf", &debian_main_cf());
    write("etc/master.cf", &master_cf(port));
    write("etc/aliases", "postmaster root\n");
    write("log/postfix.log", "");
    write("stop.sh", &format!("/usr/sbin/postfix -c '{}/etc' stop\n", state.display()));
    // Like a snakeoil certificate: 10 years, the host's name.
    certs::write(&state, "tls", &[hostname], -1, 3650, self_signed);
    // Postfix wants its config and queue owned by root; data and log by postfix.
    run(Command::new("chmod").arg("755").arg(&state).arg(state.join("etc")).arg(state.join("spool")), "chmod");
    run(Command::new("chown").arg("postfix").arg(state.join("data")).arg(state.join("log/postfix.log")), "chown");
    let mut postconf = Command::new("/usr/sbin/postconf");
    postconf.arg("-c").arg(state.join("etc")).arg("-e").args(settings(&state, hostname)).args(extra);
    run(&mut postconf, "postconf -e");
    run(Command::new("/usr/sbin/postfix").arg("-c").arg(state.join("etc")).arg("start"), "postfix start");
    stop_at_exit(&state.join("stop.sh"), &[], &state);
    let server = PostfixServer { port, state };
    let begin = Instant::now();
    while !greets(port) {
        assert!(begin.elapsed() < Duration::from_secs(30), "Postfix ({flavour}) did not greet:\n{}", server.diagnose());
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

impl PostfixServer {
    /// The log and who holds the port, for a failure message.
    fn diagnose(&self) -> String {
        let ss = Command::new("ss").args(["-Htanp", &format!("sport = :{}", self.port)]).output();
        let ss = ss.map_or_else(|e| e.to_string(), |o| String::from_utf8_lossy(&o.stdout).into_owned());
        format!("{}\nport {}: {ss}", self.log(), self.port)
    }
}

/// The port answers with a 220.
fn greets(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).is_ok() && &buf[..3] == b"220"
}
