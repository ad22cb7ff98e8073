//! Runs the ceiling fan when it is warm outside, built on the typed module that
//! `hassette codegen --demo` generated (`ha.rs`): every entity here is a constant, so an
//! entity that disappears from Home Assistant breaks the build, not the house.

use hassette_core::domain::{Entity, Fan, Sensor};
use hassette_core::prelude::*;
use serde::Deserialize;

use crate::ha;

/// Turns `fan.ceiling` on (at a speed that grows with the heat) above `above` degrees, and off
/// again below it.
#[derive(Debug)]
pub struct ComfortFan {
    config: ComfortFanConfig,
    outside: Entity<Sensor>,
    fan: Entity<Fan>,
}

/// [`ComfortFan`]'s settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComfortFanConfig {
    /// The outside temperature above which the fan runs.
    pub above: f64,
}

impl App for ComfortFan {
    type Config = ComfortFanConfig;
    type Message = ();

    async fn initialize(
        config: ComfortFanConfig,
        ctx: &AppContext<Self>,
    ) -> Result<Self, BoxError> {
        let outside = ha::sensor::OUTSIDE_TEMPERATURE.bind(ctx);
        ctx.bus().on(&outside).send(());
        Ok(Self {
            config,
            outside,
            fan: ha::fan::CEILING.bind(ctx),
        })
    }

    async fn handle(&mut self, _: &AppContext<Self>, (): ()) -> Result<(), BoxError> {
        // `unavailable` or text is `None`: no reading, no change.
        let Some(reading) = self.outside.measurement() else {
            return Ok(());
        };
        let warm = reading.value > self.config.above;
        if warm {
            // 10 % per degree above the threshold, from 30 %.
            let excess = (reading.value - self.config.above).clamp(0.0, 7.0);
            let percentage = 30 + (excess * 10.0).round() as u8;
            if self.fan.percentage() != Some(percentage) || !self.fan.is_on() {
                self.fan.turn_on().percentage(percentage).await?;
                tracing::info!(%reading, percentage, "warm: fan on");
            }
        } else if self.fan.is_on() {
            self.fan.turn_off().await?;
            tracing::info!(%reading, "cool again: fan off");
        }
        Ok(())
    }
}
