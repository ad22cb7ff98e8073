//! Counts how often an entity turned on, in the cache: the count survives restarts.

use hassette_core::app::{App, AppContext, BoxError};
use serde::Deserialize;

/// A persistent counter. Run it as several instances: each keeps its count under its own
/// instance-scoped cache key (`<instance>:count`), in the one cache all instances share.
#[derive(Debug)]
pub struct Counter {
    ctx: AppContext<Self>,
    count: i64,
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
        tracing::info!(entity = %config.entity, "counting");
        ctx.bus()
            .on_state_change(&config.entity)
            .to("on")
            .send(TurnedOn);
        Ok(Self { ctx, count: 0 })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, _: TurnedOn) -> Result<(), BoxError> {
        self.count += 1;
        tracing::info!(count = self.count, "counted");
        Ok(())
    }
}
