//! What a TLS session negotiated, in the words Postfix uses in its
//! `Received:` header: `using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384
//! (256/256 bits) key-exchange X25519MLKEM768`. doorman's own `Received:`
//! header carries it, since the MTA behind doorman never sees the TLS.

use tokio_rustls::rustls::{CipherSuite, CommonState, NamedGroup, ProtocolVersion};

/// The protocol version, cipher and key exchange of a TLS session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsSummary {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: &'static str,
    /// The cipher as OpenSSL (and so Postfix) names it.
    pub cipher: &'static str,
    /// Secret bits of the cipher's key.
    pub bits: u16,
    /// The key exchange group, e.g. `X25519MLKEM768`.
    pub group: Option<&'static str>,
}

impl TlsSummary {
    /// The summary of an established session; `None` before the handshake
    /// finished.
    #[must_use]
    pub fn of(conn: &CommonState) -> Option<Self> {
        let version = match conn.protocol_version()? {
            ProtocolVersion::TLSv1_3 => "TLSv1.3",
            ProtocolVersion::TLSv1_2 => "TLSv1.2",
            _ => "TLS",
        };
        let (cipher, bits) = cipher_name(conn.negotiated_cipher_suite()?.suite());
        let group = conn.negotiated_key_exchange_group().map(|g| group_name(g.name()));
        Some(Self { version, cipher, bits, group })
    }
}

impl std::fmt::Display for TlsSummary {
    /// `using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
    /// key-exchange X25519MLKEM768`, on one line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { version, cipher, bits, group } = self;
        write!(f, "using {version} with cipher {cipher} ({bits}/{bits} bits)")?;
        match group {
            Some(group) => write!(f, " key-exchange {group}"),
            None => Ok(()),
        }
    }
}

/// OpenSSL's name and the key bits of every suite doorman's provider has.
fn cipher_name(suite: CipherSuite) -> (&'static str, u16) {
    match suite {
        CipherSuite::TLS13_AES_256_GCM_SHA384 => ("TLS_AES_256_GCM_SHA384", 256),
        CipherSuite::TLS13_AES_128_GCM_SHA256 => ("TLS_AES_128_GCM_SHA256", 128),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => ("TLS_CHACHA20_POLY1305_SHA256", 256),
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => ("ECDHE-ECDSA-AES256-GCM-SHA384", 256),
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => ("ECDHE-ECDSA-AES128-GCM-SHA256", 128),
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => ("ECDHE-ECDSA-CHACHA20-POLY1305", 256),
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => ("ECDHE-RSA-AES256-GCM-SHA384", 256),
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => ("ECDHE-RSA-AES128-GCM-SHA256", 128),
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => ("ECDHE-RSA-CHACHA20-POLY1305", 256),
        other => (other.as_str().unwrap_or("unknown"), 0),
    }
}

fn group_name(group: NamedGroup) -> &'static str {
    match group {
        NamedGroup::X25519MLKEM768 => "X25519MLKEM768",
        NamedGroup::X25519 => "X25519",
        NamedGroup::secp256r1 => "secp256r1",
        NamedGroup::secp384r1 => "secp384r1",
        other => other.as_str().unwrap_or("unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_postfix_writes_it() {
        let s = TlsSummary {
            version: "TLSv1.3",
            cipher: "TLS_AES_256_GCM_SHA384",
            bits: 256,
            group: Some("X25519MLKEM768"),
        };
        assert_eq!(
            s.to_string(),
            "using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519MLKEM768"
        );
        assert_eq!(cipher_name(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256), ("TLS_CHACHA20_POLY1305_SHA256", 256));
        assert_eq!(
            cipher_name(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            ("ECDHE-RSA-AES128-GCM-SHA256", 128)
        );
        assert_eq!(group_name(NamedGroup::secp384r1), "secp384r1");
    }

    /// Every suite and group of doorman's provider has its own name.
    #[test]
    fn every_provider_suite_and_group_is_named() {
        let provider = crate::tls::provider();
        for suite in &provider.cipher_suites {
            let (name, bits) = cipher_name(suite.suite());
            assert!(bits >= 128 && name != "unknown" && !name.contains("WITH"), "{:?}", suite.suite());
        }
        for group in &provider.kx_groups {
            assert_ne!(group_name(group.name()), "unknown");
        }
    }
}
