//! RFC 5322 date-time text (`Sun, 29 Nov 2026 14:47:31 +0000`) for the
//! `Received:` header doorman writes and `{date}` in banner templates: the
//! one place where doorman reads the wall clock for text it sends.
//!
//! RFC 5322 §3.3 wants a numeric zone; `GMT` and the other names are
//! obsolete syntax (§4.3) that a generator must not produce. doorman always
//! writes UTC as `+0000`.

use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// Written if the clock is outside the range RFC 5322 can express
/// (before 1900): never expected on a working machine, but never a panic.
const EPOCH: &str = "Thu, 01 Jan 1970 00:00:00 +0000";

/// `at` in RFC 5322 form, in UTC with a `+0000` zone.
pub(crate) fn rfc5322(at: SystemTime) -> String {
    OffsetDateTime::from(at).format(&Rfc2822).unwrap_or_else(|_| EPOCH.to_owned())
}

/// The current time in RFC 5322 form.
pub(crate) fn now() -> String {
    rfc5322(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn numeric_zone_never_gmt() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_964_851);
        assert_eq!(rfc5322(t), "Sun, 29 Nov 2026 15:07:31 +0000");
        assert_eq!(rfc5322(UNIX_EPOCH), EPOCH);
        assert!(now().ends_with(" +0000"), "{}", now());
    }

    #[test]
    fn out_of_range_is_not_a_panic() {
        let before_1900 = UNIX_EPOCH - Duration::from_secs(80 * 365 * 86_400);
        assert_eq!(rfc5322(before_1900), EPOCH);
    }
}
