//! Caches an expensive summary (a rendered template) with get-or-compute and a TTL.

use hassette_core::app::App;
use serde::Deserialize;

/// Summarises a sensor, recomputing at most once per TTL.
#[derive(Debug)]
pub struct WeatherSummary;

/// [`WeatherSummary`]'s settings.
#[derive(Debug, Deserialize)]
pub struct WeatherSummaryConfig {
    /// The temperature sensor to summarise.
    pub sensor: String,
    /// Seconds a computed summary stays fresh.
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
}

fn default_ttl() -> u64 {
    600
}

impl App for WeatherSummary {
    type Config = WeatherSummaryConfig;
}
