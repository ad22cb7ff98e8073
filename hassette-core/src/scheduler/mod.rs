//! Timers: run in, at, every, daily at a local time, on a cron schedule, at sunrise and sunset.
//!
//! One [`Scheduler`] per runtime runs one tokio task for all jobs. Due times are wall-clock
//! [`Timestamp`]s read from a [`Clock`], so a manual clock in tests (and wall-clock jumps in
//! production) are honoured: the task never sleeps more than 30 seconds without looking at
//! the clock again.
//!
//! A [`Job`] is a small synchronous closure called on the timer task; the app runtime's jobs
//! `try_send` a message into an app's mailbox, so the app's own handler runs in the app's
//! task.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use hassette_core::clock::Clock;
//! use hassette_core::scheduler::{Scheduler, Trigger};
//! use jiff::{SignedDuration, Timestamp, tz::TimeZone};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = Clock::manual(Timestamp::UNIX_EPOCH);
//! let scheduler = Scheduler::new(clock.clone(), TimeZone::UTC, Arc::new(|| None));
//! let count = Arc::new(AtomicU32::new(0));
//! let c = Arc::clone(&count);
//! let handle = scheduler.schedule(
//!     Trigger::In(Duration::from_secs(5)),
//!     Box::new(move |_| { c.fetch_add(1, Ordering::SeqCst); true }),
//! )?;
//!
//! // In a test: move the manual clock and tokio's paused clock together.
//! clock.advance(SignedDuration::from_secs(5));
//! tokio::time::advance(Duration::from_secs(5)).await;
//! for _ in 0..4 { tokio::task::yield_now().await; }
//! assert_eq!(count.load(Ordering::SeqCst), 1);
//! assert!(!handle.is_active());
//! # Ok(()) }
//! ```

mod cron;
mod queue;
mod trigger;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use tracing::debug;

pub use cron::CronSchedule;
pub use trigger::{SunSource, SunTimes, Trigger};

use crate::clock::Clock;
use queue::Shared;

/// The work a scheduled job does, called on the timer task each time the job fires.
///
/// It must be quick and must not block (the app runtime's jobs `try_send` a message into an
/// app's mailbox). Return `false` when the job's target is gone (the app stopped): the job is
/// then removed and a warning logged. A job that panics is removed too; other jobs carry on.
///
/// # Examples
///
/// ```
/// use hassette_core::scheduler::Job;
///
/// let (tx, _rx) = tokio::sync::mpsc::channel::<&'static str>(16);
/// // A full mailbox drops this one tick; a closed one means the app is gone.
/// let job: Job = Box::new(move |_fire| {
///     !matches!(tx.try_send("tick"), Err(tokio::sync::mpsc::error::TrySendError::Closed(_)))
/// });
/// ```
pub type Job = Box<dyn FnMut(FireInfo) -> bool + Send>;

/// What a [`Job`] is told when it fires.
///
/// # Examples
///
/// ```
/// use hassette_core::scheduler::FireInfo;
///
/// fn lateness(fire: FireInfo) -> jiff::SignedDuration {
///     fire.fired.duration_since(fire.scheduled)
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FireInfo {
    /// The due time the job was scheduled for.
    pub scheduled: Timestamp,
    /// The clock's time when it actually fired (at or after `scheduled`).
    pub fired: Timestamp,
}

