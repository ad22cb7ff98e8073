//! What makes a job fire, and the computation of its next due time.

use std::time::Duration;

use jiff::civil::{DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use super::{CronSchedule, ScheduleError};

/// When a job fires. Pass it to [`Scheduler::schedule`](super::Scheduler::schedule).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hassette_core::scheduler::Trigger;
///
/// let in_five_minutes = Trigger::In(Duration::from_secs(300));
/// let hourly = Trigger::Every { period: Duration::from_secs(3600), first: None };
/// let morning = Trigger::Daily(jiff::civil::time(7, 30, 0, 0));
/// let weekdays = Trigger::Cron("30 7 * * mon-fri".parse()?);
/// let before_sunset = Trigger::Sunset { offset: jiff::SignedDuration::from_mins(-30) };
/// # Ok::<(), hassette_core::scheduler::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// Once, this long from now.
    In(Duration),
    /// Once, at this instant. An instant less than a second in the past (typically computed
    /// from "now" a moment earlier) fires at once; an earlier one is
    /// [`ScheduleError::InThePast`], since it is almost always a bug such as a time of day
    /// that already passed today.
    At(Timestamp),
    /// Repeatedly, every `period`, first after `first` (default: one `period` from now).
    ///
    /// Each due time is computed from the previous *scheduled* time, not from when the job
    /// actually ran, so the series does not drift. If the timer falls behind by more than a
    /// period (the process was suspended, the clock jumped), the missed runs are skipped
    /// rather than fired in a burst: the job fires once, and then at the next point of the
    /// original grid.
    Every {
        /// Time between runs; must not be zero ([`ScheduleError::ZeroPeriod`]).
        period: Duration,
        /// Delay before the first run; `None` means one `period`.
        first: Option<Duration>,
    },
    /// Every day at this local wall time, in the scheduler's time zone (see
    /// [`Scheduler::set_time_zone`](super::Scheduler::set_time_zone)).
    ///
    /// Daylight saving time: on the day a spring-forward change skips the time (02:30 in
    /// Europe/Amsterdam on the last Sunday of March), the job fires once at the first instant
    /// after the gap (03:00 local). On the day a fall-back change repeats it, the job fires
    /// once, at the first occurrence.
    Daily(Time),
    /// On a cron schedule, evaluated in the scheduler's local time zone.
    Cron(CronSchedule),
    /// At the next sunrise plus `offset` (negative: before sunrise), as reported by the
    /// scheduler's [`SunSource`].
    Sunrise {
        /// Added to the sunrise time; negative means before.
        offset: SignedDuration,
    },
    /// At the next sunset plus `offset` (negative: before sunset), as reported by the
    /// scheduler's [`SunSource`].
    Sunset {
        /// Added to the sunset time; negative means before.
        offset: SignedDuration,
    },
    /// At the next dawn (civil twilight begins: `sun.sun`'s `next_dawn`) plus `offset`.
    Dawn {
        /// Added to the dawn time; negative means before.
        offset: SignedDuration,
    },
    /// At the next dusk (civil twilight ends: `sun.sun`'s `next_dusk`) plus `offset`.
    Dusk {
        /// Added to the dusk time; negative means before.
        offset: SignedDuration,
    },
}

/// The next sun events, as Home Assistant's `sun.sun` entity reports them in its
/// `next_rising` and `next_setting` attributes.
///
/// # Examples
///
/// ```
/// use hassette_core::scheduler::SunTimes;
///
/// let sun = SunTimes {
///     next_rising: "2025-06-02T03:20:00Z".parse()?,
///     next_setting: "2025-06-01T20:05:00Z".parse()?,
///     next_dawn: None,
///     next_dusk: None,
/// };
/// assert!(sun.next_setting < sun.next_rising);
/// # Ok::<(), jiff::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SunTimes {
    /// The next sunrise.
    pub next_rising: Timestamp,
    /// The next sunset.
    pub next_setting: Timestamp,
    /// The next dawn, when reported.
    pub next_dawn: Option<Timestamp>,
    /// The next dusk, when reported.
    pub next_dusk: Option<Timestamp>,
}

/// Where the scheduler reads the next sun events: `None` while they are unknown (not
/// connected yet, no `sun.sun` entity), in which case sun jobs ask again every minute.
///
/// It is called on the timer task, so it must be quick and must not call the scheduler.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use hassette_core::scheduler::SunSource;
///
/// let unknown: SunSource = Arc::new(|| None);
/// assert!(unknown().is_none());
/// ```
pub type SunSource = std::sync::Arc<dyn Fn() -> Option<SunTimes> + Send + Sync>;

/// How long a sun job waits before asking its [`SunSource`] again when it has no usable
/// event (unknown, or still the one it just fired for).
pub(super) const SUN_POLL: SignedDuration = SignedDuration::from_mins(1);

/// Sun events of one kind are about a day apart. A reported event within this window of the
/// one a job last fired for is taken to be the same event (Home Assistant may refine the
/// estimate a little), so the job does not fire twice for one sunrise.
const SAME_SUN_EVENT: SignedDuration = SignedDuration::from_hours(12);

