//! Counts how often an entity turned on, in the cache: the count survives restarts.

use hassette_core::prelude::*;
use serde::Deserialize;

/// A persistent counter. Run it as several instances: each keeps its count under its own
/// instance-scoped cache key (`<instance>:count`), in the one cache all instances share.
#[derive(Debug)]
pub struct Counter {
    key: String,
}

/// [`Counter`]'s settings.
#[derive(Debug, Deserialize)]
pub struct CounterConfig {
    /// The entity whose turning on is counted.
    pub entity: String,
}

impl App for Counter {
    type Config = CounterConfig;
    type Message = ();

    async fn initialize(config: CounterConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        let key = ctx.cache().scoped_key("count");
        let count: i64 = ctx.cache().get_or(&key, 0)?;
        tracing::info!(entity = %config.entity, count, "counter restored");
        ctx.bus().on(&config.entity).to("on").send(());
        Ok(Self { key })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, (): ()) -> Result<(), BoxError> {
        let count = ctx.cache().incr(&self.key, 1)?;
        tracing::info!(count, "counted");
        Ok(())
    }
}
