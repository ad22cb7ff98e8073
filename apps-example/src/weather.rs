//! Keeps a summary of a sensor that is expensive to compute (a template rendered by Home
//! Assistant), cached with get-or-compute and a TTL.

use hassette_core::app::{App, AppContext, BoxError};
use serde::Deserialize;

/// Summarises a sensor, recomputing at most once per TTL.
#[derive(Debug)]
pub struct WeatherSummary {
    ctx: AppContext<Self>,
    config: WeatherSummaryConfig,
}

/// [`WeatherSummary`]'s settings.
#[derive(Debug, Deserialize)]
pub struct WeatherSummaryConfig {
    /// The temperature sensor to summarise.
    pub sensor: String,
    /// Seconds a computed summary stays fresh.
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
}

fn default_ttl() -> u64 {
    600
}

/// The sensor changed.
#[derive(Clone, Debug)]
pub struct SensorChanged;

impl App for WeatherSummary {
    type Config = WeatherSummaryConfig;
    type Message = SensorChanged;

    async fn initialize(
        config: WeatherSummaryConfig,
        ctx: AppContext<Self>,
    ) -> Result<Self, BoxError> {
        ctx.bus()
            .on_state_change(&config.sensor)
            .send(SensorChanged);
        Ok(Self { ctx, config })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, _: SensorChanged) -> Result<(), BoxError> {
        let api = self.api().clone();
        let template = format!("{{{{ states('{}') }}}}", self.config.sensor);
        let ttl = jiff::SignedDuration::from_secs(
            i64::try_from(self.config.ttl_secs).unwrap_or(i64::MAX),
        );
        let summary: String = self
            .cache()
            .get_or_compute("summary", Some(ttl), || async move {
                let now = api.render_template(&template, None).await?;
                Ok::<_, BoxError>(format!("outside: {now} °C"))
            })
            .await?;
        tracing::info!(summary, "weather summary");
        Ok(())
    }
}
