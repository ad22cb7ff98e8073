//! Logs a report of chosen entities at a fixed local time every day.

use hassette_core::app::{App, AppContext, BoxError};
use serde::Deserialize;

/// A daily report at a local time of day (DST-safe).
#[derive(Debug)]
pub struct DailyReport {
    ctx: AppContext<Self>,
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

/// It is time for the report.
#[derive(Clone, Debug)]
pub struct ReportTime;

impl App for DailyReport {
    type Config = DailyReportConfig;
    type Message = ReportTime;

    async fn initialize(
        config: DailyReportConfig,
        ctx: AppContext<Self>,
    ) -> Result<Self, BoxError> {
        ctx.scheduler().run_daily(config.at, ReportTime)?;
        tracing::info!(at = %config.at, "daily report scheduled");
        Ok(Self { ctx, config })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, _: ReportTime) -> Result<(), BoxError> {
        let lines: Vec<String> = self
            .config
            .entities
            .iter()
            .map(|e| {
                format!(
                    "{e}={}",
                    self.states()
                        .state(e)
                        .unwrap_or_else(|| "unknown".to_owned())
                )
            })
            .collect();
        let report = format!("{}: {}", self.now().date(), lines.join(", "));
        tracing::info!(report = %report, "daily report");
        if let Some((domain, service)) = self
            .config
            .service
            .as_deref()
            .and_then(|s| s.split_once('.'))
        {
            self.api()
                .call_service(
                    domain,
                    service,
                    Some(serde_json::json!({ "message": report })),
                    None,
                )
                .await?;
        }
        Ok(())
    }
}
