//! Content scanner configuration (issue: content scanning).
//! Placeholder: filled in by the scanning work.

use serde::{Deserialize, Serialize};

/// Content scanners.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scanners {}
