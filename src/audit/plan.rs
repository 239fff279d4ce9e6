//! What to probe and how: the target, the names and addresses the probes
//! send (checked, so no argument can smuggle a line break into a command),
//! and the limits.

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

use super::conn::Limits;
use super::transcript::{Surface, Users};
use crate::wire::{Charset, is_domain};

/// `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A name, an IPv4 address, or an IPv6 address without brackets.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Target {
    /// Parses `host:port`, `[v6]:port`, or a host alone (port 25).
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (host, port) = match s.strip_prefix('[') {
            Some(rest) => {
                let (host, after) = rest.split_once(']').ok_or_else(|| format!("{s:?}: missing `]`"))?;
                (host, after.strip_prefix(':').unwrap_or(if after.is_empty() { "25" } else { after }))
            }
            None => match s.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => return Err(format!("{s:?}: write an IPv6 address as [addr]:port")),
                Some((h, p)) => (h, p),
                None => (s, "25"),
            },
        };
        let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("{s:?}: bad port {port:?}"))?;
        let valid = host.parse::<IpAddr>().is_ok() || is_domain(host, Charset::Ldh);
        if !valid {
            return Err(format!("{s:?}: {host:?} is neither a host name nor an IP address"));
        }
        Ok(Self { host: host.to_owned(), port })
    }

    /// The address to connect to (`[::1]:25` for IPv6).
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The host is an IP address.
    pub fn is_ip(&self) -> bool {
        self.host.parse::<IpAddr>().is_ok()
    }
}

/// Everything the probes need.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server.
    pub target: Target,
    /// The name sent with EHLO/HELO.
    pub helo: String,
    /// The mail domain for VRFY/EXPN/RCPT; `None`: the name in the greeting.
    pub domain: Option<String>,
    /// A mailbox that exists, besides postmaster (local part or address).
    pub user: Option<String>,
    /// The name the certificate should carry; `None`: derived.
    pub tls_name: Option<String>,
    /// Time limits.
    pub limits: Limits,
    /// The random local part that surely does not exist.
    pub unknown_local: String,
}

/// Checks a name given on the command line.
///
/// # Errors
/// Not a domain; the message names the option.
pub fn check_domain(option: &str, value: &str) -> Result<(), String> {
    if is_domain(value, Charset::Ldh) { Ok(()) } else { Err(format!("{option} {value:?} is not a domain name")) }
}

/// Checks `--user`: a local part or an address without spaces, brackets
/// or control characters.
///
/// # Errors
/// A message naming the option.
pub fn check_user(value: &str) -> Result<(), String> {
    let ok =
        !value.is_empty() && value.len() <= 254 && value.bytes().all(|b| b.is_ascii_graphic() && !b"<>\"".contains(&b));
    if ok { Ok(()) } else { Err(format!("--user {value:?} is not a plain local part or address")) }
}

/// A local part that no server has: `doorman-audit-` and 12 random hex digits.
pub fn random_local_part() -> String {
    // RandomState is seeded from the OS's randomness for each process.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    format!("doorman-audit-{:012x}", h.finish() & 0xffff_ffff_ffff)
}

impl Plan {
    /// The domain for the user probes: `--domain`, else the first word of
    /// the greeting or the EHLO reply when it is a domain, else the target.
    pub fn domain(&self, surface: &Surface) -> String {
        if let Some(d) = &self.domain {
            return d.clone();
        }
        let first_word = |line: Option<String>| line.and_then(|t| t.split(' ').next().map(str::to_owned));
        let greeting = first_word(surface.greeting.lines.first().map(|l| l.text()));
        let ehlo = first_word(surface.ehlo_reply().and_then(|r| r.lines.first()).map(|l| l.text()));
        greeting.into_iter().chain(ehlo).find(|w| is_domain(w, Charset::Ldh) && w.contains('.')).unwrap_or_else(|| {
            if self.target.is_ip() { format!("[{}]", self.target.host) } else { self.target.host.clone() }
        })
    }

    /// The addresses for the user probes in `domain`.
    pub fn users(&self, domain: &str) -> Users {
        let mut known = vec![format!("postmaster@{domain}")];
        if let Some(user) = &self.user {
            known.push(if user.contains('@') { user.clone() } else { format!("{user}@{domain}") });
        }
        Users { known, unknown: format!("{}@{domain}", self.unknown_local) }
    }

    /// The name the certificate should carry.
    pub fn tls_name(&self, surface: &Surface) -> String {
        match &self.tls_name {
            Some(n) => n.clone(),
            None if !self.target.is_ip() => self.target.host.clone(),
            None => {
                let first = surface.greeting.lines.first().map(|l| l.text()).unwrap_or_default();
                let word = first.split(' ').next().unwrap_or_default().to_owned();
                if is_domain(&word, Charset::Ldh) && word.contains('.') { word } else { self.target.host.clone() }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(Target::parse("mx.example.com:2525").unwrap(), Target { host: "mx.example.com".into(), port: 2525 });
        assert_eq!(Target::parse("mx.example.com").unwrap().port, 25);
        let v6 = Target::parse("[::1]:10025").unwrap();
        assert_eq!((v6.host.as_str(), v6.addr().as_str()), ("::1", "[::1]:10025"));
        assert_eq!(Target::parse("127.0.0.1:25").unwrap().addr(), "127.0.0.1:25");
        for bad in ["::1:25", "mx:0", "mx:x", "a b:25", "[::1", "mx\r\nQUIT:25"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arguments_cannot_inject_commands() {
        assert!(check_user("alice").is_ok() && check_user("alice@example.test").is_ok());
        assert!(check_user("a\r\nRCPT").is_err() && check_user("a b").is_err() && check_user("<a>").is_err());
        assert!(check_domain("--domain", "example.test").is_ok());
        assert!(check_domain("--domain", "example.test\r\nDATA").is_err());
        let l = random_local_part();
        assert!(l.starts_with("doorman-audit-") && l.len() == 26, "{l}");
    }
}
