//! Scheduler tests (issue 5): paused tokio time plus a manual clock, no real sleeps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_core::clock::Clock;
use hassette_core::scheduler::{
    CronSchedule, FireInfo, JobHandle, ScheduleError, Scheduler, SunSource, SunTimes, Trigger,
};
use jiff::civil::time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Europe/Amsterdam from the system database, or the same rules as a POSIX string where the
/// database is missing.
fn amsterdam() -> TimeZone {
    TimeZone::get("Europe/Amsterdam")
        .or_else(|_| TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3"))
        .unwrap()
}

/// A scheduler on a manual clock, recording every fire as (tag, info).
struct Harness {
    clock: Clock,
    sched: Scheduler,
    fired: Arc<Mutex<Vec<(&'static str, FireInfo)>>>,
    sun: Arc<Mutex<Option<SunTimes>>>,
}

impl Harness {
    fn new(start: &str, tz: TimeZone) -> Self {
        let clock = Clock::manual(ts(start));
        let sun = Arc::new(Mutex::new(None::<SunTimes>));
        let source_state = Arc::clone(&sun);
        let source: SunSource = Arc::new(move || *source_state.lock().unwrap());
        let sched = Scheduler::new(clock.clone(), tz, source);
        Self {
            clock,
            sched,
            fired: Arc::default(),
            sun,
        }
    }

    fn utc(start: &str) -> Self {
        Self::new(start, TimeZone::UTC)
    }

    /// Schedules a job that records its fires under `tag` and keeps going.
    fn add(&self, tag: &'static str, trigger: Trigger) -> JobHandle {
        let fired = Arc::clone(&self.fired);
        self.sched
            .schedule(
                trigger,
                Box::new(move |info| {
                    fired.lock().unwrap().push((tag, info));
                    true
                }),
            )
            .unwrap()
    }

    fn set_sun(&self, rising: &str, setting: &str) {
        *self.sun.lock().unwrap() = Some(SunTimes {
            next_rising: ts(rising),
            next_setting: ts(setting),
            next_dawn: None,
            next_dusk: None,
        });
    }

    fn tags(&self) -> Vec<&'static str> {
        self.fired.lock().unwrap().iter().map(|(t, _)| *t).collect()
    }

    /// Scheduled times of the fires so far.
    fn scheduled(&self) -> Vec<Timestamp> {
        self.fired
            .lock()
            .unwrap()
            .iter()
            .map(|(_, i)| i.scheduled)
            .collect()
    }

    /// Scheduled times as local wall-clock strings in `tz`.
    fn local(&self, tz: &TimeZone) -> Vec<String> {
        self.scheduled()
            .into_iter()
            .map(|t| t.to_zoned(tz.clone()).strftime("%F %T%:z").to_string())
            .collect()
    }

    /// Lets the timer task run whatever is ready (it yields every 64 fires).
    async fn settle(&self) {
        for _ in 0..100_000 {
            tokio::task::yield_now().await;
            if self.sched.next_due().is_none_or(|d| d > self.clock.now()) {
                break;
            }
        }
        yields().await;
    }

    /// One jump: moves the manual clock and tokio's paused clock by `d` together, as a
    /// wall-clock jump would. Every job due in between fires once, in due order; a repeating
    /// job's missed runs are skipped.
    async fn jump(&self, d: Duration) {
        self.settle().await;
        self.clock.advance(SignedDuration::try_from(d).unwrap());
        tokio::time::advance(d).await;
        self.settle().await;
    }

    /// Runs time forward to `to`, stopping at every due time on the way, as a test harness
    /// for apps does: a repeating job fires at every point of its schedule.
    async fn run_until(&self, to: &str) {
        let to = ts(to);
        for _ in 0..100_000 {
            self.settle().await;
            let now = self.clock.now();
            if now >= to {
                return;
            }
            let next = self.sched.next_due().filter(|d| *d <= to).unwrap_or(to);
            let step = Duration::try_from(next.duration_since(now)).unwrap_or_default();
            self.jump(step).await;
        }
        panic!("run_until did not reach {to}");
    }
}

/// A few turns of the runtime, for the timer task to react to a wake-up.
async fn yields() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

#[test]
fn handles_and_scheduler_can_be_shared_across_tasks() {
    fn send_sync<T: Send + Sync + Clone + 'static>() {}
    send_sync::<Scheduler>();
    send_sync::<JobHandle>();
    send_sync::<Trigger>();
}

// ---- run_in, run_at, run_every ----

#[tokio::test(start_paused = true)]
async fn run_in_fires_once_at_its_time() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    let handle = h.add("in", Trigger::In(secs(10)));
    assert_eq!(h.sched.len(), 1);
    h.jump(secs(9)).await;
    assert!(h.tags().is_empty());
    assert!(handle.is_active());
    h.jump(secs(1)).await;
    assert_eq!(h.scheduled(), [ts("2025-01-01T00:00:10Z")]);
    assert!(!handle.is_active());
    assert_eq!(h.sched.len(), 0);
    h.jump(secs(3600)).await;
    assert_eq!(h.tags().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn run_at_and_the_past() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    h.add("at", Trigger::At(ts("2025-01-01T01:00:00Z")));
    h.jump(secs(3599)).await;
    assert!(h.tags().is_empty());
    h.jump(secs(1)).await;
    assert_eq!(h.scheduled(), [ts("2025-01-01T01:00:00Z")]);

    // Less than a second ago (computed from "now" a moment earlier): fires at once.
    h.add("just", Trigger::At(ts("2025-01-01T00:59:59.5Z")));
    yields().await;
    assert_eq!(h.tags(), ["at", "just"]);

    let err = h
        .sched
        .schedule(Trigger::At(ts("2025-01-01T00:00:00Z")), Box::new(|_| true))
        .unwrap_err();
    assert!(matches!(err, ScheduleError::InThePast { .. }));
    assert_eq!(
        err.to_string(),
        "cannot schedule a job at 2025-01-01T00:00:00Z: that is in the past (now is 2025-01-01T01:00:00Z)"
    );
}

#[tokio::test(start_paused = true)]
async fn run_every_does_not_drift_and_cancel_stops_it() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    let handle = h.add(
        "every",
        Trigger::Every {
            period: secs(10),
            first: None,
        },
    );
    // Fire late each time: the next due time still comes from the scheduled one.
    for _ in 0..3 {
        h.jump(secs(13)).await;
    }
    h.run_until("2025-01-01T00:01:00Z").await;
    let want: Vec<Timestamp> = (1..=6)
        .map(|i| Timestamp::from_second(1_735_689_600 + 10 * i).unwrap())
        .collect();
    assert_eq!(h.scheduled(), want);
    let fired: Vec<Timestamp> = h
        .fired
        .lock()
        .unwrap()
        .iter()
        .map(|(_, i)| i.fired)
        .collect();
    assert_eq!(fired[0], ts("2025-01-01T00:00:13Z"));

    handle.cancel();
    assert!(!handle.is_active());
    assert_eq!(h.sched.len(), 0);
    h.run_until("2025-01-01T00:10:00Z").await;
    assert_eq!(h.tags().len(), 6);
}

