//! The known keys of `hassette.toml` and the parsing of the value kinds they take.

use std::time::Duration;

/// The kind of value a setting takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Bool,
    /// A non-negative integer.
    Count,
    /// Bytes: an integer, or a string with a unit (`"100 MiB"`).
    Size,
    /// A duration: seconds as a number, or a string (`"500ms"`, `"1s"`, `"2m"`).
    Duration,
    Path,
    Url,
    Table,
}

impl Kind {
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Bool => "a boolean (true or false)",
            Kind::Count => "a whole number",
            Kind::Size => "a size in bytes (an integer, or a string such as \"100 MiB\")",
            Kind::Duration => "a duration (seconds, or a string such as \"500ms\", \"1s\", \"2m\")",
            Kind::Path => "a path (a string)",
            Kind::Url => "a URL (a string such as \"http://homeassistant.local:8123\")",
            Kind::Table => "a table",
        }
    }
}

/// Every key of the `[hassette]` table.
pub(crate) const HASSETTE_KEYS: &[(&str, Kind)] = &[
    ("base_url", Kind::Url),
    ("token", Kind::Str),
    ("token_file", Kind::Path),
    ("verify_ssl", Kind::Bool),
    ("data_dir", Kind::Path),
    ("default_cache_size", Kind::Size),
    ("mailbox_budget", Kind::Size),
    ("cache_flush_interval", Kind::Duration),
    ("cache_memory_budget", Kind::Size),
    ("log_level", Kind::Str),
    ("log_retention_days", Kind::Count),
    ("log_max_size", Kind::Size),
    ("command_timeout", Kind::Duration),
    ("heartbeat_interval", Kind::Duration),
    ("heartbeat_timeout", Kind::Duration),
    ("reconnect_initial_delay", Kind::Duration),
    ("reconnect_max_delay", Kind::Duration),
    ("app_startup_timeout", Kind::Duration),
    ("app_shutdown_timeout", Kind::Duration),
    ("web", Kind::Table),
    ("apps", Kind::Table),
];

/// Every key of an `[hassette.apps.<key>]` table.
pub(crate) const APP_KEYS: &[(&str, Kind)] = &[
    ("class_name", Kind::Str),
    ("enabled", Kind::Bool),
    ("cache_size", Kind::Size),
    ("mailbox_budget", Kind::Size),
    ("config", Kind::Table),
    ("log_level", Kind::Str),
    ("restart", Kind::Str),
    ("max_restarts", Kind::Count),
    ("restart_window", Kind::Duration),
    ("restart_delay", Kind::Duration),
];

/// How a TOML value's type is named in errors.
pub(crate) fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("the string {s:?}"),
        toml::Value::Integer(i) => format!("the integer {i}"),
        toml::Value::Float(f) => format!("the float {f}"),
        toml::Value::Boolean(b) => format!("the boolean {b}"),
        toml::Value::Datetime(d) => format!("the date-time {d}"),
        toml::Value::Array(_) => "an array".to_owned(),
        toml::Value::Table(_) => "a table".to_owned(),
    }
}

/// Parses a byte size: `1048576`, `"100 MiB"`, `"512KiB"`, `"1GB"`, `"2048 B"`.
///
/// Binary units (KiB, MiB, GiB) are powers of 1024; decimal units (KB, MB, GB) powers of 1000.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{text:?} is not a size; use bytes or a unit, e.g. \"100 MiB\""))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    let bytes = (number * factor).round();
    if !bytes.is_finite() || !(0.0..=1e18).contains(&bytes) {
        return Err(format!("{text:?} is out of range"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes as u64)
}

/// Parses a duration: `"500ms"`, `"1s"`, `"2m"`, `"1h 30m"`, or jiff's ISO 8601 form (`"PT1S"`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; use e.g. \"500ms\", \"1s\", \"2m\""))?;
    Duration::try_from(parsed).map_err(|_| format!("{text:?} must not be negative"))
}

/// A duration given as a number of seconds.
pub(crate) fn duration_from_secs(secs: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("{secs} is not a valid number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("100 MiB"), Ok(104_857_600));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("2 MB"), Ok(2_000_000));
        assert!(
            parse_size("10 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
