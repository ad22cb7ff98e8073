//! Logs a report of chosen entities at a fixed local time every day.

use hassette_core::prelude::*;
use serde::Deserialize;

/// A daily report at a local time of day (DST-safe).
#[derive(Debug)]
pub struct DailyReport {
    config: DailyReportConfig,
}

/// [`DailyReport`]'s settings.
#[derive(Debug, Deserialize)]
pub struct DailyReportConfig {
    /// Local time of day, e.g. `"21:30:00"`.
    pub at: jiff::civil::Time,
    /// Entities to include in the report.
    #[serde(default)]
    pub entities: Vec<String>,
    /// A notify service to send the report to (`notify.notify`); without one it is only logged.
    #[serde(default)]
    pub service: Option<String>,
}

impl App for DailyReport {
    type Config = DailyReportConfig;
    type Message = ();

    async fn initialize(
        config: DailyReportConfig,
        ctx: &AppContext<Self>,
    ) -> Result<Self, BoxError> {
        ctx.scheduler().run_daily(config.at, ())?;
        tracing::info!(at = %config.at, "daily report scheduled");
        Ok(Self { config })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, (): ()) -> Result<(), BoxError> {
        let lines: Vec<String> = (self.config.entities.iter())
            .map(|e| {
                format!(
                    "{e}={}",
                    ctx.states().state(e).as_deref().unwrap_or("unknown")
                )
            })
            .collect();
        let report = format!("{}: {}", ctx.now().date(), lines.join(", "));
        tracing::info!(report = %report, "daily report");
        if let Some(service) = &self.config.service {
            ctx.api()
                .call(service)
                .data(json!({ "message": report }))
                .await?;
        }
        Ok(())
    }
}
