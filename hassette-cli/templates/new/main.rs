//! Home Assistant apps, compiled into one binary with the whole `hassette` command line.

use std::process::ExitCode;

use hassette_core::prelude::*;
use serde::Deserialize;

/// Turns a light on when a motion sensor trips, counts the trips in the cache (the count
/// survives restarts) and logs a report on a timer.
pub struct MotionCounter {
    config: MotionCounterConfig,
}

/// One instance's `config` table in `hassette.toml`.
#[derive(Deserialize)]
pub struct MotionCounterConfig {
    /// The motion sensor, e.g. `binary_sensor.hallway_motion`.
    pub sensor: String,
    /// The light to turn on.
    pub light: String,
    /// How often to log the report: `"15s"`, `"1m"`, `"1h 30m"`.
    #[serde(with = "hassette_core::duration", default = "default_report_every")]
    pub report_every: Duration,
}

fn default_report_every() -> Duration {
    Duration::from_secs(60)
}

/// What the subscriptions and the timer deliver to `handle`.
#[derive(Clone)]
pub enum Msg {
    Motion,
    Report,
}

impl App for MotionCounter {
    type Config = MotionCounterConfig;
    type Message = Msg;

    async fn initialize(config: Self::Config, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on(&config.sensor).to("on").send(Msg::Motion);
        ctx.scheduler().run_every(config.report_every, Msg::Report)?;
        let motions: i64 = ctx.cache().get_or("motions", 0)?;
        tracing::info!(motions, sensor = %config.sensor, "motion counter started");
        Ok(Self { config })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, message: Msg) -> Result<(), BoxError> {
        match message {
            Msg::Motion => {
                let motions = ctx.cache().incr("motions", 1)?;
                tracing::info!(motions, light = %self.config.light, "motion: light on");
                ctx.api().turn_on(&self.config.light).await?;
            }
            Msg::Report => {
                let motions: i64 = ctx.cache().get_or("motions", 0)?;
                let reports = ctx.cache().incr("reports", 1)?;
                tracing::info!(motions, reports, "report");
            }
        }
        Ok(())
    }
}

/// Every app class this binary knows; `class_name` in `hassette.toml` picks one.
fn registry() -> AppRegistry {
    let mut apps = AppRegistry::new();
    apps.register::<MotionCounter>();
    apps
}

fn main() -> ExitCode {
    hassette_cli::main(registry())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hassette_core::testing::AppHarness;

    #[tokio::test(flavor = "multi_thread")]
    async fn motion_turns_the_light_on_and_is_counted() -> Result<(), String> {
        let h = AppHarness::<MotionCounter>::builder()
            .config(
                r#"sensor = "binary_sensor.hallway_motion"
                   light = "light.living_room""#,
            )
            .state("binary_sensor.hallway_motion", "off", None)
            .state("light.living_room", "off", None)
            .start()
            .await?;
        h.set_state("binary_sensor.hallway_motion", "on").await; // waits until handled
        h.set_state("binary_sensor.hallway_motion", "off").await;
        h.set_state("binary_sensor.hallway_motion", "on").await;
        let calls: Vec<_> = h.service_calls().iter().map(|c| c.service.clone()).collect();
        assert_eq!(calls, ["turn_on", "turn_on"]);
        let light = h.states().get("light.living_room").map(|s| s.state.clone());
        assert_eq!(light.as_deref(), Some("on"));
        let cache = h.cache();
        assert_eq!(cache.get::<i64>("motions").map_err(|e| e.to_string())?, Some(2));
        h.advance(Duration::from_secs(60)).await; // the report timer, on the test's clock
        assert_eq!(cache.get::<i64>("reports").map_err(|e| e.to_string())?, Some(1));
        h.stop().await;
        Ok(())
    }
}
