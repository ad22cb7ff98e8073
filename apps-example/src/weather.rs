//! Keeps a summary of a sensor that is expensive to compute (a template rendered by Home
//! Assistant), cached with get-or-compute and a TTL.

use hassette_core::domain::{EntityId, Sensor};
use hassette_core::prelude::*;
use serde::Deserialize;

/// Summarises a sensor, recomputing at most once per TTL.
#[derive(Debug)]
pub struct WeatherSummary {
    config: WeatherSummaryConfig,
}

/// [`WeatherSummary`]'s settings.
#[derive(Debug, Deserialize)]
pub struct WeatherSummaryConfig {
    /// The temperature sensor to summarise.
    pub sensor: EntityId<Sensor>,
    /// How long a computed summary stays fresh (`"10m"`).
    #[serde(default = "ten_minutes", with = "hassette_core::duration")]
    pub ttl: Duration,
}

fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}

impl App for WeatherSummary {
    type Config = WeatherSummaryConfig;
    type Message = ();

    async fn initialize(
        config: WeatherSummaryConfig,
        ctx: &AppContext<Self>,
    ) -> Result<Self, BoxError> {
        ctx.bus().on(&config.sensor).send(());
        Ok(Self { config })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, (): ()) -> Result<(), BoxError> {
        let template = format!("{{{{ states('{}') }}}}", self.config.sensor);
        let summary: String = (ctx.cache())
            .get_or_compute("summary", Some(self.config.ttl), || async {
                let now = ctx.api().render_template(&template, None).await?;
                // The unit comes from the sensor's typed state, not a guess.
                let unit = self.config.sensor.bind(ctx).unit().unwrap_or_default();
                Ok::<_, BoxError>(format!("outside: {now} {unit}").trim_end().to_owned())
            })
            .await?;
        tracing::info!(summary, "weather summary");
        Ok(())
    }
}
