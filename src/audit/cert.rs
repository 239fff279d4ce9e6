//! A certificate as the audit needs it: names, validity, key size and
//! whether it signs itself, read from DER with `x509-parser`; and RFC 6125
//! name matching (one wildcard label at most, leftmost only). Pure: the
//! current time is an argument wherever it matters.

use std::net::IpAddr;

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

/// The facts of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// The subject, as text (`CN=mx.example.test`).
    pub subject: String,
    /// The issuer, as text.
    pub issuer: String,
    /// The subject's common names.
    pub common_names: Vec<String>,
    /// DNS names of the subjectAltName extension.
    pub dns_names: Vec<String>,
    /// IP addresses of the subjectAltName extension.
    pub ip_addresses: Vec<IpAddr>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// `RSA`, `EC`, `DSA` or `other`.
    pub key_type: &'static str,
    /// The key size in bits (0 if unknown).
    pub key_bits: usize,
    /// Issuer and subject are the same name.
    pub self_signed: bool,
}

/// Reads a DER certificate.
///
/// # Errors
/// The bytes are not an X.509 certificate; the message says why.
pub fn parse(der: &[u8]) -> Result<CertFacts, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let common_names = cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_owned).collect();
    let (mut dns_names, mut ip_addresses) = (Vec::new(), Vec::new());
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => dns_names.push((*n).to_owned()),
                GeneralName::IPAddress(bytes) => ip_addresses.extend(ip_from_bytes(bytes)),
                _ => {}
            }
        }
    }
    let (key_type, key_bits) = match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA", significant_bits(rsa.modulus)),
        Ok(key @ PublicKey::EC(_)) => ("EC", key.key_size()),
        Ok(key @ PublicKey::DSA(_)) => ("DSA", key.key_size()),
        _ => ("other", 0),
    };
    let validity = cert.validity();
    Ok(CertFacts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        common_names,
        dns_names,
        ip_addresses,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        key_type,
        key_bits,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
    })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// The bits of a big-endian unsigned integer, leading zeros skipped.
fn significant_bits(be: &[u8]) -> usize {
    let digits = be.iter().skip_while(|&&b| b == 0).collect::<Vec<_>>();
    match digits.first() {
        None => 0,
        Some(&&first) => digits.len() * 8 - first.leading_zeros() as usize,
    }
}

impl CertFacts {
    /// Whether the certificate is valid for `name` (a host name or an IP
    /// address). The common name counts only when there is no
    /// subjectAltName, as RFC 6125 6.4.4 allows.
    pub fn matches(&self, name: &str) -> bool {
        if let Ok(ip) = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return self.ip_addresses.contains(&ip);
        }
        let dns: &[String] = if self.dns_names.is_empty() { &self.common_names } else { &self.dns_names };
        dns.iter().any(|pattern| name_matches(pattern, name))
    }

    /// The names it carries, for evidence.
    pub fn names(&self) -> Vec<String> {
        let mut names = self.dns_names.clone();
        names.extend(self.ip_addresses.iter().map(IpAddr::to_string));
        if names.is_empty() {
            names.extend(self.common_names.iter().map(|cn| format!("CN={cn}")));
        }
        names
    }
}

/// RFC 6125 6.4.3: case-insensitive; `*` only as the whole leftmost label,
/// matching exactly one label.
fn name_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.trim_end_matches('.'), name.trim_end_matches('.'));
    match pattern.strip_prefix("*.") {
        Some(rest) => {
            name.split_once('.').is_some_and(|(label, tail)| !label.is_empty() && tail.eq_ignore_ascii_case(rest))
        }
        None => pattern.eq_ignore_ascii_case(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(dns: &[&str], cn: &[&str]) -> CertFacts {
        CertFacts {
            subject: String::new(),
            issuer: String::new(),
            common_names: cn.iter().map(|s| s.to_string()).collect(),
            dns_names: dns.iter().map(|s| s.to_string()).collect(),
            ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            not_before: 0,
            not_after: 0,
            key_type: "EC",
            key_bits: 256,
            self_signed: true,
        }
    }

    #[test]
    fn names_match_as_rfc_6125_says() {
        let f = facts(&["mx.example.test", "*.mail.example.test"], &["other.test"]);
        assert!(f.matches("MX.example.test") && f.matches("mx.example.test."));
        assert!(f.matches("a.mail.example.test"));
        assert!(!f.matches("a.b.mail.example.test") && !f.matches("mail.example.test"));
        assert!(!f.matches("other.test"), "the CN does not count next to a subjectAltName");
        assert!(f.matches("127.0.0.1") && !f.matches("127.0.0.2"));
        assert!(facts(&[], &["other.test"]).matches("other.test"));
    }

    #[test]
    fn reads_a_generated_certificate() {
        let mut params =
            rcgen::CertificateParams::new(vec!["mx.example.test".to_owned(), "127.0.0.1".to_owned()]).expect("params");
        params.not_before = rcgen::date_time_ymd(2001, 2, 3);
        params.not_after = rcgen::date_time_ymd(2002, 2, 3);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let f = parse(cert.der()).expect("parse");
        assert_eq!(f.dns_names, ["mx.example.test"]);
        assert_eq!(f.ip_addresses, ["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!((f.key_type, f.key_bits), ("EC", 256));
        assert_eq!(f.not_before, 981_158_400);
        assert_eq!(f.not_after, 1_012_694_400);
        assert!(f.self_signed);
        assert!(parse(b"garbage").is_err());
    }

    #[test]
    fn rsa_bits_skip_leading_zeros() {
        assert_eq!(significant_bits(&[0, 0x80, 0, 0]), 24);
        assert_eq!(significant_bits(&[0x01, 0xff]), 9);
        assert_eq!(significant_bits(&[0, 0]), 0);
    }
}