const DAY: SignedDuration = SignedDuration::from_hours(24);

/// An `At` this close to "now" in the past still fires (at once).
const AT_GRACE: SignedDuration = SignedDuration::from_secs(1);

/// The outcome of computing a job's next due time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Plan {
    /// Fire at `due`. `sun_event` is the sun event the fire is for (sun jobs only).
    Fire {
        due: Timestamp,
        sun_event: Option<Timestamp>,
    },
    /// Do not fire; ask the sun source again at `due`.
    Poll { due: Timestamp },
    /// The job has no further runs.
    Done,
}

impl Plan {
    pub(super) fn due(self) -> Option<Timestamp> {
        match self {
            Plan::Fire { due, .. } | Plan::Poll { due } => Some(due),
            Plan::Done => None,
        }
    }
}

pub(super) fn add(ts: Timestamp, d: Duration) -> Result<Timestamp, ScheduleError> {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| ts.checked_add(d).ok())
        .ok_or(ScheduleError::OutOfRange { duration: d })
}

fn fire(due: Timestamp) -> Plan {
    Plan::Fire {
        due,
        sun_event: None,
    }
}

impl Trigger {
    /// Whether the due time depends on the local time zone (recomputed on
    /// [`Scheduler::set_time_zone`](super::Scheduler::set_time_zone)).
    pub(super) fn is_local(&self) -> bool {
        matches!(self, Trigger::Daily(_) | Trigger::Cron(_))
    }

    pub(super) fn is_sun(&self) -> bool {
        matches!(
            self,
            Trigger::Sunrise { .. }
                | Trigger::Sunset { .. }
                | Trigger::Dawn { .. }
                | Trigger::Dusk { .. }
        )
    }

    /// The first due time of a newly scheduled job. Sun triggers call `sun`.
    pub(super) fn first(
        &self,
        now: Timestamp,
        tz: &TimeZone,
        sun: &super::SunSource,
    ) -> Result<Plan, ScheduleError> {
        match self {
            Trigger::In(d) => add(now, *d).map(fire),
            Trigger::At(at) => {
                if *at >= now {
                    Ok(fire(*at))
                } else if now.duration_since(*at) < AT_GRACE {
                    Ok(fire(now))
                } else {
                    Err(ScheduleError::InThePast { at: *at, now })
                }
            }
            Trigger::Every { period, first } => {
                if period.is_zero() {
                    return Err(ScheduleError::ZeroPeriod);
                }
                // Check now that the period itself is representable.
                add(now, *period)?;
                add(now, first.unwrap_or(*period)).map(fire)
            }
            Trigger::Daily(_) | Trigger::Cron(_) => Ok(self.local_after(now, tz)),
            Trigger::Sunrise { .. }
            | Trigger::Sunset { .. }
            | Trigger::Dawn { .. }
            | Trigger::Dusk { .. } => Ok(self.sun_plan(now, None, sun)),
        }
    }

    /// The due time after a fire that was scheduled for `scheduled` and ran at `now`, for
    /// triggers that do not read the sun source. Repeating triggers skip runs that are already
    /// past rather than fire them in a burst.
    pub(super) fn after_fire(&self, scheduled: Timestamp, now: Timestamp, tz: &TimeZone) -> Plan {
        match self {
            Trigger::In(_)
            | Trigger::At(_)
            | Trigger::Sunrise { .. }
            | Trigger::Sunset { .. }
            | Trigger::Dawn { .. }
            | Trigger::Dusk { .. } => Plan::Done,
            Trigger::Every { period, .. } => {
                next_every(scheduled, *period, now).map_or(Plan::Done, fire)
            }
            Trigger::Daily(_) | Trigger::Cron(_) => self.local_after(scheduled.max(now), tz),
        }
    }

    /// The next local-time due time strictly after `after`, in `tz`.
    pub(super) fn local_after(&self, after: Timestamp, tz: &TimeZone) -> Plan {
        let next = match self {
            Trigger::Daily(time) => next_daily(*time, after, tz),
            Trigger::Cron(cron) => cron.next_after_timestamp(after, tz),
            _ => None,
        };
        next.map_or(Plan::Done, fire)
    }

