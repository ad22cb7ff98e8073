//! Logs a report of the day at a fixed local time.

use hassette_core::app::App;
use serde::Deserialize;

/// A daily report at a local time of day.
#[derive(Debug)]
pub struct DailyReport;

/// [`DailyReport`]'s settings.
#[derive(Debug, Deserialize)]
pub struct DailyReportConfig {
    /// Local time of day, e.g. `"21:30"`.
    pub at: jiff::civil::Time,
    /// Entities to include in the report.
    #[serde(default)]
    pub entities: Vec<String>,
}

impl App for DailyReport {
    type Config = DailyReportConfig;
}
