//! HELO/EHLO policy and DNS configuration (issue: HELO/EHLO policy).
//! Placeholder: filled in by the HELO policy work.

use serde::{Deserialize, Serialize};

/// HELO/EHLO rules.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Helo {}

/// DNS resolver settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {}
