//! Exim behind doorman, run for real: Debian's exim4-daemon-heavy (unpacked
//! by tests/support/install-deps.sh) with docker/exim/exim4.conf, and doorman
//! with docker/compose/doorman-exim.yaml, each with only its addresses and
//! paths moved to loopback and a temp dir. A client from 127.0.0.2, not
//! doorman's 127.0.0.1: Exim takes that client from doorman's PROXY v2
//! header (`hosts_proxy`), delivers to a known mailbox, and refuses an
//! unknown one and any relaying, naming the real client in its log and its
//! Received header (docs/exim.md).

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::support::client::{Client, assert_code};
use super::support::proxy::Proxy;
use super::support::tls::TestCert;
use super::support::{PATIENCE, free_port, message, repo};
use super::tools::{str_at, yaml};
use super::topology::{compose_config_on_loopback, send};

/// docker/exim/exim4.conf with doorman at 127.0.0.1, the daemon on `port`
/// of loopback, spool, log and mailboxes under `dir`, mailboxes owned by
/// Exim's user. Each line it changes must be there exactly once.
fn exim_config(dir: &Path, port: u16, exim: &Path) -> String {
    let mut text = std::fs::read_to_string(repo().join("docker/exim/exim4.conf")).expect("docker/exim/exim4.conf");
    let d = dir.display();
    for (from, to) in [
        ("hostlist doorman_hosts = 172.29.25.25", "hostlist doorman_hosts = 127.0.0.1".to_owned()),
        (
            "daemon_smtp_ports = 25",
            format!(
                "daemon_smtp_ports = {port}\nlocal_interfaces = 127.0.0.1\nspool_directory = {d}/spool\nexim_path = {}",
                exim.display()
            ),
        ),
        ("log_file_path = /var/log/exim4/%slog", format!("log_file_path = {d}/log/%slog")),
        ("directory = /var/mail/vhosts/", format!("directory = {d}/mail/")),
        // Re-executed with -C, Exim keeps no root privilege to change user.
        ("user = vmail", "user = Debian-exim".to_owned()),
        ("group = vmail", "group = Debian-exim".to_owned()),
    ] {
        assert_eq!(text.matches(from).count(), 1, "{from:?} in docker/exim/exim4.conf");
        text = text.replace(from, &to);
    }
    text
}

/// A running Exim daemon, killed on drop.
struct Exim {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Exim {
    async fn start() -> Self {
        let exim = crate::support::exim_binary();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let path = dir.path();
        for sub in ["spool", "log", "mail"] {
            std::fs::create_dir(path.join(sub)).expect("mkdir");
        }
        // Exim works as Debian-exim, the maildir transport too.
        let chown =
            Command::new("chown").arg("Debian-exim:Debian-exim").arg(path.join("spool")).arg(path.join("log")).status();
        assert!(chown.is_ok_and(|s| s.success()), "chown for Exim");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(path.join("mail"), std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let conf = path.join("exim4.conf");
        std::fs::write(&conf, exim_config(path, port, &exim)).expect("write exim4.conf");
        let out = std::fs::File::create(path.join("exim.out")).expect("exim.out");
        let mut child = Command::new(&exim)
            .arg("-C")
            .arg(&conf)
            .arg("-bdf")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().expect("dup")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start Exim");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = child.try_wait().expect("wait").is_some();
            let log = std::fs::read_to_string(path.join("exim.out")).unwrap_or_default();
            assert!(!exited && start.elapsed() < PATIENCE, "Exim did not listen on {port}:\n{log}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, dir, port }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Exim's main, reject and panic logs.
    fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join("log").join(name)).unwrap_or_default();
        read("mainlog") + &read("rejectlog") + &read("paniclog")
    }

    /// The messages delivered to `local`@example.test.
    fn delivered(&self, local: &str) -> Vec<String> {
        let new = self.dir.path().join(format!("mail/example.test/{local}/new"));
        let files = std::fs::read_dir(new).into_iter().flatten().flatten();
        files.filter_map(|f| std::fs::read_to_string(f.path()).ok()).collect()
    }
}

impl Drop for Exim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exim_takes_the_real_client_from_doormans_proxy_header() {
    let exim = Exim::start().await;
    let text = std::fs::read_to_string(repo().join("docker/compose/doorman-exim.yaml")).expect("doorman-exim.yaml");
    let compose = yaml(&text, "doorman-exim.yaml");
    assert_eq!(str_at(&compose, "/upstream/client_identity", "doorman-exim.yaml"), "proxy-v2");
    let (cert, spool) = (TestCert::new(), tempfile::tempdir().expect("spool dir"));
    let proxy =
        Proxy::start_with(compose_config_on_loopback(&compose, &exim.addr().to_string(), &cert, spool.path())).await;

    let mut c = Client::connect_from(proxy.addr, "127.0.0.2").await;
    assert_code(&c.reply().await, 220);
    assert_code(&c.cmd("EHLO client.example.net").await, 250);
    let to = "alice@example.test";
    let body = message(to, "via exim", &["Hi Alice,", "", "the minutes of Tuesday's meeting are below.", "", "Bob"]);
    assert_code(&send(&mut c, to, &body).await, 250);
    assert_code(&c.cmd("MAIL FROM:<alice@sender.example>").await, 250);
    assert_code(&c.cmd("RCPT TO:<nobody@example.test>").await, 550);
    let relay = c.cmd("RCPT TO:<victim@outside.example>").await;
    assert_eq!(relay.code(), 550, "relaying through doorman and Exim: {relay}");
    assert_code(&c.cmd("QUIT").await, 221);

    let start = Instant::now();
    while exim.delivered("alice").is_empty() {
        assert!(start.elapsed() < PATIENCE, "nothing in alice's Maildir; Exim's log:\n{}", exim.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = exim.delivered("alice").concat();
    assert!(delivered.contains("[127.0.0.2]"), "Exim's Received header does not name the real client:\n{delivered}");
    let log = exim.log();
    assert!(
        log.contains(
            "[127.0.0.2] F=<alice@sender.example> rejected RCPT <victim@outside.example>: Relay access denied"
        ),
        "Exim did not judge the real client:\n{log}"
    );
    let doormans = log.lines().filter(|l| l.contains(" H=") && l.contains("[127.0.0.1]"));
    assert_eq!(doormans.count(), 0, "Exim judged doorman's own address:\n{log}");
    proxy.stop().await;
}
