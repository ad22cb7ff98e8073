//! Sends a notification when an entity turns on, at most once per cooldown: the cooldown is a
//! cache entry with a TTL (the seed's rate-limiting pattern), so it holds across restarts.

use hassette_core::prelude::*;
use serde::Deserialize;

/// A rate-limited notifier.
#[derive(Debug)]
pub struct Notifier {
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
    /// The least time between two notifications (`"5m"`).
    #[serde(default = "five_minutes", with = "hassette_core::duration")]
    pub cooldown: Duration,
}

fn default_service() -> String {
    "notify.notify".to_owned()
}

fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

impl App for Notifier {
    type Config = NotifierConfig;
    type Message = ();

    async fn initialize(config: NotifierConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on(&config.entity).to("on").send(());
        Ok(Self { config })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, (): ()) -> Result<(), BoxError> {
        let (cache, entity) = (ctx.cache(), &self.config.entity);
        let key = cache.scoped_key("last_notified");
        if cache.contains(&key)? {
            tracing::info!(entity = %entity, "cooling down: no notification");
            return Ok(());
        }
        let message = format!("{entity} turned on at {}", ctx.now().strftime("%H:%M:%S"));
        ctx.api()
            .call(&self.config.service)
            .data(json!({ "message": message }))
            .await?;
        cache.set_with_ttl(&key, &ctx.now().timestamp(), self.config.cooldown)?;
        tracing::info!(entity = %entity, "notified");
        Ok(())
    }
}
