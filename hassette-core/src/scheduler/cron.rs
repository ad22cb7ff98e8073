//! Cron expressions: a small parser and matcher that works on jiff's civil time.
//!
//! Written here rather than taken from a crate because the common cron crates are built on
//! chrono, and hassette's time model is jiff throughout.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime};
use jiff::{Timestamp, Zoned};

use super::ScheduleError;
use super::trigger::resolve_local;

/// How many years ahead [`CronSchedule::next_after`] looks before giving up. Parsing rejects
/// schedules that can never match, so this only bounds the search: the rarest match a valid
/// schedule can ask for is February 29, at most 8 years away (2096 to 2104).
const SEARCH_YEARS: i16 = 10;

/// A bound on the candidates [`CronSchedule::next_after`] examines that resolve to an instant
/// not after `after`. That only happens inside a repeated (fall-back) hour, where every
/// wall time has already fired once; a per-second schedule in a one-hour fold needs 3,600.
const MAX_STALE_CANDIDATES: u32 = 200_000;

/// A parsed cron expression, evaluated in local (wall-clock) time.
///
/// Five fields are `minute hour day-of-month month day-of-week` and fire at second 0; six
/// fields put `second` first. Each field accepts `*`, a value (`5`), a list (`1,2`), a range
/// (`1-5`) and steps (`*/5`, `10-30/5`, `5/15` = from 5 to the end in steps of 15). Months
/// accept `jan`..`dec`, weekdays `sun`..`sat` (any case); weekday 0 and 7 are both Sunday;
/// `?` is the same as `*`. The macros `@yearly` (`@annually`), `@monthly`, `@weekly`,
/// `@daily` (`@midnight`) and `@hourly` are accepted too.
///
/// As in Vixie cron, when both day-of-month and day-of-week are restricted (neither starts
/// with `*`), a day matches if *either* matches: `0 12 1 * mon` fires on the 1st and on every
/// Monday.
///
/// Daylight saving time: a wall time that does not exist (skipped by a spring-forward change)
/// fires at the first instant after the gap; a wall time that occurs twice (fall back) fires
/// once, at its first occurrence. So every local wall time fires at most once, and the
/// repeated hour is not run again.
///
/// # Examples
///
/// ```
/// use hassette_core::scheduler::CronSchedule;
/// use jiff::Zoned;
///
/// let weekdays: CronSchedule = "30 7 * * mon-fri".parse()?;
/// let after: Zoned = "2025-06-06T08:00[Europe/Amsterdam]".parse()?; // a Friday
/// let next = weekdays.next_after(&after).unwrap();
/// assert_eq!(next.to_string(), "2025-06-09T07:30:00+02:00[Europe/Amsterdam]");
///
/// let err = "61 * * * *".parse::<CronSchedule>().unwrap_err();
/// assert!(err.to_string().contains("minute field `61`"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CronSchedule {
    expr: String,
    has_seconds: bool,
    /// Bit `n` set means value `n` is allowed.
    seconds: u64,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// Both day fields restricted: a day matches if either does (Vixie cron).
    day_or: bool,
}

/// How one field is parsed.
struct FieldSpec {
    name: &'static str,
    min: u8,
    max: u8,
    /// Names for the values starting at `min` (months) or 0 (weekdays).
    names: &'static [&'static str],
}

const SECOND: FieldSpec = FieldSpec {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
// 7 is accepted as Sunday and folded onto 0 after parsing.
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl FieldSpec {
    fn value(&self, text: &str) -> Result<u8, String> {
        if let Some(pos) = self.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
            // Month names start at 1, weekday names at 0 (= min for both).
            return u8::try_from(pos)
                .map(|p| p + self.min)
                .map_err(|e| e.to_string());
        }
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            let names = if self.names.is_empty() {
                String::new()
            } else {
                format!(" or a name ({})", self.names.join(", "))
            };
            return Err(format!(
                "`{text}` is not a number{names}; expected a value in {}-{}",
                self.min, self.max
            ));
        }
        match text.parse::<u32>() {
            Ok(v) if v >= u32::from(self.min) && v <= u32::from(self.max) => {
                u8::try_from(v).map_err(|e| e.to_string())
            }
            _ => Err(format!("{text} is out of range {}-{}", self.min, self.max)),
        }
    }

    /// Parses one field into a bit set.
    fn parse(&self, field: &str) -> Result<u64, String> {
        let mut set = 0u64;
        for item in field.split(',') {
            if item.is_empty() {
                return Err("empty list item".to_owned());
            }
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => {
                    let step = match step.parse::<u8>() {
                        Ok(0) => return Err("the step must be at least 1".to_owned()),
                        Ok(s) => s,
                        Err(_) => return Err(format!("step `{step}` is not a number from 1")),
                    };
                    (range, Some(step))
                }
                None => (item, None),
            };
            let (lo, hi) = if range == "*" || range == "?" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (lo, hi) = (self.value(a)?, self.value(b)?);
                if lo > hi {
                    return Err(format!(
                        "range `{range}` runs backwards (its start is greater than its end)"
                    ));
                }
                (lo, hi)
            } else {
                let v = self.value(range)?;
                // `5/15` means "from 5 to the end in steps of 15", as in most crons.
                if step.is_some() {
                    (v, self.max)
                } else {
                    (v, v)
                }
            };
            for v in (lo..=hi).step_by(usize::from(step.unwrap_or(1))) {
                set |= 1 << v;
            }
        }
        Ok(set)
    }
}

