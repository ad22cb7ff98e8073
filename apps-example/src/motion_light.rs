//! Turns a light on when a motion sensor trips, and off again once the sensor has been quiet
//! for a while.

use hassette_core::prelude::*;
use serde::Deserialize;

/// A motion-activated light: motion → light on; no motion for `off_after` → light off.
#[derive(Debug)]
pub struct MotionLight {
    config: MotionLightConfig,
}

/// [`MotionLight`]'s settings.
#[derive(Debug, Deserialize)]
pub struct MotionLightConfig {
    /// The motion sensor, e.g. `binary_sensor.hallway_motion`.
    pub sensor: String,
    /// The light to switch, e.g. `light.living_room`.
    pub light: String,
    /// How long without motion before the light goes off (`"2m"`).
    #[serde(default = "two_minutes", with = "hassette_core::duration")]
    pub off_after: Duration,
    /// Brightness (0-255) to turn the light on at.
    #[serde(default)]
    pub brightness: Option<u8>,
}

fn two_minutes() -> Duration {
    Duration::from_secs(120)
}

/// What [`MotionLight`] reacts to.
#[derive(Clone, Debug)]
pub enum MotionMsg {
    /// The sensor saw motion.
    Motion,
    /// The sensor has been clear for `off_after`.
    Quiet,
}

impl App for MotionLight {
    type Config = MotionLightConfig;
    type Message = MotionMsg;

    async fn initialize(
        config: MotionLightConfig,
        ctx: &AppContext<Self>,
    ) -> Result<Self, BoxError> {
        ctx.bus()
            .on(&config.sensor)
            .to("on")
            .send(MotionMsg::Motion);
        // "off for N minutes", counted from the sensor's last change: it holds across a restart.
        (ctx.bus()
            .on(&config.sensor)
            .to("off")
            .duration(config.off_after)
            .immediate())
        .send(MotionMsg::Quiet);
        tracing::info!(sensor = %config.sensor, light = %config.light, "watching for motion");
        Ok(Self { config })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, message: MotionMsg) -> Result<(), BoxError> {
        let light = &self.config.light;
        match message {
            MotionMsg::Motion => {
                let brightness = self.config.brightness.map(|b| json!({ "brightness": b }));
                ctx.api().turn_on(light).data(brightness).await?;
                tracing::info!(light = %light, "motion: light on");
            }
            MotionMsg::Quiet => {
                ctx.api().turn_off(light).await?;
                tracing::info!(light = %light, "no motion: light off");
            }
        }
        Ok(())
    }
}