/// Why a job could not be scheduled.
///
/// # Examples
///
/// ```
/// use hassette_core::scheduler::{CronSchedule, ScheduleError};
///
/// let err = "* * * * mon-foo".parse::<CronSchedule>().unwrap_err();
/// assert!(matches!(err, ScheduleError::InvalidCron { .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// A cron expression did not parse; `message` names the bad field.
    #[error("invalid cron expression `{expr}`: {message}")]
    InvalidCron {
        /// The expression as given.
        expr: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// [`Trigger::At`] more than a second in the past.
    #[error("cannot schedule a job at {at}: that is in the past (now is {now})")]
    InThePast {
        /// The requested time.
        at: Timestamp,
        /// The scheduler's clock when scheduling.
        now: Timestamp,
    },
    /// [`Trigger::Every`] with a zero period.
    #[error("a repeating job needs a period greater than zero")]
    ZeroPeriod,
    /// A duration too large to add to the current time.
    #[error("the duration {duration:?} is too long to schedule")]
    OutOfRange {
        /// The duration given.
        duration: Duration,
    },
    /// The trigger has no due time at all (a cron schedule whose next match lies beyond the
    /// years jiff supports).
    #[error("the trigger {trigger:?} never fires")]
    NeverFires {
        /// The trigger given.
        trigger: Trigger,
    },
    /// The scheduler was shut down.
    #[error("the scheduler has been shut down")]
    Stopped,
}

/// The timer service: one per runtime, cheap to clone (an `Arc` inside).
///
/// Jobs fire in due order (ties in the order they were scheduled) on one tokio task that
/// keeps them in an ordered set, so scheduling and cancelling are O(log n).
///
/// The task stops on [`Scheduler::shutdown`] or when the last clone is dropped; pending
/// jobs then never fire.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use hassette_core::clock::Clock;
/// use hassette_core::scheduler::{Scheduler, Trigger};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let scheduler = Scheduler::new(Clock::system(), jiff::tz::TimeZone::UTC, Arc::new(|| None));
/// let handle = scheduler.schedule(
///     Trigger::Cron("0 7 * * *".parse()?),
///     Box::new(|_| true),
/// )?;
/// assert_eq!(scheduler.len(), 1);
/// handle.cancel();
/// assert_eq!(scheduler.len(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Scheduler {
    owner: Arc<Owner>,
}

/// Held only by [`Scheduler`] clones: when the last one goes, the task is stopped.
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.shutdown();
    }
}

