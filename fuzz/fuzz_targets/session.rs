//! A whole session: scripted client bytes through doorman to a scripted
//! upstream that checks everything doorman writes to it (see
//! `doorman_fuzz::session` and `doorman_fuzz::oracle`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Err(report) = doorman_fuzz::session::run(input) {
        panic!("oracle violation:\n{report}");
    }
});
