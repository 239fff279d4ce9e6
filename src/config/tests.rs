//! Configuration tests: unknown keys are refused everywhere, and errors carry
//! position and key path. (`tests/cli/shipped_configs.rs` runs `doorman
//! check` on every configuration the repository ships.)

use std::path::Path;

use super::*;

const MINIMAL: &str =
    "hostname: mx.example.test\nlisten:\n  - address: 127.0.0.1:2525\nupstream:\n  address: 127.0.0.1:25\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_yaml(text, Path::new("test.yaml"))
}

fn invalid(text: &str) -> (u64, u64, String, String) {
    match parse(text) {
        Err(ConfigError::Invalid { line, column, key, message, .. }) => (line, column, key, message),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn defaults_fill_in() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.limits.max_message_size, bytesize::ByteSize::mib(25));
    assert_eq!(c.limits.max_recipients, 100);
    assert_eq!(c.upstream.connect_timeout, std::time::Duration::from_secs(5));
    assert_eq!(c.banner.mode, BannerMode::Rewrite);
    assert_eq!(c.banner.template(), "{hostname} ESMTP");
    // The effective config round-trips.
    let again = parse(&c.to_yaml().unwrap()).unwrap();
    assert_eq!(again.to_yaml().unwrap(), c.to_yaml().unwrap());
}

/// A typo anywhere is an error, not a silently ignored key.
#[test]
fn unknown_keys_are_refused_in_every_mapping() {
    let full = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("proxy.yaml")).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || !trimmed.contains(':') || trimmed.starts_with("- ") {
            continue;
        }
        let indent = &line[..line.len() - trimmed.len()];
        let mut broken = lines.clone();
        let bogus = format!("{indent}bogus_key_xyz: 1");
        broken.insert(i, &bogus);
        let (line_no, _, key, message) = invalid(&broken.join("\n"));
        assert_eq!(line_no as usize, i + 1, "wrong line for {bogus:?}");
        assert!(message.contains("bogus_key_xyz"), "{message}");
        assert!(!key.is_empty() || indent.is_empty(), "no key path for {bogus:?}");
        checked += 1;
    }
    assert!(checked > 20, "only {checked} mappings checked");
}

#[test]
fn errors_name_position_and_key() {
    let text = format!("{MINIMAL}limits:\n  max_recipients: many\n");
    let (line, column, key, _) = invalid(&text);
    assert_eq!((line, column, key.as_str()), (7, 19, "limits.max_recipients"));

    let text = format!("{MINIMAL}limits:\n  idle_timeout: 5 parsecs\n");
    let (_, _, key, message) = invalid(&text);
    assert_eq!(key, "limits.idle_timeout");
    assert!(message.contains("duration"), "{message}");

    let text = MINIMAL.replace("127.0.0.1:2525", "not-an-address");
    assert_eq!(invalid(&text).2, "listen[0].address");

    let text = MINIMAL.replace("mx.example.test", "bad_name!");
    assert_eq!(invalid(&text).2, "hostname");

    let text = format!("{MINIMAL}banner:\n  mode: text\n  text: \"Hello there\"\n");
    let (line, _, key, message) = invalid(&text);
    assert_eq!((line, key.as_str()), (8, "banner.text"));
    assert!(message.contains("domain"), "{message}");

    let text = format!("{MINIMAL}limits:\n  max_connections: 0\n");
    let (line, _, key, message) = invalid(&text);
    assert_eq!((line, key.as_str()), (7, "limits.max_connections"));
    assert!(message.contains("at least 1"), "{message}");

    let text = "hostname: mx\nlisten: []\nupstream:\n  address: 127.0.0.1:25\n";
    assert_eq!(invalid(text).2, "listen");
}

#[test]
fn sizes_and_durations() {
    let text = format!("{MINIMAL}limits:\n  max_message_size: 512KiB\n  idle_timeout: 2m 30s\n");
    let c = parse(&text).unwrap();
    assert_eq!(c.limits.max_message_size.as_u64(), 512 * 1024);
    assert_eq!(c.limits.idle_timeout.as_secs(), 150);
    let text = format!("{MINIMAL}limits:\n  max_message_size: 1000\n");
    assert_eq!(parse(&text).unwrap().limits.max_message_size.as_u64(), 1000);
}

#[test]
fn long_banner_warns() {
    let text = format!("{MINIMAL}banner:\n  mode: text\n  text: \"{{hostname}} a\\nb\\nc\\nd\"\n");
    let c = parse(&text).unwrap();
    assert!(c.warnings().iter().any(|w| w.contains("4 lines")));
}
