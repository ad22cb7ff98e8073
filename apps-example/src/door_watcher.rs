//! Logs every door change. Never touches its cache, so no cache directory appears for it.

use hassette_core::prelude::*;
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
    type Message = Arc<StateChanged>;

    async fn initialize(
        config: DoorWatcherConfig,
        ctx: &AppContext<Self>,
    ) -> Result<Self, BoxError> {
        ctx.bus().on(config.doors).send_with(|change| change);
        Ok(Self)
    }

    async fn handle(
        &mut self,
        _: &AppContext<Self>,
        change: Arc<StateChanged>,
    ) -> Result<(), BoxError> {
        let verb = match change
            .new_state
            .as_ref()
            .map_or("gone", |s| s.state.as_str())
        {
            "on" | "open" => "opened",
            "off" | "closed" => "closed",
            other => other,
        };
        tracing::info!(door = %change.entity_id, "door {verb}");
        Ok(())
    }
}
