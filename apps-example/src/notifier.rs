//! Sends a notification when an entity turns on, at most once per cooldown: the cooldown is a
//! cache entry with a TTL (the seed's rate-limiting pattern), so it holds across restarts.

use std::time::Duration;

use hassette_core::app::{App, AppContext, BoxError};
use serde::Deserialize;
use serde_json::json;

/// A rate-limited notifier.
#[derive(Debug)]
pub struct Notifier {
    ctx: AppContext<Self>,
    config: NotifierConfig,
}

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

/// The entity turned on.
#[derive(Clone, Debug)]
pub struct Triggered;

impl App for Notifier {
    type Config = NotifierConfig;
    type Message = Triggered;

    async fn initialize(config: NotifierConfig, ctx: AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus()
            .on_state_change(&config.entity)
            .to("on")
            .send(Triggered);
        Ok(Self { ctx, config })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, _: Triggered) -> Result<(), BoxError> {
        let key = self.cache().scoped_key("last_notified");
        if self.cache().contains(&key)? {
            tracing::info!(entity = %self.config.entity, "cooling down: no notification");
            return Ok(());
        }
        let (domain, service) = self
            .config
            .service
            .split_once('.')
            .unwrap_or(("notify", "notify"));
        let message = format!(
            "{} turned on at {}",
            self.config.entity,
            self.now().strftime("%H:%M:%S")
        );
        self.api()
            .call_service(domain, service, Some(json!({ "message": message })), None)
            .await?;
        self.cache().set_with_ttl(
            &key,
            &self.now().timestamp(),
            Duration::from_secs(self.config.cooldown_secs),
        )?;
        tracing::info!(entity = %self.config.entity, "notified");
        Ok(())
    }
}
