//! Validation of MAIL and RCPT parameters against what doorman advertised.
//! Only parameters of advertised extensions pass, each syntax-checked, so the
//! upstream never receives a parameter the proxy did not understand.

use super::command::Param;
use super::ehlo::Advertised;

/// Why a parameter is refused; each maps to one reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// The parameter belongs to no advertised extension (`555 5.5.4`).
    #[error("unsupported parameter {0}")]
    Unsupported(String),
    /// Known parameter, malformed value (`501 5.5.4`).
    #[error("bad value for parameter {0}")]
    BadValue(String),
    /// SIZE declares more than the advertised limit (`552 5.3.4`).
    #[error("declared size exceeds the limit")]
    TooBig,
}

/// Checks MAIL FROM parameters; returns whether SMTPUTF8 was requested.
///
/// # Errors
/// The first refused parameter.
pub fn check_mail(params: &[Param], adv: &Advertised) -> Result<bool, ParamError> {
    let mut utf8 = false;
    for p in params {
        let value = p.value.as_deref();
        let ok = match (p.keyword.as_str(), value) {
            ("SIZE", Some(v)) if adv.has("SIZE") => {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    false
                } else if v.parse::<u64>().map_or(true, |n| n > adv.size) {
                    return Err(ParamError::TooBig);
                } else {
                    true
                }
            }
            ("BODY", Some(v)) if adv.has("8BITMIME") || adv.has("BINARYMIME") => {
                let v = v.to_ascii_uppercase();
                v == "7BIT" || adv.has(&v) && matches!(v.as_str(), "8BITMIME" | "BINARYMIME")
            }
            ("SMTPUTF8", None) if adv.has("SMTPUTF8") => {
                utf8 = true;
                true
            }
            ("RET", Some(v)) if adv.has("DSN") => v.eq_ignore_ascii_case("FULL") || v.eq_ignore_ascii_case("HDRS"),
            ("ENVID", Some(v)) if adv.has("DSN") => v.len() <= 100 && is_xtext(v),
            ("AUTH", Some(v)) if adv.has("AUTH") => v == "<>" || is_xtext(v),
            (k, _) if is_passed(k, adv) => true,
            _ => return Err(ParamError::Unsupported(p.keyword.clone())),
        };
        if !ok {
            return Err(ParamError::BadValue(p.keyword.clone()));
        }
    }
    Ok(utf8)
}

/// Checks RCPT TO parameters.
///
/// # Errors
/// The first refused parameter.
pub fn check_rcpt(params: &[Param], adv: &Advertised) -> Result<(), ParamError> {
    for p in params {
        let ok = match (p.keyword.as_str(), p.value.as_deref()) {
            ("NOTIFY", Some(v)) if adv.has("DSN") => valid_notify(v),
            ("ORCPT", Some(v)) if adv.has("DSN") => {
                v.len() <= 500 && v.split_once(';').is_some_and(|(t, a)| !t.is_empty() && is_xtext(a))
            }
            (k, _) if is_passed(k, adv) => true,
            _ => return Err(ParamError::Unsupported(p.keyword.clone())),
        };
        if !ok {
            return Err(ParamError::BadValue(p.keyword.clone()));
        }
    }
    Ok(())
}

/// Keywords outside the built-in set that were advertised (operator's pass list).
fn is_passed(keyword: &str, adv: &Advertised) -> bool {
    !matches!(keyword, "SIZE" | "BODY" | "SMTPUTF8" | "RET" | "ENVID" | "AUTH" | "NOTIFY" | "ORCPT") && adv.has(keyword)
}

fn valid_notify(v: &str) -> bool {
    let upper = v.to_ascii_uppercase();
    upper == "NEVER" || upper.split(',').all(|w| matches!(w, "SUCCESS" | "FAILURE" | "DELAY"))
}

/// RFC 3461 xtext: printable ASCII except `+` and `=`, or `+XX` hex escapes.
fn is_xtext(v: &str) -> bool {
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c));
                if !(hex(b.get(i + 1)) && hex(b.get(i + 2))) {
                    return false;
                }
                i += 3;
            }
            33..=126 if b[i] != b'=' => i += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(keywords: &[&str]) -> Advertised {
        Advertised { size: 1000, keywords: keywords.iter().map(|s| s.to_string()).collect() }
    }

    fn p(k: &str, v: Option<&str>) -> Param {
        Param { keyword: k.into(), value: v.map(Into::into) }
    }

    #[test]
    fn size_checks() {
        let a = adv(&["SIZE"]);
        assert_eq!(check_mail(&[p("SIZE", Some("1000"))], &a), Ok(false));
        assert_eq!(check_mail(&[p("SIZE", Some("1001"))], &a), Err(ParamError::TooBig));
        assert_eq!(check_mail(&[p("SIZE", Some("99999999999999999999999"))], &a), Err(ParamError::TooBig));
        assert_eq!(check_mail(&[p("SIZE", Some("abc"))], &a), Err(ParamError::BadValue("SIZE".into())));
    }

    #[test]
    fn only_advertised_extensions_pass() {
        let a = adv(&["SIZE", "8BITMIME", "DSN", "SMTPUTF8"]);
        assert_eq!(check_mail(&[p("BODY", Some("8BITMIME")), p("SMTPUTF8", None)], &a), Ok(true));
        assert_eq!(check_mail(&[p("BODY", Some("BINARYMIME"))], &a), Err(ParamError::BadValue("BODY".into())));
        let binary = adv(&["SIZE", "8BITMIME", "CHUNKING", "BINARYMIME"]);
        assert_eq!(check_mail(&[p("BODY", Some("binarymime"))], &binary), Ok(false));
        assert_eq!(check_mail(&[p("BODY", Some("CHUNKING"))], &binary), Err(ParamError::BadValue("BODY".into())));
        assert_eq!(check_mail(&[p("FOO", Some("bar"))], &a), Err(ParamError::Unsupported("FOO".into())));
        assert_eq!(check_mail(&[p("AUTH", Some("<>"))], &a), Err(ParamError::Unsupported("AUTH".into())));
        assert_eq!(check_mail(&[p("ENVID", Some("+ZZ"))], &a), Err(ParamError::BadValue("ENVID".into())));
        assert_eq!(check_mail(&[p("ENVID", Some("abc+2Bdef"))], &a), Ok(false));
        assert_eq!(check_rcpt(&[p("NOTIFY", Some("SUCCESS,FAILURE"))], &a), Ok(()));
        assert_eq!(check_rcpt(&[p("NOTIFY", Some("NEVER,SUCCESS"))], &a), Err(ParamError::BadValue("NOTIFY".into())));
        assert_eq!(check_rcpt(&[p("ORCPT", Some("rfc822;a@b"))], &a), Ok(()));
        let no_dsn = adv(&["SIZE"]);
        assert_eq!(check_rcpt(&[p("NOTIFY", Some("NEVER"))], &no_dsn), Err(ParamError::Unsupported("NOTIFY".into())));
        assert_eq!(check_mail(&[p("X-FOO", None)], &adv(&["X-FOO"])), Ok(false));
    }
}