/// The smallest allowed value `>= from` in `set`, if any.
fn next_in(set: u64, from: u8) -> Option<u8> {
    if from >= 64 {
        return None;
    }
    let rest = set & (u64::MAX << from);
    // trailing_zeros of a non-zero u64 is below 64, so it fits in a u8.
    (rest != 0).then(|| rest.trailing_zeros() as u8)
}

fn days_in_month(year: i16, month: u8) -> Option<u8> {
    let month = i8::try_from(month).ok()?;
    let days = Date::new(year, month, 1).ok()?.days_in_month();
    u8::try_from(days).ok()
}

impl CronSchedule {
    /// The expression this schedule was parsed from.
    ///
    /// # Examples
    ///
    /// ```
    /// # use hassette_core::scheduler::CronSchedule;
    /// let s: CronSchedule = "*/5 * * * *".parse()?;
    /// assert_eq!(s.as_str(), "*/5 * * * *");
    /// # Ok::<(), hassette_core::scheduler::ScheduleError>(())
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The first time strictly after `after` at which this schedule fires, in `after`'s time
    /// zone. `None` only when that lies beyond the years jiff can represent.
    ///
    /// # Examples
    ///
    /// ```
    /// use hassette_core::scheduler::CronSchedule;
    /// use jiff::Zoned;
    ///
    /// let s: CronSchedule = "0 0 29 feb *".parse()?;
    /// let after: Zoned = "2025-01-01T00:00[UTC]".parse()?;
    /// assert_eq!(s.next_after(&after).unwrap().to_string(), "2028-02-29T00:00:00+00:00[UTC]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn next_after(&self, after: &Zoned) -> Option<Zoned> {
        let tz = after.time_zone();
        let after_ts = after.timestamp();
        let mut from = self.step_forward(after.datetime())?;
        for _ in 0..MAX_STALE_CANDIDATES {
            let candidate = self.next_civil(from)?;
            let ts = resolve_local(tz, candidate)?;
            if ts > after_ts {
                return Some(ts.to_zoned(tz.clone()));
            }
            // The candidate's instant is not later: its wall time already occurred (the first
            // pass of a fold) or collapsed onto a gap's end. Move on to the next wall time.
            from = self.step_forward(candidate)?;
        }
        None
    }

    /// Like [`CronSchedule::next_after`], for a timestamp in a time zone.
    pub(crate) fn next_after_timestamp(
        &self,
        after: Timestamp,
        tz: &jiff::tz::TimeZone,
    ) -> Option<Timestamp> {
        self.next_after(&after.to_zoned(tz.clone()))
            .map(|z| z.timestamp())
    }

    /// The wall time one unit (a second, or a minute for five fields) after `dt`, truncated to
    /// that unit.
    fn step_forward(&self, dt: DateTime) -> Option<DateTime> {
        let base = dt.with().subsec_nanosecond(0);
        let base = if self.has_seconds {
            base
        } else {
            base.second(0)
        };
        let base = base.build().ok()?;
        let unit = if self.has_seconds {
            jiff::SignedDuration::from_secs(1)
        } else {
            jiff::SignedDuration::from_mins(1)
        };
        base.checked_add(unit).ok()
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = self.days_of_month & (1 << date.day()) != 0;
        // to_sunday_zero_offset is 0..=6.
        let weekday = u32::try_from(date.weekday().to_sunday_zero_offset()).unwrap_or(0);
        let dow = self.days_of_week & (1 << weekday) != 0;
        if self.day_or { dom || dow } else { dom && dow }
    }

    /// The first wall time `>= from` that matches every field.
    fn next_civil(&self, from: DateTime) -> Option<DateTime> {
        let limit = from.year().saturating_add(SEARCH_YEARS);
        let mut year = from.year();
        // Components as u8 so that bit tests and carries stay simple; each `continue`
        // restarts the match from the largest field after a carry.
        let mut month = u8::try_from(from.month()).ok()?;
        let mut day = u8::try_from(from.day()).ok()?;
        let mut hour = u8::try_from(from.hour()).ok()?;
        let mut minute = u8::try_from(from.minute()).ok()?;
        let mut second = u8::try_from(from.second()).ok()?;
        loop {
            if year > limit {
                return None;
            }
            match next_in(self.months, month) {
                None => {
                    year += 1;
                    (month, day, hour, minute, second) = (1, 1, 0, 0, 0);
                    continue;
                }
                Some(m) if m != month => (month, day, hour, minute, second) = (m, 1, 0, 0, 0),
                Some(_) => {}
            }
            if day > days_in_month(year, month)? {
                month += 1;
                (day, hour, minute, second) = (1, 0, 0, 0);
                continue;
            }
            let date = Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()?;
            if !self.day_matches(date) {
                day += 1;
                (hour, minute, second) = (0, 0, 0);
                continue;
            }
            match next_in(self.hours, hour) {
                None => {
                    day += 1;
                    (hour, minute, second) = (0, 0, 0);
                    continue;
                }
                Some(h) if h != hour => (hour, minute, second) = (h, 0, 0),
                Some(_) => {}
            }
            match next_in(self.minutes, minute) {
                None => {
                    hour += 1;
                    (minute, second) = (0, 0);
                    continue;
                }
                Some(m) if m != minute => (minute, second) = (m, 0),
                Some(_) => {}
            }
            match next_in(self.seconds, second) {
                None => {
                    minute += 1;
                    second = 0;
                    continue;
                }
                Some(s) => second = s,
            }
            return DateTime::new(
                year,
                i8::try_from(month).ok()?,
                i8::try_from(day).ok()?,
                i8::try_from(hour).ok()?,
                i8::try_from(minute).ok()?,
                i8::try_from(second).ok()?,
                0,
            )
            .ok();
        }
    }

    fn parse_expr(expr: &str) -> Result<Self, String> {
        let trimmed = expr.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(format!(
                    "unknown macro `{trimmed}`; use @yearly, @annually, @monthly, @weekly, \
                     @daily, @midnight or @hourly"
                ));
            }
            _ => trimmed,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (has_seconds, rest) = match fields.len() {
            5 => (false, &fields[..]),
            6 => (true, &fields[1..]),
            n => {
                return Err(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week) or 6 \
                     (second first), found {n}"
                ));
            }
        };
        let field = |spec: &FieldSpec, text: &str| {
            spec.parse(text)
                .map_err(|m| format!("{} field `{text}`: {m}", spec.name))
        };
        let seconds = if has_seconds {
            field(&SECOND, fields[0])?
        } else {
            1
        };
        let [minute, hour, dom, month, dow] = rest else {
            return Err("expected 5 or 6 fields".to_owned());
        };
        let mut days_of_week = field(&DAY_OF_WEEK, dow)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week | 1) & !(1 << 7);
        }
        // Vixie cron treats a field starting with `*` as unrestricted for the OR rule.
        let dom_star = dom.starts_with('*') || dom.starts_with('?');
        let dow_star = dow.starts_with('*') || dow.starts_with('?');
        let schedule = Self {
            expr: expr.to_owned(),
            has_seconds,
            seconds,
            minutes: field(&MINUTE, minute)?,
            hours: field(&HOUR, hour)?,
            days_of_month: field(&DAY_OF_MONTH, dom)?,
            months: field(&MONTH, month)?,
            days_of_week,
            day_or: !dom_star && !dow_star,
        };
        // A day-of-month that no chosen month has (February 30) would never fire; say so now
        // rather than leave a timer that silently never runs.
        if !schedule.day_or {
            let possible = (1..=12u8).any(|m| {
                let longest = if m == 2 {
                    29
                } else {
                    days_in_month(2025, m).unwrap_or(31)
                };
                schedule.months & (1 << m) != 0
                    && (1..=longest).any(|d| schedule.days_of_month & (1 << d) != 0)
            });
            if !possible {
                return Err(format!(
                    "day-of-month field `{dom}`: no such day in month field `{month}`, so the \
                     schedule would never fire"
                ));
            }
        }
        Ok(schedule)
    }
}