impl Scheduler {
    /// Creates the scheduler and spawns its timer task on the current tokio runtime.
    ///
    /// `time_zone` interprets [`Trigger::Daily`] and [`Trigger::Cron`]; `sun` reports the
    /// next sunrise and sunset for the sun triggers.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as `tokio::spawn` does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hassette_core::clock::Clock;
    /// use hassette_core::scheduler::Scheduler;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scheduler = Scheduler::new(Clock::system(), jiff::tz::TimeZone::UTC, Arc::new(|| None));
    /// assert!(scheduler.is_empty());
    /// # }
    /// ```
    #[must_use]
    pub fn new(clock: Clock, time_zone: TimeZone, sun: SunSource) -> Self {
        let shared = Arc::new(Shared::new(clock, time_zone, sun));
        tokio::spawn(queue::run(Arc::clone(&shared)));
        Self {
            owner: Arc::new(Owner { shared }),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.shared
    }

    /// Schedules `job` to run when `trigger` says.
    ///
    /// # Errors
    ///
    /// [`ScheduleError::InThePast`] for an [`Trigger::At`] more than a second ago,
    /// [`ScheduleError::ZeroPeriod`] for [`Trigger::Every`] with a zero period,
    /// [`ScheduleError::OutOfRange`] for a duration that overflows the time range,
    /// [`ScheduleError::Stopped`] after [`Scheduler::shutdown`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use hassette_core::clock::Clock;
    /// use hassette_core::scheduler::{ScheduleError, Scheduler, Trigger};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let scheduler = Scheduler::new(Clock::system(), jiff::tz::TimeZone::UTC, Arc::new(|| None));
    /// let every = Trigger::Every { period: Duration::from_secs(60), first: None };
    /// let handle = scheduler.schedule(every, Box::new(|_| true))?;
    /// assert!(handle.is_active());
    ///
    /// let zero = Trigger::Every { period: Duration::ZERO, first: None };
    /// assert_eq!(scheduler.schedule(zero, Box::new(|_| true)).unwrap_err(), ScheduleError::ZeroPeriod);
    /// # Ok(()) }
    /// ```
    pub fn schedule(&self, trigger: Trigger, job: Job) -> Result<JobHandle, ScheduleError> {
        let shared = self.shared();
        let now = shared.clock.now();
        // The sun source is asked before taking the lock: it is not ours to call under it.
        let sun_plan = trigger
            .is_sun()
            .then(|| trigger.sun_plan(now, None, &shared.sun));
        let (id, active, _due) = shared.insert(trigger, job, |trigger, tz| match sun_plan {
            Some(plan) => Ok(plan),
            None => trigger.first(now, tz, &shared.sun),
        })?;
        Ok(JobHandle {
            id,
            active,
            shared: Arc::downgrade(shared),
        })
    }

    /// Sets the time zone for local-time triggers (Home Assistant's zone is known only after
    /// connecting).
    ///
    /// Existing [`Trigger::Daily`] and [`Trigger::Cron`] jobs are recomputed from now in the
    /// new zone; absolute triggers (in, at, every, sun) keep their due times. Since they are
    /// recomputed from now, a daily job that already ran today runs again today if its wall
    /// time comes later in the new zone.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hassette_core::clock::Clock;
    /// use hassette_core::scheduler::Scheduler;
    /// use jiff::tz::TimeZone;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let scheduler = Scheduler::new(Clock::system(), TimeZone::UTC, Arc::new(|| None));
    /// scheduler.set_time_zone(TimeZone::get("Europe/Amsterdam")?);
    /// assert_eq!(scheduler.now().time_zone().iana_name(), Some("Europe/Amsterdam"));
    /// # Ok(()) }
    /// ```
    pub fn set_time_zone(&self, tz: TimeZone) {
        debug!(time_zone = ?tz.iana_name(), "scheduler time zone set");
        self.shared().set_time_zone(tz);
    }

    /// The clock's current time in the scheduler's time zone.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hassette_core::clock::Clock;
    /// use hassette_core::scheduler::Scheduler;
    /// use jiff::{Timestamp, tz::TimeZone};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scheduler = Scheduler::new(Clock::manual(Timestamp::UNIX_EPOCH), TimeZone::UTC, Arc::new(|| None));
    /// assert_eq!(scheduler.now().timestamp(), Timestamp::UNIX_EPOCH);
    /// # }
    /// ```
    #[must_use]
    pub fn now(&self) -> Zoned {
        let shared = self.shared();
        let tz = shared.lock().tz.clone();
        shared.clock.now().to_zoned(tz)
    }

    /// The number of live jobs (scheduled and not yet finished or cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use hassette_core::{clock::Clock, scheduler::Scheduler};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scheduler = Scheduler::new(Clock::system(), jiff::tz::TimeZone::UTC, Arc::new(|| None));
    /// assert_eq!(scheduler.len(), 0);
    /// # }
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared().len()
    }

