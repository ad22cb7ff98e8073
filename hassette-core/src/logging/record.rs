//! One log record as stored: a JSON object on one line.

use serde::{Deserialize, Serialize};

/// A stored log record. The store holds one per line, as JSON, in this shape:
///
/// ```json
/// {"ts":"2026-11-21T10:00:00.123456Z","level":"INFO","target":"apps_example::motion_light",
///  "app":"porch_light","class":"MotionLight","instance":"porch","component":"app",
///  "msg":"motion: light on","fields":{"entity":"light.porch"}}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// When it was logged.
    pub ts: jiff::Timestamp,
    /// `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR`.
    pub level: String,
    /// The `tracing` target (the module that logged it).
    pub target: String,
    /// The app key, for records logged by or on behalf of an app instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The app class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// The app instance name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The framework component: `ha`, `bus`, `scheduler`, `cache`, `runtime`, `config`, or
    /// `app` for the app's own records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// The message.
    pub msg: String,
    /// The other fields of the event.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Log levels by severity, least severe first.
pub(crate) const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// The severity rank of a level name (`warning` is `WARN`), or `None`.
pub(crate) fn level_rank(level: &str) -> Option<usize> {
    let upper = level.trim().to_ascii_uppercase();
    let upper = if upper == "WARNING" {
        "WARN".to_owned()
    } else {
        upper
    };
    LEVELS.iter().position(|l| *l == upper)
}
