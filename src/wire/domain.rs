//! Domain syntax, in one place: our own names (configuration, banner), the
//! HELO/EHLO argument, and the domain of an envelope address. A domain is
//! dot-separated labels of 1 to 63 octets that neither start nor end with a
//! hyphen, at most 255 octets in all (RFC 5321 4.5.3.1.2, RFC 1035 2.3.4);
//! what a label may contain depends on who wrote it ([`Charset`]).

pub use super::limits::DOMAIN_MAX;

/// The longest label (RFC 1035 2.3.4).
pub const LABEL_MAX: usize = 63;

/// What a label may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Letters, digits and hyphens (RFC 1035): names doorman itself uses.
    Ldh,
    /// Also underscores, as real clients write them (Windows machine names
    /// such as `DESKTOP_7` in HELO; Postfix accepts them too).
    Underscore,
    /// Also any non-ASCII letter or digit (an internationalized domain in an
    /// SMTPUTF8 address).
    Utf8,
}

impl Charset {
    fn allows(self, c: char) -> bool {
        c.is_ascii_alphanumeric()
            || c == '-'
            || (self != Self::Ldh && c == '_')
            || (self == Self::Utf8 && !c.is_ascii() && c.is_alphanumeric())
    }
}

/// Why `name` is not a domain, or `None` if it is one.
pub fn domain_error(name: &str, charset: Charset) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name.len() > DOMAIN_MAX {
        return Some("longer than 255 octets");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some("empty label");
        }
        if label.len() > LABEL_MAX {
            return Some("label longer than 63 octets");
        }
        if !label.chars().all(|c| charset.allows(c)) {
            return Some("character not allowed in a host name");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some("label starts or ends with a hyphen");
        }
    }
    None
}

/// `name` is a domain in `charset`.
pub fn is_domain(name: &str, charset: Charset) -> bool {
    domain_error(name, charset).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_charsets() {
        for ok in ["mx.example.test", "a", "a-b.c", "xn--mnchen-3ya.example", &"a".repeat(63)] {
            assert!(is_domain(ok, Charset::Ldh), "{ok}");
        }
        let long = format!("{}.example", "a".repeat(64));
        for (bad, why) in [
            ("", "empty name"),
            ("a..b", "empty label"),
            (".a", "empty label"),
            ("-a.example", "label starts or ends with a hyphen"),
            ("a-.example", "label starts or ends with a hyphen"),
            (long.as_str(), "label longer than 63 octets"),
            ("a b", "character not allowed in a host name"),
            ("a(b)", "character not allowed in a host name"),
        ] {
            assert_eq!(domain_error(bad, Charset::Utf8), Some(why), "{bad}");
        }
        assert_eq!(domain_error(&"a.".repeat(130), Charset::Ldh), Some("longer than 255 octets"));
        assert!(!is_domain("DESKTOP_7", Charset::Ldh) && is_domain("DESKTOP_7", Charset::Underscore));
        assert!(!is_domain("münchen.example", Charset::Underscore) && is_domain("münchen.example", Charset::Utf8));
    }
}
