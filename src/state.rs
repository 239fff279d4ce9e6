//! What sessions share, built from one configuration and swapped as a whole
//! on reload: a session keeps the `Arc<Shared>` it started with, so sessions
//! in progress finish under the old configuration and new ones get the new.

use std::sync::Arc;

use crate::config::Config;

/// Everything built from one configuration.
#[derive(Debug)]
pub struct Shared {
    /// The configuration itself.
    pub config: Arc<Config>,
}

impl Shared {
    /// Builds the shared state; fails if a part cannot be built from `config`.
    ///
    /// # Errors
    /// A message naming what could not be built.
    pub fn new(config: Config) -> Result<Self, String> {
        Ok(Self {
            config: Arc::new(config),
        })
    }
}