#[tokio::test(start_paused = true)]
async fn run_every_with_a_first_delay_and_skipping_missed_runs() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    h.add(
        "every",
        Trigger::Every {
            period: secs(60),
            first: Some(secs(5)),
        },
    );
    h.jump(secs(5)).await;
    // A long pause: one fire, not a burst, then back on the grid (5 + k*60).
    h.jump(secs(600)).await;
    h.run_until("2025-01-01T00:11:05Z").await;
    assert_eq!(
        h.scheduled(),
        [
            ts("2025-01-01T00:00:05Z"),
            ts("2025-01-01T00:01:05Z"),
            ts("2025-01-01T00:11:05Z"),
        ]
    );
    let zero = Trigger::Every {
        period: Duration::ZERO,
        first: None,
    };
    let err = h.sched.schedule(zero, Box::new(|_| true)).unwrap_err();
    assert_eq!(err, ScheduleError::ZeroPeriod);
    let huge = h
        .sched
        .schedule(Trigger::In(Duration::MAX), Box::new(|_| true))
        .unwrap_err();
    assert!(matches!(huge, ScheduleError::OutOfRange { .. }));
}

// ---- order, cancellation, removal ----

#[tokio::test(start_paused = true)]
async fn jobs_fire_in_due_order() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    h.add("c", Trigger::In(secs(30)));
    h.add("a", Trigger::In(secs(10)));
    h.add("b1", Trigger::In(secs(20)));
    h.add("b2", Trigger::In(secs(20)));
    h.jump(secs(60)).await;
    assert_eq!(h.tags(), ["a", "b1", "b2", "c"]);
}

