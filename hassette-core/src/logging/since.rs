//! The time forms `hassette log --since/--until` accept.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

/// The accepted forms, for error messages.
pub const ACCEPTED_FORMS: &str = "a duration back from now (30s, 15m, 1h, 7d, 2w), an ISO date \
(2026-11-21, local midnight), a local date-time (2026-11-21T08:30 or \"2026-11-21 08:30:00\"), \
or a date-time with Z or an offset (2026-11-21T08:30:00Z, 2026-11-21T08:30:00+01:00)";

/// Parses `text` into an instant, reading durations back from `now` and local dates and
/// date-times in `now`'s time zone.
///
/// # Errors
///
/// A message listing the accepted forms.
///
/// # Examples
///
/// ```
/// use hassette_core::logging::parse_when;
///
/// let now: jiff::Zoned = "2026-11-21T12:00:00+01:00[Europe/Amsterdam]".parse().unwrap();
/// assert_eq!(parse_when("1h", &now).unwrap().to_string(), "2026-11-21T10:00:00Z");
/// assert_eq!(parse_when("2026-11-21", &now).unwrap().to_string(), "2026-11-20T23:00:00Z");
/// assert_eq!(parse_when("2026-11-21T08:30:00Z", &now).unwrap().to_string(), "2026-11-21T08:30:00Z");
/// assert!(parse_when("yesterday", &now).is_err());
/// ```
pub fn parse_when(text: &str, now: &Zoned) -> Result<Timestamp, String> {
    let t = text.trim();
    let bad = || format!("{text:?} is not a time; use {ACCEPTED_FORMS}");
    if let Some(back) = parse_ago(t) {
        return now.timestamp().checked_sub(back).map_err(|_| bad());
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    let tz: TimeZone = now.time_zone().clone();
    let local = t.replacen(' ', "T", 1);
    if let Ok(dt) = local.parse::<DateTime>() {
        return dt.to_zoned(tz).map(|z| z.timestamp()).map_err(|_| bad());
    }
    if let Ok(date) = t.parse::<Date>() {
        return date.to_zoned(tz).map(|z| z.timestamp()).map_err(|_| bad());
    }
    Err(bad())
}

/// `30s`, `15m`, `1h`, `7d`, `2w` (also `90 min`, `1.5h`): a duration, or `None`.
fn parse_ago(text: &str) -> Option<SignedDuration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let secs = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        _ => return None,
    };
    SignedDuration::try_from_secs_f64(number * secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Zoned {
        "2026-03-29T12:00:00+02:00[Europe/Amsterdam]"
            .parse()
            .unwrap()
    }

    #[test]
    fn durations_back_from_now() {
        let n = now();
        for (text, secs) in [
            ("30s", 30),
            ("15m", 900),
            ("1h", 3600),
            ("7d", 604_800),
            ("2w", 1_209_600),
        ] {
            let t = parse_when(text, &n).unwrap();
            assert_eq!(n.timestamp().duration_since(t).as_secs(), secs, "{text}");
        }
    }

    #[test]
    fn dates_and_date_times() {
        let n = now();
        // The day of the DST change: local midnight is still +01:00.
        assert_eq!(
            parse_when("2026-03-29", &n).unwrap().to_string(),
            "2026-03-28T23:00:00Z"
        );
        assert_eq!(
            parse_when("2026-03-29T08:30", &n).unwrap().to_string(),
            "2026-03-29T06:30:00Z"
        );
        assert_eq!(
            parse_when("2026-03-29 08:30:00", &n).unwrap().to_string(),
            "2026-03-29T06:30:00Z"
        );
        assert_eq!(
            parse_when("2026-03-29T08:30:00+05:00", &n)
                .unwrap()
                .to_string(),
            "2026-03-29T03:30:00Z"
        );
        assert_eq!(
            parse_when("2026-03-29T08:30:00Z", &n).unwrap().to_string(),
            "2026-03-29T08:30:00Z"
        );
    }

    #[test]
    fn errors_list_the_forms() {
        let err = parse_when("last tuesday", &now()).unwrap_err();
        assert!(err.contains("30s, 15m, 1h, 7d, 2w"), "{err}");
        assert!(parse_when("5 fortnights", &now()).is_err());
    }
}
