//! Sends a notification when a door opens, at most once per cooldown (a cache TTL).

use hassette_core::app::App;
use serde::Deserialize;

/// A rate-limited notifier.
#[derive(Debug)]
pub struct Notifier;

/// [`Notifier`]'s settings.
#[derive(Debug, Deserialize)]
pub struct NotifierConfig {
    /// The entity that triggers the notification.
    pub entity: String,
    /// The notify service, e.g. `notify.mobile_app_phone`.
    #[serde(default = "default_service")]
    pub service: String,
    /// Minimum seconds between two notifications.
    #[serde(default = "default_cooldown")]
    pub cooldown_secs: u64,
}

fn default_service() -> String {
    "notify.notify".to_owned()
}

fn default_cooldown() -> u64 {
    300
}

impl App for Notifier {
    type Config = NotifierConfig;
}
