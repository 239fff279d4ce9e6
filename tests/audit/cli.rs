//! The `doorman audit` command: exit codes, usage errors, colour only on a
//! terminal, and the progress line (a terminal made with util-linux's
//! `script`).

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::hostile::{fake, hold};
use super::postfix_server::{hardened, stock};
use super::run::command;

#[tokio::test]
async fn exit_codes_follow_the_worst_severity() {
    let (code, out, _) = command(&[&stock().addr()]).await;
    assert_eq!(code, 1, "stock Postfix: medium (VRFY)\n{out}");
    assert!(out.ends_with("exit 1: the worst finding is medium\n"), "{out}");
    let (code, out, _) = command(&[&hardened().addr()]).await;
    assert_eq!(code, 0, "hardened Postfix: low at worst\n{out}");
    let endless = fake(|mut s: TcpStream| async move {
        let _ = s.write_all(b"220 fake.test no line end").await;
        hold(s).await;
    })
    .await;
    let (code, out, _) = command(&[&endless.to_string(), "--timeout", "1s"]).await;
    assert_eq!(code, 2, "an unfinished greeting is high\n{out}");
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr");
    let (code, out, _) = command(&[&closed.to_string()]).await;
    assert_eq!(code, 3, "{out}");
    assert!(out.contains(&format!("could not audit: cannot connect to {closed}")), "{out}");
}

#[tokio::test]
async fn usage_errors_exit_3_and_help_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_config = dir.path().join("proxy.yaml");
    std::fs::write(&bad_config, "hostname: mx.example.test\nlisten: []\n").expect("write");
    let bad_config = bad_config.display().to_string();
    for args in [
        vec![],
        vec!["127.0.0.1:25", "--format", "xml"],
        vec!["a b:25"],
        vec!["127.0.0.1:25", "--user", "a\r\nRCPT TO:<x@y>"],
        vec!["127.0.0.1:25", "--domain", "not a domain"],
        vec!["127.0.0.1:25", "--timeout", "0s"],
        vec!["127.0.0.1:25", "--config", "/nonexistent/proxy.yaml"],
        vec!["127.0.0.1:25", "--config", &bad_config],
    ] {
        let (code, _, err) = command(&args).await;
        assert_eq!(code, 3, "{args:?}: {err}");
        assert!(!err.is_empty(), "{args:?}: no message");
    }
    let (code, out, _) = command(&["--help"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("--config") && out.contains("--format"), "{out}");
    // The other subcommands keep clap's usage exit code.
    let other = std::process::Command::new(env!("CARGO_BIN_EXE_doorman")).args(["check", "--bogus"]).output();
    assert_eq!(other.expect("run doorman check").status.code(), Some(2));
}

#[tokio::test]
async fn colour_only_on_a_terminal_or_when_asked() {
    let (_, piped, stderr) = command(&[&hardened().addr()]).await;
    assert!(!piped.contains('\x1b') && !stderr.contains('\x1b'), "escapes in a pipe:\n{piped}{stderr}");
    let (_, forced, _) = command(&[&hardened().addr(), "--color", "always"]).await;
    assert!(forced.contains("\x1b[1m") && forced.contains("\x1b[2m"), "{forced:?}");
}

#[tokio::test]
async fn a_terminal_gets_colour_and_a_progress_line() {
    let line = format!("{} audit {}", env!("CARGO_BIN_EXE_doorman"), hardened().addr());
    let out = tokio::process::Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .output()
        .await
        .expect("util-linux script (bsdutils) is missing");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let progress = format!("\r\x1b[2Kdoorman audit: {}: connecting…", hardened().addr());
    assert!(text.contains(&progress), "no progress line in {text:?}");
    assert!(text.contains("early talker…") && text.contains("STARTTLS…"), "{text:?}");
    assert!(text.contains("\x1b[1mdoorman audit of "), "no colour on a terminal: {text:?}");
}
