//! Counts how often an entity turned on, in the cache: the count survives restarts.

use hassette_core::app::{App, AppContext, BoxError};
use serde::Deserialize;

/// A persistent counter. Run it as several instances: each keeps its count under its own
/// instance-scoped cache key (`<instance>:count`), in the one cache all instances share.
#[derive(Debug)]
pub struct Counter {
    ctx: AppContext<Self>,
    key: String,
}

/// [`Counter`]'s settings.
#[derive(Debug, Deserialize)]
pub struct CounterConfig {
    /// The entity whose turning on is counted.
    pub entity: String,
}

/// The entity turned on.
#[derive(Clone, Debug)]
pub struct TurnedOn;

impl App for Counter {
    type Config = CounterConfig;
    type Message = TurnedOn;

    async fn initialize(config: CounterConfig, ctx: AppContext<Self>) -> Result<Self, BoxError> {
        let key = ctx.cache().scoped_key("count");
        let count: i64 = ctx.cache().get_or(&key, 0)?;
        tracing::info!(entity = %config.entity, count, "counter restored");
        ctx.bus()
            .on_state_change(&config.entity)
            .to("on")
            .send(TurnedOn);
        Ok(Self { ctx, key })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, _: TurnedOn) -> Result<(), BoxError> {
        let count = self.cache().incr(&self.key, 1)?;
        tracing::info!(count, "counted");
        Ok(())
    }
}