impl FromStr for CronSchedule {
    type Err = ScheduleError;

    /// Parses a 5- or 6-field cron expression; the error names the bad field.
    fn from_str(expr: &str) -> Result<Self, Self::Err> {
        Self::parse_expr(expr).map_err(|message| ScheduleError::InvalidCron {
            expr: expr.to_owned(),
            message,
        })
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(set: u64) -> Vec<u8> {
        (0..64).filter(|b| set & (1 << b) != 0).collect()
    }

    fn err(expr: &str) -> String {
        expr.parse::<CronSchedule>().unwrap_err().to_string()
    }

    #[test]
    fn field_syntax() {
        assert_eq!(bits(MINUTE.parse("*/15").unwrap()), [0, 15, 30, 45]);
        assert_eq!(bits(MINUTE.parse("10-30/5").unwrap()), [10, 15, 20, 25, 30]);
        assert_eq!(bits(MINUTE.parse("1,2,59").unwrap()), [1, 2, 59]);
        assert_eq!(bits(MINUTE.parse("50/4").unwrap()), [50, 54, 58]);
        assert_eq!(bits(HOUR.parse("9-11,20").unwrap()), [9, 10, 11, 20]);
        assert_eq!(bits(MONTH.parse("JAN,mar-May").unwrap()), [1, 3, 4, 5]);
        assert_eq!(bits(DAY_OF_WEEK.parse("mon-fri").unwrap()), [1, 2, 3, 4, 5]);
        assert_eq!(bits(DAY_OF_MONTH.parse("*").unwrap()).len(), 31);
    }

    #[test]
    fn sunday_is_0_and_7() {
        let s: CronSchedule = "0 0 * * 7".parse().unwrap();
        assert_eq!(bits(s.days_of_week), [0]);
        let s: CronSchedule = "0 0 * * 5-7".parse().unwrap();
        assert_eq!(bits(s.days_of_week), [0, 5, 6]);
        let s: CronSchedule = "0 0 * * SUN".parse().unwrap();
        assert_eq!(bits(s.days_of_week), [0]);
    }

    #[test]
    fn five_fields_fire_at_second_zero_six_fields_have_seconds() {
        let s: CronSchedule = "* * * * *".parse().unwrap();
        assert!(!s.has_seconds);
        assert_eq!(bits(s.seconds), [0]);
        let s: CronSchedule = "*/20 * * * * *".parse().unwrap();
        assert!(s.has_seconds);
        assert_eq!(bits(s.seconds), [0, 20, 40]);
    }

    #[test]
    fn day_or_rule() {
        let s: CronSchedule = "0 0 1 * mon".parse().unwrap();
        assert!(s.day_or);
        let s: CronSchedule = "0 0 */2 * mon".parse().unwrap();
        assert!(!s.day_or);
        let s: CronSchedule = "0 0 1 * *".parse().unwrap();
        assert!(!s.day_or);
    }

    #[test]
    fn macros() {
        let daily: CronSchedule = "@daily".parse().unwrap();
        let explicit: CronSchedule = "0 0 * * *".parse().unwrap();
        assert_eq!(daily.hours, explicit.hours);
        assert_eq!(daily.as_str(), "@daily");
        assert!(err("@fortnightly").contains("unknown macro `@fortnightly`"));
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            err("61 * * * *"),
            "invalid cron expression `61 * * * *`: minute field `61`: 61 is out of range 0-59"
        );
        assert_eq!(
            err("* * *"),
            "invalid cron expression `* * *`: expected 5 fields (minute hour day-of-month \
             month day-of-week) or 6 (second first), found 3"
        );
        assert!(err("* 24 * * *").contains("hour field `24`: 24 is out of range 0-23"));
        assert!(err("* * 0 * *").contains("day-of-month field `0`: 0 is out of range 1-31"));
        assert!(err("* * * 13 *").contains("month field `13`"));
        assert!(err("* * * foo *").contains("month field `foo`: `foo` is not a number or a name"));
        assert!(err("* * * * 8").contains("day-of-week field `8`: 8 is out of range 0-7"));
        assert!(err("*/0 * * * *").contains("minute field `*/0`: the step must be at least 1"));
        assert!(err("*/x * * * *").contains("step `x` is not a number"));
        assert!(err("5-1 * * * *").contains("minute field `5-1`: range `5-1` runs backwards"));
        assert!(err("1,,2 * * * *").contains("empty list item"));
        assert!(err("60 * * * * *").contains("second field `60`"));
        assert!(err("-1 * * * *").contains("minute field `-1`"));
        assert!(err("0 0 30 feb *").contains("never fire"));
        assert!(err("0 0 31 4,6 *").contains("never fire"));
        assert!(err("").contains("found 0"));
        assert!(err("99999999999999999999 * * * *").contains("out of range"));
    }

    #[test]
    fn next_in_handles_the_edges() {
        assert_eq!(next_in(0b1010, 0), Some(1));
        assert_eq!(next_in(0b1010, 2), Some(3));
        assert_eq!(next_in(0b1010, 4), None);
        assert_eq!(next_in(u64::MAX, 63), Some(63));
        assert_eq!(next_in(u64::MAX, 64), None);
    }
}
