//! The command parser: whatever the line, no panic; a parsed command
//! encodes to one clean CRLF line that parses back to the same command and
//! encodes again to the same bytes (the upstream only sees this encoding).
#![no_main]

use bytes::BytesMut;
use doorman::wire::command::is_sasl_response;
use doorman::wire::{Command, CommandError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    let Ok(cmd) = Command::parse(line) else {
        return;
    };
    let mut wire = BytesMut::new();
    cmd.encode(&mut wire);
    let body = wire.strip_suffix(b"\r\n").expect("a command ends in CRLF");
    assert!(!body.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0), "{wire:?}");
    let again = Command::parse(body);
    assert_eq!(again.as_ref(), Ok(&cmd), "{wire:?} parses differently");
    let mut second = BytesMut::new();
    cmd.encode(&mut second);
    assert_eq!(wire, second);
    if let Command::Auth { initial: Some(initial), .. } = &cmd {
        assert!(is_sasl_response(initial));
    }
    assert!(!matches!(again, Err(CommandError::Forbidden)));
});
