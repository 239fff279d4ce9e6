//! Value types of the configuration with their own parsing rules.

use std::fmt;
use std::time::Duration;

use ipnet::IpNet;

use crate::wire::{Charset, domain_error};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::net::IpAddr;

/// The serde adapter of every duration in the configuration, written as
/// `5s`, `300ms`, `2m` or `1h 30m` (humantime syntax):
/// `#[serde(with = "duration")]` on a `Duration` field.
pub(crate) mod duration {
    use super::*;

    /// Writes `d` as humantime text (`5m 30s`).
    ///
    /// # Errors
    /// Only the serializer's own.
    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Reads humantime text.
    ///
    /// # Errors
    /// Text that is not a duration, with an example of one.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map_err(|e| de::Error::custom(format!("invalid duration {s:?} ({e}); write e.g. 5s, 300ms, 2m")))
    }
}

/// A host name in domain syntax (RFC 1035 letters, digits, hyphens; labels of
/// 1 to 63 octets; at most 253 octets in all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Hostname(String);

impl Hostname {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Validates `s` as a host name.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        match domain_error(s, Charset::Ldh) {
            None => Ok(Self(s.to_ascii_lowercase())),
            Some(why) => Err(format!("{s:?} is not a valid host name ({why})")),
        }
    }
}

impl From<Hostname> for String {
    fn from(h: Hostname) -> Self {
        h.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Hostname {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(de::Error::custom)
    }
}

/// Deserializes a list that must not be empty.
pub(crate) fn non_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let v = Vec::<T>::deserialize(d)?;
    if v.is_empty() { Err(de::Error::custom("must list at least one entry")) } else { Ok(v) }
}

/// Deserializes a count that must be at least 1.
pub(crate) fn positive<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default + PartialEq,
{
    let v = T::deserialize(d)?;
    if v == T::default() { Err(de::Error::custom("must be at least 1")) } else { Ok(v) }
}

/// A client network: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(pub IpNet);

impl Network {
    /// Parses CIDR notation or a single address.
    ///
    /// # Errors
    /// A message naming the bad value; host bits set after the prefix are an
    /// error (`10.0.0.1/8` is probably a typo for `10.0.0.0/8`).
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self(IpNet::from(ip)));
        }
        let net: IpNet =
            s.parse().map_err(|_| format!("{s:?} is not a network (write 192.0.2.0/24 or 2001:db8::/32)"))?;
        if net.trunc() != net {
            return Err(format!("{s:?} has host bits set after the prefix; did you mean {}?", net.trunc()));
        }
        Ok(Self(net))
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}
