//! Turns a light on when a motion sensor trips, and off again once the sensor has been quiet
//! for a while.

use std::time::Duration;

use hassette_core::app::{App, AppContext, BoxError};
use serde::Deserialize;
use serde_json::json;

/// A motion-activated light: motion → light on; no motion for `off_after_secs` → light off.
#[derive(Debug)]
pub struct MotionLight {
    ctx: AppContext<Self>,
    config: MotionLightConfig,
}

/// [`MotionLight`]'s settings.
#[derive(Debug, Deserialize)]
pub struct MotionLightConfig {
    /// The motion sensor, e.g. `binary_sensor.hallway_motion`.
    pub sensor: String,
    /// The light to switch, e.g. `light.living_room`.
    pub light: String,
    /// Seconds without motion before the light goes off.
    #[serde(default = "default_off_after")]
    pub off_after_secs: u64,
    /// Brightness (0-255) to turn the light on at.
    #[serde(default)]
    pub brightness: Option<u8>,
}

fn default_off_after() -> u64 {
    120
}

/// What [`MotionLight`] reacts to.
#[derive(Clone, Debug)]
pub enum MotionMsg {
    /// The sensor saw motion.
    Motion,
    /// The sensor has been clear for `off_after_secs`.
    Quiet,
}

impl App for MotionLight {
    type Config = MotionLightConfig;
    type Message = MotionMsg;

    async fn initialize(
        config: MotionLightConfig,
        ctx: AppContext<Self>,
    ) -> Result<Self, BoxError> {
        let bus = ctx.bus();
        bus.on_state_change(&config.sensor)
            .to("on")
            .send(MotionMsg::Motion);
        // "off for N seconds": a new motion in between cancels the wait.
        bus.on_state_change(&config.sensor)
            .to("off")
            .duration(Duration::from_secs(config.off_after_secs))
            .send(MotionMsg::Quiet);
        tracing::info!(sensor = %config.sensor, light = %config.light, "watching for motion");
        Ok(Self { ctx, config })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, message: MotionMsg) -> Result<(), BoxError> {
        match message {
            MotionMsg::Motion => {
                let data = self.config.brightness.map(|b| json!({ "brightness": b }));
                self.api().turn_on(&self.config.light, data).await?;
                tracing::info!(light = %self.config.light, "motion: light on");
            }
            MotionMsg::Quiet => {
                self.api().turn_off(&self.config.light).await?;
                tracing::info!(light = %self.config.light, "no motion: light off");
            }
        }
        Ok(())
    }
}
