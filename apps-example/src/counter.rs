//! Counts how often an entity turned on, in the cache, across restarts.

use hassette_core::app::App;
use serde::Deserialize;

/// A persistent counter; run it as several instances with instance-scoped cache keys.
#[derive(Debug)]
pub struct Counter;

/// [`Counter`]'s settings.
#[derive(Debug, Deserialize)]
pub struct CounterConfig {
    /// The entity whose turning on is counted.
    pub entity: String,
}

impl App for Counter {
    type Config = CounterConfig;
}
