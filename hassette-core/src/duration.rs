//! Durations in app configs: `#[serde(with = "hassette_core::duration")]` reads `"2m"`,
//! `"1h 30m"`, `"500ms"` or a number of seconds (`90`, `2.5`) into a `std::time::Duration`.
//!
//! `std::time::Duration` is the one duration type of the crate's API: TTLs, timers, filters.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! #[derive(serde::Deserialize)]
//! struct Config {
//!     #[serde(with = "hassette_core::duration")]
//!     off_after: Duration,
//!     #[serde(default, with = "hassette_core::duration::option")]
//!     cooldown: Option<Duration>,
//! }
//!
//! let c: Config = toml::from_str(r#"off_after = "2m""#).unwrap();
//! assert_eq!(c.off_after, Duration::from_secs(120));
//! assert_eq!(c.cooldown, None);
//! let err = toml::from_str::<Config>(r#"off_after = "soon""#).err().unwrap();
//! assert!(err.to_string().contains("is not a duration"));
//! ```

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// Reads a duration from a string (`"2m"`) or a number of seconds.
///
/// # Errors
///
/// The deserializer's error, with what was wrong (`"soon" is not a duration; ...`).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

/// Writes a duration as a string jiff reads back (`"2m"`-style friendly format).
///
/// # Errors
///
/// The serializer's error.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    let signed = jiff::SignedDuration::try_from(*duration).unwrap_or(jiff::SignedDuration::MAX);
    format!("{signed:#}").serialize(serializer)
}

/// The same for `Option<Duration>` (use with `#[serde(default)]`).
pub mod option {
    use super::{Deserializer, Duration, Serializer};

    /// Reads an optional duration.
    ///
    /// # Errors
    ///
    /// As [`super::deserialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        super::deserialize(deserializer).map(Some)
    }

    /// Writes an optional duration (`None` as a unit).
    ///
    /// # Errors
    ///
    /// The serializer's error.
    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(d) => super::serialize(d, serializer),
            None => serializer.serialize_none(),
        }
    }
}

/// Parses `"2m"`, `"1h 30m"`, `"500ms"` or ISO 8601 (`"PT2M"`).
///
/// # Errors
///
/// What is wrong, in words.
pub fn parse(text: &str) -> Result<Duration, String> {
    crate::config::parse_duration(text)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"90s\", \"2m\" or \"1h 30m\", or a number of seconds")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(format!("{v} must not be negative")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        crate::config::duration_from_secs(v).map_err(E::custom)
    }
}