    /// The plan of a sun job at `now`, given the sun event it last fired for.
    ///
    /// Home Assistant only reports the *next* event, and updates it a moment after the event.
    /// So: if the source still reports the event just fired for (a negative offset fires
    /// before the event), or the offset time of the reported event has already passed, ask
    /// again a minute after the event rather than guess; if the source knows nothing, ask
    /// again in a minute.
    pub(super) fn sun_plan(
        &self,
        now: Timestamp,
        last_event: Option<Timestamp>,
        sun: &super::SunSource,
    ) -> Plan {
        let poll_at = |t: Timestamp| Plan::Poll {
            due: t.checked_add(SUN_POLL).unwrap_or(t),
        };
        let offset = match self {
            Trigger::Sunrise { offset }
            | Trigger::Sunset { offset }
            | Trigger::Dawn { offset }
            | Trigger::Dusk { offset } => *offset,
            _ => return Plan::Done,
        };
        let Some(times) = sun() else {
            return poll_at(now);
        };
        let event = match self {
            Trigger::Sunrise { .. } => Some(times.next_rising),
            Trigger::Sunset { .. } => Some(times.next_setting),
            Trigger::Dawn { .. } => times.next_dawn,
            _ => times.next_dusk,
        };
        let Some(event) = event else {
            return poll_at(now);
        };
        let plan = |event: Timestamp| {
            event.checked_add(offset).ok().map(|due| Plan::Fire {
                due,
                sun_event: Some(event),
            })
        };
        if last_event.is_none() && offset.is_positive() {
            // Scheduled after today's event but before event + offset: the source already
            // reports tomorrow's event, so estimate today's as a day earlier (sun times move
            // by a few minutes a day at most) rather than miss today's run.
            if let Some(Plan::Fire { due, sun_event }) = event.checked_sub(DAY).ok().and_then(plan)
                && due > now
            {
                return Plan::Fire { due, sun_event };
            }
        }
        let stale = last_event.is_some_and(|last| event.duration_since(last) < SAME_SUN_EVENT);
        match plan(event) {
            Some(Plan::Fire { due, sun_event }) if !stale && due > now => {
                Plan::Fire { due, sun_event }
            }
            _ => poll_at(event.max(now)),
        }
    }
}

/// The next point of the grid `scheduled + k * period` strictly after `scheduled` and after
/// `now` (missed points are skipped).
fn next_every(scheduled: Timestamp, period: Duration, now: Timestamp) -> Option<Timestamp> {
    let next = add(scheduled, period).ok()?;
    if next > now {
        return Some(next);
    }
    let period_ns = period.as_nanos();
    let behind = u128::try_from(now.duration_since(scheduled).as_nanos()).ok()?;
    let steps = behind / period_ns + 1;
    let offset = steps.checked_mul(period_ns)?;
    let secs = u64::try_from(offset / 1_000_000_000).ok()?;
    let nanos = u32::try_from(offset % 1_000_000_000).ok()?;
    add(scheduled, Duration::new(secs, nanos)).ok()
}

/// The first instant strictly after `after` at which the wall clock in `tz` shows `time`.
fn next_daily(time: Time, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    let mut date = after.to_zoned(tz.clone()).date();
    // Today's time may be past; tomorrow's is always after. A third day covers a resolved
    // gap instant that equals `after`.
    for _ in 0..3 {
        let ts = resolve_local(tz, date.to_datetime(time))?;
        if ts > after {
            return Some(ts);
        }
        date = date.tomorrow().ok()?;
    }
    None
}

/// The instant at which a local wall time "happens" for the scheduler.
///
/// - Unambiguous: that instant.
/// - In a gap (skipped by a spring-forward change): the first valid instant after it, which is
///   the transition itself (02:30 in a 02:00→03:00 gap fires at 03:00). jiff's `compatible`
///   disambiguation would instead shift by the gap's length (03:30).
/// - In a fold (repeated by a fall-back change): the first occurrence, so it fires once.
pub(super) fn resolve_local(tz: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Gap { before, after } => {
            // Read with the later offset, `dt` lands before the transition; the first
            // transition after that instant is the end of the gap.
            let early = after.to_timestamp(dt).ok()?;
            let late = before.to_timestamp(dt).ok()?;
            let transition = tz
                .following(early)
                .next()
                .map(|t| t.timestamp())
                .filter(|t| *t > early && *t <= late);
            Some(transition.unwrap_or(late))
        }
        AmbiguousOffset::Fold { before, after } => {
            let a = before.to_timestamp(dt).ok()?;
            let b = after.to_timestamp(dt).ok()?;
            Some(a.min(b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn every_skips_missed_points_on_the_grid() {
        let p = Duration::from_secs(10);
        let t0 = ts("2025-01-01T00:00:00Z");
        assert_eq!(
            next_every(t0, p, ts("2025-01-01T00:00:03Z")),
            Some(ts("2025-01-01T00:00:10Z"))
        );
        assert_eq!(
            next_every(t0, p, ts("2025-01-01T00:00:10Z")),
            Some(ts("2025-01-01T00:00:20Z"))
        );
        assert_eq!(
            next_every(t0, p, ts("2025-01-01T00:00:35Z")),
            Some(ts("2025-01-01T00:00:40Z"))
        );
    }

    #[test]
    fn gap_resolves_to_the_transition_and_fold_to_the_first_occurrence() {
        let tz = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let gap = resolve_local(&tz, "2025-03-30T02:30".parse().unwrap()).unwrap();
        assert_eq!(gap, ts("2025-03-30T01:00:00Z"));
        let fold = resolve_local(&tz, "2025-10-26T02:30".parse().unwrap()).unwrap();
        assert_eq!(fold, ts("2025-10-26T00:30:00Z"));
        let plain = resolve_local(&tz, "2025-06-01T02:30".parse().unwrap()).unwrap();
        assert_eq!(plain, ts("2025-06-01T00:30:00Z"));
    }
}
