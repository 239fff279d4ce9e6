//! Certificates for the audited servers, generated when the test runs with
//! validity relative to now (a test that passes today passes next year).

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use time::{Duration, OffsetDateTime};

/// A certificate and key written as PEM files.
pub(crate) struct CertFiles {
    /// The chain, leaf first.
    pub(crate) chain: PathBuf,
    pub(crate) key: PathBuf,
}

fn params(cn: &str, names: &[&str], valid_from_days: i64, valid_for_days: i64) -> CertificateParams {
    let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("names");
    p.distinguished_name.push(DnType::CommonName, cn);
    let now = OffsetDateTime::now_utc();
    p.not_before = now + Duration::days(valid_from_days);
    p.not_after = now + Duration::days(valid_from_days + valid_for_days);
    p
}

/// A leaf for `names`, valid from `from_days` (relative to now, may be
/// negative) for `days`; signed by a test CA (chain leaf + CA) or, with
/// `self_signed`, by itself. Written into `dir` as `<stem>.pem` and `<stem>.key`.
pub(crate) fn write(dir: &Path, stem: &str, names: &[&str], from_days: i64, days: i64, self_signed: bool) -> CertFiles {
    let key = KeyPair::generate().expect("key");
    let leaf = params(names[0], names, from_days, days);
    let pem = if self_signed {
        leaf.self_signed(&key).expect("self-signed certificate").pem()
    } else {
        let mut ca = params("doorman audit test CA", &[], -1, 3650);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().expect("CA key");
        let ca_pem = ca.self_signed(&ca_key).expect("CA certificate").pem();
        let issuer = Issuer::new(ca, ca_key);
        leaf.signed_by(&key, &issuer).expect("leaf certificate").pem() + &ca_pem
    };
    let files = CertFiles { chain: dir.join(format!("{stem}.pem")), key: dir.join(format!("{stem}.key")) };
    std::fs::write(&files.chain, pem).expect("write certificate");
    std::fs::write(&files.key, key.serialize_pem()).expect("write key");
    files
}