    /// Whether there are no live jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use hassette_core::{clock::Clock, scheduler::Scheduler};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scheduler = Scheduler::new(Clock::system(), jiff::tz::TimeZone::UTC, Arc::new(|| None));
    /// assert!(scheduler.is_empty());
    /// # }
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The earliest pending due time, if any job is pending. A test harness uses it to move a
    /// manual clock from one due time to the next, so that a repeating job fires at every
    /// point of a long stretch instead of once (the scheduler skips missed runs).
    ///
    /// This includes sun jobs' minute-by-minute re-reads of their source, which run no job.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use hassette_core::{clock::Clock, scheduler::{Scheduler, Trigger}};
    /// # use jiff::{Timestamp, tz::TimeZone};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let scheduler = Scheduler::new(Clock::manual(Timestamp::UNIX_EPOCH), TimeZone::UTC, Arc::new(|| None));
    /// scheduler.schedule(Trigger::In(Duration::from_secs(90)), Box::new(|_| true))?;
    /// assert_eq!(scheduler.next_due(), Some(Timestamp::from_second(90)?));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn next_due(&self) -> Option<Timestamp> {
        self.shared().next_due()
    }

    /// The trigger and next due time of the pending job `id` (for the status API).
    pub(crate) fn describe(&self, id: u64) -> Option<(Trigger, Timestamp)> {
        self.shared().describe(id)
    }

    /// Stops the timer task. Pending jobs never fire, their handles become inactive, and
    /// [`Scheduler::schedule`] returns [`ScheduleError::Stopped`] from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use hassette_core::{clock::Clock, scheduler::{ScheduleError, Scheduler, Trigger}};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let scheduler = Scheduler::new(Clock::system(), jiff::tz::TimeZone::UTC, Arc::new(|| None));
    /// let handle = scheduler.schedule(Trigger::In(Duration::from_secs(1)), Box::new(|_| true))?;
    /// scheduler.shutdown();
    /// assert!(!handle.is_active());
    /// let again = scheduler.schedule(Trigger::In(Duration::from_secs(1)), Box::new(|_| true));
    /// assert_eq!(again.unwrap_err(), ScheduleError::Stopped);
    /// # Ok(()) }
    /// ```
    pub fn shutdown(&self) {
        self.shared().shutdown();
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.shared();
        f.debug_struct("Scheduler")
            .field("clock", &shared.clock)
            .field("time_zone", &shared.lock().tz.iana_name())
            .field("jobs", &shared.len())
            .finish_non_exhaustive()
    }
}

/// A scheduled job: cancel it, or ask whether it is still pending.
///
/// Clones refer to the same job. **Dropping a handle does not cancel the job**: a
/// fire-and-forget timer needs no handle kept, and the app runtime cancels an app's jobs
/// when the app stops.
///
/// # Examples
///
/// ```
/// # use std::{sync::Arc, time::Duration};
/// # use hassette_core::{clock::Clock, scheduler::{Scheduler, Trigger}};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let scheduler = Scheduler::new(Clock::system(), jiff::tz::TimeZone::UTC, Arc::new(|| None));
/// let handle = scheduler.schedule(Trigger::In(Duration::from_secs(60)), Box::new(|_| true))?;
/// let copy = handle.clone();
/// copy.cancel();
/// assert!(!handle.is_active());
/// assert_eq!(handle.id(), copy.id());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JobHandle {
    id: u64,
    active: Arc<AtomicBool>,
    /// Weak, so that handles kept by apps do not keep a stopped scheduler's state alive.
    shared: Weak<Shared>,
}

impl JobHandle {
    /// Cancels the job: if it has not fired yet it never will, and a repeating job stops.
    /// Cancelling a finished or already cancelled job does nothing. Safe to call from inside
    /// a job (including the job itself).
    ///
    /// # Examples
    ///
    /// See [`JobHandle`].
    pub fn cancel(&self) {
        if !self.active.swap(false, Ordering::SeqCst) {
            return;
        }
        // The scheduler logs the cancel with the trigger; a stopped one has nothing to do.
        if let Some(shared) = self.shared.upgrade() {
            shared.remove(self.id);
        }
    }

    /// Whether the job is still pending: `false` once cancelled, after a one-shot job fired,
    /// after a job returned `false` or panicked, and after shutdown.
    ///
    /// # Examples
    ///
    /// See [`JobHandle`].
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// When the job fires next; `None` once it is done, while it runs, and while a sun job
    /// waits for its source to report the event.
    #[must_use]
    pub fn next_due(&self) -> Option<Timestamp> {
        if !self.is_active() {
            return None;
        }
        self.shared.upgrade()?.due_of(self.id)
    }

    /// The job's id, unique within its scheduler (also in the scheduler's debug logs).
    ///
    /// # Examples
    ///
    /// See [`JobHandle`].
    #[must_use]
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("id", &self.id)
            .field("active", &self.is_active())
            .finish()
    }
}
