//! Turns a light on when a motion sensor trips, and off again after a quiet period.

use hassette_core::app::App;
use serde::Deserialize;

/// A motion-activated light.
#[derive(Debug)]
pub struct MotionLight;

/// [`MotionLight`]'s settings.
#[derive(Debug, Deserialize)]
pub struct MotionLightConfig {
    /// The motion sensor, e.g. `binary_sensor.porch_motion`.
    pub sensor: String,
    /// The light to switch, e.g. `light.porch`.
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

impl App for MotionLight {
    type Config = MotionLightConfig;
}