#[tokio::test(start_paused = true)]
async fn cancel_before_fire_and_from_inside_another_job() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    let never = h.add("never", Trigger::In(secs(10)));
    never.cancel();
    never.cancel(); // idempotent
    assert_eq!(h.sched.len(), 0);

    // `first` fires before `victim` (same due time, scheduled earlier) and cancels it.
    let slot: Arc<Mutex<Option<JobHandle>>> = Arc::default();
    let slot2 = Arc::clone(&slot);
    let fired = Arc::clone(&h.fired);
    h.sched
        .schedule(
            Trigger::In(secs(20)),
            Box::new(move |info| {
                fired.lock().unwrap().push(("first", info));
                if let Some(victim) = slot2.lock().unwrap().as_ref() {
                    victim.cancel();
                }
                true
            }),
        )
        .unwrap();
    let victim = h.add("victim", Trigger::In(secs(20)));
    *slot.lock().unwrap() = Some(victim.clone());
    // Dropping a handle does not cancel.
    let kept = h.add("kept", Trigger::In(secs(25)));
    drop(kept);
    h.jump(secs(30)).await;
    assert_eq!(h.tags(), ["first", "kept"]);
    assert!(!victim.is_active());
    assert_eq!(h.sched.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_job_can_cancel_itself_and_schedule_others() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    let me: Arc<Mutex<Option<JobHandle>>> = Arc::default();
    let me2 = Arc::clone(&me);
    let sched = h.sched.clone();
    let fired = Arc::clone(&h.fired);
    let handle = h
        .sched
        .schedule(
            Trigger::Every {
                period: secs(10),
                first: None,
            },
            Box::new(move |info| {
                fired.lock().unwrap().push(("self", info));
                let f = Arc::clone(&fired);
                sched
                    .schedule(
                        Trigger::In(secs(1)),
                        Box::new(move |i| {
                            f.lock().unwrap().push(("child", i));
                            true
                        }),
                    )
                    .unwrap();
                if let Some(me) = me2.lock().unwrap().as_ref() {
                    me.cancel();
                }
                true
            }),
        )
        .unwrap();
    *me.lock().unwrap() = Some(handle.clone());
    h.run_until("2025-01-01T00:01:00Z").await;
    assert_eq!(h.tags(), ["self", "child"]);
    assert!(!handle.is_active());
    assert_eq!(h.sched.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_job_returning_false_or_panicking_is_removed() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    let count = Arc::new(Mutex::new(0));
    let c = Arc::clone(&count);
    let gone = h
        .sched
        .schedule(
            Trigger::Every {
                period: secs(10),
                first: None,
            },
            Box::new(move |_| {
                let mut c = c.lock().unwrap();
                *c += 1;
                *c < 2 // the target disappears after the second fire
            }),
        )
        .unwrap();
    let panicky = h
        .sched
        .schedule(Trigger::In(secs(5)), Box::new(|_| panic!("job bug")))
        .unwrap();
    let other = h.add(
        "other",
        Trigger::Every {
            period: secs(10),
            first: None,
        },
    );
    h.run_until("2025-01-01T00:01:00Z").await;
    assert_eq!(*count.lock().unwrap(), 2);
    assert!(!gone.is_active());
    assert!(!panicky.is_active());
    assert!(other.is_active());
    assert_eq!(h.tags().len(), 6, "the other job keeps firing");
    assert_eq!(h.sched.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_drops_pending_jobs() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    let handle = h.add("x", Trigger::In(secs(10)));
    h.sched.shutdown();
    assert!(!handle.is_active());
    assert_eq!(h.sched.len(), 0);
    h.jump(secs(60)).await;
    assert!(h.tags().is_empty());
    let again = h.sched.schedule(Trigger::In(secs(1)), Box::new(|_| true));
    assert_eq!(again.unwrap_err(), ScheduleError::Stopped);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_scheduler_clone_stops_the_task() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    let handle = h.add("x", Trigger::In(secs(10)));
    let Harness {
        clock,
        sched,
        fired,
        ..
    } = h;
    drop(sched);
    assert!(!handle.is_active());
    handle.cancel(); // harmless on a stopped scheduler
    clock.advance(SignedDuration::from_secs(60));
    tokio::time::advance(secs(60)).await;
    yields().await;
    assert!(fired.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_manual_clock_jump_fires_due_jobs_at_once() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    h.add("x", Trigger::In(secs(3600)));
    yields().await;
    h.clock.advance(SignedDuration::from_mins(59));
    yields().await;
    assert!(h.tags().is_empty());
    // The wall clock jumps while tokio's clock stands still: a manual clock wakes the timer
    // task itself (the system clock is re-read at least every 30 s instead).
    h.clock.advance(SignedDuration::from_mins(1));
    yields().await;
    assert_eq!(h.tags(), ["x"]);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_jobs() {
    let h = Harness::utc("2025-01-01T00:00:00Z");
    let mut rng = fastrand::Rng::with_seed(5);
    let mut handles = Vec::new();
    for i in 0..10_000u64 {
        let handle = h.add("job", Trigger::In(secs(rng.u64(1..=1000))));
        if i % 10 == 0 {
            handles.push(handle);
        }
    }
    for handle in &handles {
        handle.cancel();
    }
    assert_eq!(h.sched.len(), 9_000);
    h.jump(secs(1000)).await;
    let scheduled = h.scheduled();
    assert_eq!(scheduled.len(), 9_000);
    assert!(scheduled.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(h.sched.len(), 0);
}

// ---- daily and time zones ----

#[tokio::test(start_paused = true)]
async fn run_daily_across_spring_forward() {
    let tz = amsterdam();
    let h = Harness::new("2025-03-29T11:00:00Z", tz.clone());
    h.add("daily", Trigger::Daily(time(2, 30, 0, 0)));
    h.run_until("2025-04-01T00:00:00Z").await;
    // 2025-03-30 has no 02:30 (02:00 jumps to 03:00): it fires once, at 03:00.
    assert_eq!(
        h.local(&tz),
        ["2025-03-30 03:00:00+02:00", "2025-03-31 02:30:00+02:00"]
    );
}

#[tokio::test(start_paused = true)]
async fn run_daily_across_fall_back() {
    let tz = amsterdam();
    let h = Harness::new("2025-10-25T10:00:00Z", tz.clone());
    h.add("daily", Trigger::Daily(time(2, 30, 0, 0)));
    h.run_until("2025-10-28T00:00:00Z").await;
    // 2025-10-26 has 02:30 twice (03:00 goes back to 02:00): it fires once, the first time.
    assert_eq!(
        h.local(&tz),
        ["2025-10-26 02:30:00+02:00", "2025-10-27 02:30:00+01:00"]
    );
}

#[tokio::test(start_paused = true)]
async fn set_time_zone_recomputes_local_jobs_only() {
    let h = Harness::utc("2025-06-01T00:00:00Z");
    h.add("daily", Trigger::Daily(time(8, 0, 0, 0)));
    h.add("cron", Trigger::Cron("0 9 * * *".parse().unwrap()));
    h.add("in", Trigger::In(secs(7 * 3600)));
    assert_eq!(h.sched.now().to_string(), "2025-06-01T00:00:00+00:00[UTC]");
    assert_eq!(h.sched.next_due(), Some(ts("2025-06-01T07:00:00Z")));

    let tz = amsterdam();
    h.sched.set_time_zone(tz.clone());
    assert_eq!(h.sched.now().offset().seconds(), 7200);
    // 08:00 and 09:00 Amsterdam (UTC+2) are 06:00 and 07:00 UTC; run_in keeps 07:00 UTC.
    assert_eq!(h.sched.next_due(), Some(ts("2025-06-01T06:00:00Z")));
    h.run_until("2025-06-01T12:00:00Z").await;
    // Same due time: in scheduling order.
    assert_eq!(h.tags(), ["daily", "cron", "in"]);
    assert_eq!(
        h.scheduled(),
        [
            ts("2025-06-01T06:00:00Z"),
            ts("2025-06-01T07:00:00Z"),
            ts("2025-06-01T07:00:00Z"),
        ]
    );
}

// ---- cron ----

fn next(expr: &str, after: &str) -> String {
    let cron: CronSchedule = expr.parse().unwrap();
    let after: Zoned = after.parse().unwrap();
    cron.next_after(&after).unwrap().to_string()
}

#[test]
fn cron_next_after_five_fields() {
    let at = "2025-06-04T10:17:42+00:00[UTC]"; // a Wednesday
    assert_eq!(next("* * * * *", at), "2025-06-04T10:18:00+00:00[UTC]");
    assert_eq!(next("*/15 * * * *", at), "2025-06-04T10:30:00+00:00[UTC]");
    assert_eq!(
        next("10-30/5 * * * *", at),
        "2025-06-04T10:20:00+00:00[UTC]"
    );
    assert_eq!(next("5,10 * * * *", at), "2025-06-04T11:05:00+00:00[UTC]");
    assert_eq!(next("0 9-17 * * *", at), "2025-06-04T11:00:00+00:00[UTC]");
    assert_eq!(next("0 8 * * *", at), "2025-06-05T08:00:00+00:00[UTC]");
    assert_eq!(
        next("30 7 * * mon-fri", "2025-06-06T08:00[UTC]"),
        "2025-06-09T07:30:00+00:00[UTC]"
    );
    assert_eq!(
        next("0 0 * * sat,SUN", at),
        "2025-06-07T00:00:00+00:00[UTC]"
    );
    assert_eq!(next("0 0 * * 7", at), "2025-06-08T00:00:00+00:00[UTC]");
    assert_eq!(next("0 0 * * 0", at), "2025-06-08T00:00:00+00:00[UTC]");
    assert_eq!(
        next("0 0 1 jan,JUL *", at),
        "2025-07-01T00:00:00+00:00[UTC]"
    );
    assert_eq!(
        next("0 0 1 * *", "2025-12-15T00:00[UTC]"),
        "2026-01-01T00:00:00+00:00[UTC]"
    );
    assert_eq!(
        next("0 0 31 * *", "2025-04-01T00:00[UTC]"),
        "2025-05-31T00:00:00+00:00[UTC]"
    );
    assert_eq!(next("0 0 29 2 *", at), "2028-02-29T00:00:00+00:00[UTC]");
    assert_eq!(next("@yearly", at), "2026-01-01T00:00:00+00:00[UTC]");
    // Both day fields restricted: either matches (the 13th or a Friday).
    assert_eq!(next("0 0 13 * fri", at), "2025-06-06T00:00:00+00:00[UTC]");
    assert_eq!(
        next("0 0 13 * fri", "2025-06-12T00:00[UTC]"),
        "2025-06-13T00:00:00+00:00[UTC]"
    );
    // Strictly after: a match at exactly `after` is not returned.
    assert_eq!(
        next("0 8 * * *", "2025-06-04T08:00[UTC]"),
        "2025-06-05T08:00:00+00:00[UTC]"
    );
    // Year rollover from the last minute of the year.
    assert_eq!(
        next("* * * * *", "2025-12-31T23:59:30[UTC]"),
        "2026-01-01T00:00:00+00:00[UTC]"
    );
}

#[test]
fn cron_next_after_six_fields() {
    let at = "2025-06-04T10:17:42.5+00:00[UTC]";
    assert_eq!(next("* * * * * *", at), "2025-06-04T10:17:43+00:00[UTC]");
    assert_eq!(next("*/20 * * * * *", at), "2025-06-04T10:18:00+00:00[UTC]");
    assert_eq!(next("30 0 12 * * *", at), "2025-06-04T12:00:30+00:00[UTC]");
    assert_eq!(next("0 0 0 29 feb *", at), "2028-02-29T00:00:00+00:00[UTC]");
    assert_eq!(
        next("15-45/10 * * * * *", at),
        "2025-06-04T10:17:45+00:00[UTC]"
    );
}

#[test]
fn cron_next_after_across_dst() {
    let tz = "Europe/Amsterdam";
    if TimeZone::get(tz).is_err() {
        return; // no time zone database on this machine; the scheduler tests cover DST
    }
    // Spring forward: 02:30 does not exist on 2025-03-30, the job fires at 03:00, once.
    assert_eq!(
        next("30 2 * * *", "2025-03-30T00:00[Europe/Amsterdam]"),
        "2025-03-30T03:00:00+02:00[Europe/Amsterdam]"
    );
    assert_eq!(
        next("30 2 * * *", "2025-03-30T03:00+02:00[Europe/Amsterdam]"),
        "2025-03-31T02:30:00+02:00[Europe/Amsterdam]"
    );
    assert_eq!(
        next("*/20 * * * *", "2025-03-30T01:50+01:00[Europe/Amsterdam]"),
        "2025-03-30T03:00:00+02:00[Europe/Amsterdam]"
    );
    // Fall back: 02:30 happens twice on 2025-10-26; only the first counts.
    assert_eq!(
        next("30 2 * * *", "2025-10-26T00:00[Europe/Amsterdam]"),
        "2025-10-26T02:30:00+02:00[Europe/Amsterdam]"
    );
    assert_eq!(
        next("30 2 * * *", "2025-10-26T02:30+02:00[Europe/Amsterdam]"),
        "2025-10-27T02:30:00+01:00[Europe/Amsterdam]"
    );
    // From inside the repeated hour, its wall times have already fired.
    assert_eq!(
        next("*/15 * * * *", "2025-10-26T02:10+01:00[Europe/Amsterdam]"),
        "2025-10-26T03:00:00+01:00[Europe/Amsterdam]"
    );
}

#[test]
fn invalid_cron_strings_give_clear_errors() {
    let err = |s: &str| s.parse::<CronSchedule>().unwrap_err().to_string();
    assert_eq!(
        err("0 25 * * *"),
        "invalid cron expression `0 25 * * *`: hour field `25`: 25 is out of range 0-23"
    );
    assert_eq!(
        err("every day"),
        "invalid cron expression `every day`: expected 5 fields (minute hour day-of-month \
         month day-of-week) or 6 (second first), found 2"
    );
    assert_eq!(
        err("0 0 * * funday"),
        "invalid cron expression `0 0 * * funday`: day-of-week field `funday`: `funday` is not \
         a number or a name (sun, mon, tue, wed, thu, fri, sat); expected a value in 0-7"
    );
    assert_eq!(
        err("0 0 30 2 *"),
        "invalid cron expression `0 0 30 2 *`: day-of-month field `30`: no such day in month \
         field `2`, so the schedule would never fire"
    );
    assert!(err("*/0 * * * *").contains("minute field `*/0`: the step must be at least 1"));
    assert!(err("1 2 3 4 5 6 7").contains("found 7"));
    assert!(err("0 0 * * fri-mon").contains("runs backwards"));
    match "x * * * *".parse::<CronSchedule>().unwrap_err() {
        ScheduleError::InvalidCron { expr, message } => {
            assert_eq!(expr, "x * * * *");
            assert!(message.starts_with("minute field `x`"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn cron_jobs_fire_on_schedule() {
    let h = Harness::utc("2025-06-04T10:00:00Z");
    h.add("five", Trigger::Cron("*/20 10 * * *".parse().unwrap()));
    h.add("six", Trigger::Cron("30 0 11 * * *".parse().unwrap()));
    h.run_until("2025-06-04T11:00:30Z").await;
    assert_eq!(h.tags(), ["five", "five", "six"]);
    assert_eq!(
        h.scheduled(),
        [
            ts("2025-06-04T10:20:00Z"),
            ts("2025-06-04T10:40:00Z"),
            ts("2025-06-04T11:00:30Z"),
        ]
    );
}

// ---- sunrise and sunset ----

#[tokio::test(start_paused = true)]
async fn sunrise_with_a_negative_offset_follows_the_source() {
    let h = Harness::utc("2025-06-01T00:00:00Z");
    h.set_sun("2025-06-01T04:00:00Z", "2025-06-01T20:00:00Z");
    h.add(
        "dawn",
        Trigger::Sunrise {
            offset: SignedDuration::from_mins(-30),
        },
    );
    h.run_until("2025-06-01T03:59:00Z").await;
    assert_eq!(h.scheduled(), [ts("2025-06-01T03:30:00Z")]);
    // Still reporting the sunrise just fired for: nothing more fires.
    h.run_until("2025-06-01T04:00:00Z").await;
    // Home Assistant moves next_rising on at sunrise.
    h.set_sun("2025-06-02T04:01:00Z", "2025-06-01T20:00:00Z");
    h.run_until("2025-06-03T00:00:00Z").await;
    assert_eq!(
        h.scheduled(),
        [ts("2025-06-01T03:30:00Z"), ts("2025-06-02T03:31:00Z")]
    );
}

#[tokio::test(start_paused = true)]
async fn sunset_with_a_positive_offset() {
    let h = Harness::utc("2025-06-01T12:00:00Z");
    h.set_sun("2025-06-02T04:00:00Z", "2025-06-01T20:00:00Z");
    h.add(
        "evening",
        Trigger::Sunset {
            offset: SignedDuration::from_hours(1),
        },
    );
    h.run_until("2025-06-01T20:00:00Z").await;
    assert!(h.tags().is_empty());
    h.set_sun("2025-06-02T04:00:00Z", "2025-06-02T20:02:00Z");
    h.run_until("2025-06-03T00:00:00Z").await;
    assert_eq!(
        h.scheduled(),
        [ts("2025-06-01T21:00:00Z"), ts("2025-06-02T21:02:00Z")]
    );
}

#[tokio::test(start_paused = true)]
async fn sunset_offset_scheduled_after_sunset_still_fires_today() {
    // At 20:30 the source already reports tomorrow's sunset; today's +1h is estimated.
    let h = Harness::utc("2025-06-01T20:30:00Z");
    h.set_sun("2025-06-02T04:00:00Z", "2025-06-02T20:02:00Z");
    h.add(
        "evening",
        Trigger::Sunset {
            offset: SignedDuration::from_hours(1),
        },
    );
    h.run_until("2025-06-02T22:00:00Z").await;
    assert_eq!(
        h.scheduled(),
        [ts("2025-06-01T21:02:00Z"), ts("2025-06-02T21:02:00Z")]
    );
}

#[tokio::test(start_paused = true)]
async fn sun_jobs_wait_for_an_unknown_source() {
    let h = Harness::utc("2025-06-01T00:00:00Z");
    let handle = h.add(
        "rise",
        Trigger::Sunrise {
            offset: SignedDuration::ZERO,
        },
    );
    assert_eq!(h.sched.len(), 1);
    assert_eq!(h.sched.next_due(), Some(ts("2025-06-01T00:01:00Z")));
    h.run_until("2025-06-01T02:00:00Z").await;
    assert!(h.tags().is_empty());
    assert!(handle.is_active());
    h.set_sun("2025-06-01T04:00:00Z", "2025-06-01T20:00:00Z");
    h.run_until("2025-06-01T05:00:00Z").await;
    assert_eq!(h.scheduled(), [ts("2025-06-01T04:00:00Z")]);
    // A negative offset whose time has passed waits for the source to move on.
    h.add(
        "late",
        Trigger::Sunset {
            offset: SignedDuration::from_hours(-16),
        },
    );
    h.set_sun("2025-06-02T04:00:00Z", "2025-06-01T20:00:00Z");
    h.run_until("2025-06-01T20:00:00Z").await;
    assert_eq!(h.tags(), ["rise"]);
    h.set_sun("2025-06-02T04:00:00Z", "2025-06-02T20:00:00Z");
    h.run_until("2025-06-02T05:00:00Z").await;
    // Both due at 04:00: the earlier scheduled job first.
    assert_eq!(h.tags(), ["rise", "rise", "late"]);
}

#[tokio::test(start_paused = true)]
async fn cancel_a_sun_job() {
    let h = Harness::utc("2025-06-01T00:00:00Z");
    h.set_sun("2025-06-01T04:00:00Z", "2025-06-01T20:00:00Z");
    let handle = h.add(
        "rise",
        Trigger::Sunrise {
            offset: SignedDuration::ZERO,
        },
    );
    handle.cancel();
    h.run_until("2025-06-02T00:00:00Z").await;
    assert!(h.tags().is_empty());
    assert!(h.sched.is_empty());
    assert!(!handle.is_active());
}
