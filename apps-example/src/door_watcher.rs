//! Logs every door change. Never touches its cache, so no cache directory appears for it.

use hassette_core::app::App;
use serde::Deserialize;

/// Logs door changes; keeps no state.
#[derive(Debug)]
pub struct DoorWatcher;

/// [`DoorWatcher`]'s settings.
#[derive(Debug, Deserialize)]
pub struct DoorWatcherConfig {
    /// The doors to watch.
    pub doors: Vec<String>,
}

impl App for DoorWatcher {
    type Config = DoorWatcherConfig;
}
