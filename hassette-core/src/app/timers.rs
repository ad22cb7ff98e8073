//! [`AppScheduler`]: an app's timers, delivering its own messages; named jobs, jitter, and
//! the list of an instance's jobs.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::{App, AppContext};
use crate::bus::Delivery;
use crate::scheduler::{FireInfo, JobHandle, ScheduleError, Trigger};

/// One of an instance's jobs, as [`AppScheduler::jobs`] lists it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JobInfo {
    /// The name given with [`AppScheduler::named`], if any.
    pub name: Option<String>,
    /// When it fires.
    pub trigger: Trigger,
    /// When it fires next (`None` while a sun job waits for `sun.sun`).
    pub next_due: Option<Timestamp>,
    /// The handle, to cancel it.
    pub handle: JobHandle,
}

/// What the context keeps per job.
#[derive(Debug)]
pub(crate) struct TrackedJob {
    pub(crate) name: Option<String>,
    pub(crate) trigger: Trigger,
    pub(crate) handle: JobHandle,
}

/// An app's view of the scheduler: timers whose deliveries are the app's own messages. Every
/// timer is cancelled when the app stops.
///
/// ```ignore
/// // A later `named("porch_off")` job replaces this one: re-arming never doubles up.
/// ctx.scheduler().named("porch_off").run_in(Duration::from_secs(300), Msg::PorchOff)?;
/// // Every day at 07:00, up to 10 minutes later at random (not at the same second as
/// // every other house).
/// ctx.scheduler().jitter(Duration::from_secs(600)).run_daily(time(7, 0, 0, 0), Msg::Blinds)?;
/// ```
#[derive(Debug)]
pub struct AppScheduler<'a, A: App> {
    ctx: &'a AppContext<A>,
    name: Option<String>,
    jitter: Option<Duration>,
}

impl<'a, A: App> AppScheduler<'a, A> {
    pub(crate) fn new(ctx: &'a AppContext<A>) -> Self {
        Self {
            ctx,
            name: None,
            jitter: None,
        }
    }

    /// Names the next job: it replaces (cancels) this instance's active job of the same
    /// name, so re-arming a timer never leaves two.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Delays each delivery of the next job by a random time up to `max`.
    #[must_use]
    pub fn jitter(mut self, max: Duration) -> Self {
        self.jitter = Some(max);
        self
    }

    /// This instance's active jobs, oldest first.
    #[must_use]
    pub fn jobs(&self) -> Vec<JobInfo> {
        let mut jobs = self.ctx.jobs();
        jobs.retain(|j| j.handle.is_active());
        jobs.iter()
            .map(|j| JobInfo {
                name: j.name.clone(),
                trigger: j.trigger.clone(),
                next_due: j.handle.next_due(),
                handle: j.handle.clone(),
            })
            .collect()
    }

    /// Cancels this instance's job of that name; says whether there was one.
    pub fn cancel(&self, name: &str) -> bool {
        let mut jobs = self.ctx.jobs();
        let mut found = false;
        jobs.retain(|j| {
            let hit = j.name.as_deref() == Some(name) && j.handle.is_active();
            if hit {
                j.handle.cancel();
                found = true;
            }
            !hit && j.handle.is_active()
        });
        found
    }

    /// Schedules a job that delivers `make()` when due; `None` delivers nothing.
    fn schedule(
        &self,
        trigger: Trigger,
        mut make: impl FnMut() -> Option<A::Message> + Send + 'static,
    ) -> Result<JobHandle, ScheduleError> {
        let mailbox = self.ctx.mailbox().clone();
        let shared = self.ctx.shared();
        // Over the budget, the mailbox drops it and warns (the status API counts it); the
        // timer itself lives on.
        let (bus, owner) = (shared.bus.clone(), self.ctx.owner());
        let send = move |message: A::Message| match mailbox.deliver(message, 0) {
            Delivery::Sent => true,
            Delivery::Full => {
                bus.note_dropped(owner);
                true
            }
            Delivery::Closed => false,
        };
        let job: crate::scheduler::Job = match self.jitter.filter(|j| !j.is_zero()) {
            None => Box::new(move |_fired: FireInfo| make().is_none_or(&send)),
            Some(max) => {
                // Each fire delivers through a one-shot timer a random time later.
                let scheduler = shared.scheduler.clone();
                let send = Arc::new(send);
                Box::new(move |_fired: FireInfo| {
                    let Some(message) = make() else { return true };
                    let delay = Duration::from_nanos(fastrand::u64(
                        ..=u64::try_from(max.as_nanos()).unwrap_or(u64::MAX),
                    ));
                    let send = Arc::clone(&send);
                    let mut message = Some(message);
                    let later = Box::new(move |_: FireInfo| message.take().is_none_or(|m| send(m)));
                    scheduler.schedule(Trigger::In(delay), later).is_ok()
                })
            }
        };
        let handle = shared.scheduler.schedule(trigger.clone(), job)?;
        Ok(self.ctx.track(TrackedJob {
            name: self.name.clone(),
            trigger,
            handle,
        }))
    }

    fn once(&self, trigger: Trigger, message: A::Message) -> Result<JobHandle, ScheduleError> {
        let mut message = Some(message);
        self.schedule(trigger, move || message.take())
    }

    fn repeat(&self, trigger: Trigger, message: A::Message) -> Result<JobHandle, ScheduleError>
    where
        A::Message: Clone,
    {
        self.schedule(trigger, move || Some(message.clone()))
    }

    /// Delivers `message` once, after `delay`.
    ///
    /// # Errors
    ///
    /// The scheduler has stopped (the runtime is shutting down).
    pub fn run_in(&self, delay: Duration, message: A::Message) -> Result<JobHandle, ScheduleError> {
        self.once(Trigger::In(delay), message)
    }

    /// Delivers `message` once, at `at`.
    ///
    /// # Errors
    ///
    /// As [`AppScheduler::run_in`].
    pub fn run_at(&self, at: Timestamp, message: A::Message) -> Result<JobHandle, ScheduleError> {
        self.once(Trigger::At(at), message)
    }

    /// Delivers `message` every `period`, the first time one period from now.
    ///
    /// # Errors
    ///
    /// A zero period, or the scheduler has stopped.
    pub fn run_every(
        &self,
        period: Duration,
        message: A::Message,
    ) -> Result<JobHandle, ScheduleError>
    where
        A::Message: Clone,
    {
        self.repeat(
            Trigger::Every {
                period,
                first: None,
            },
            message,
        )
    }

    /// Delivers `message` every day at a local time in Home Assistant's time zone, DST-safe: a
    /// time skipped by a spring-forward change fires at the first valid instant after it, a
    /// time repeated by a fall-back change fires once.
    ///
    /// # Errors
    ///
    /// The scheduler has stopped.
    pub fn run_daily(
        &self,
        at: jiff::civil::Time,
        message: A::Message,
    ) -> Result<JobHandle, ScheduleError>
    where
        A::Message: Clone,
    {
        self.repeat(Trigger::Daily(at), message)
    }

    /// Delivers `message` on a cron schedule (5 fields, or 6 with seconds first), in Home
    /// Assistant's time zone.
    ///
    /// # Errors
    ///
    /// An invalid expression (naming the bad field), or the scheduler has stopped.
    pub fn run_cron(
        &self,
        expression: &str,
        message: A::Message,
    ) -> Result<JobHandle, ScheduleError>
    where
        A::Message: Clone,
    {
        self.repeat(Trigger::Cron(expression.parse()?), message)
    }

    /// Delivers `message` at every sunrise, shifted by `offset` (negative: before), as
    /// `sun.sun` reports it.
    ///
    /// # Errors
    ///
    /// The scheduler has stopped.
    pub fn run_at_sunrise(
        &self,
        offset: SignedDuration,
        message: A::Message,
    ) -> Result<JobHandle, ScheduleError>
    where
        A::Message: Clone,
    {
        self.repeat(Trigger::Sunrise { offset }, message)
    }

    /// Delivers `message` at every sunset, shifted by `offset`.
    ///
    /// # Errors
    ///
    /// The scheduler has stopped.
    pub fn run_at_sunset(
        &self,
        offset: SignedDuration,
        message: A::Message,
    ) -> Result<JobHandle, ScheduleError>
    where
        A::Message: Clone,
    {
        self.repeat(Trigger::Sunset { offset }, message)
    }

    /// Delivers `message` at every dawn (`sun.sun`'s `next_dawn`), shifted by `offset`.
    ///
    /// # Errors
    ///
    /// The scheduler has stopped.
    pub fn run_at_dawn(
        &self,
        offset: SignedDuration,
        message: A::Message,
    ) -> Result<JobHandle, ScheduleError>
    where
        A::Message: Clone,
    {
        self.repeat(Trigger::Dawn { offset }, message)
    }

    /// Delivers `message` at every dusk (`sun.sun`'s `next_dusk`), shifted by `offset`.
    ///
    /// # Errors
    ///
    /// The scheduler has stopped.
    pub fn run_at_dusk(
        &self,
        offset: SignedDuration,
        message: A::Message,
    ) -> Result<JobHandle, ScheduleError>
    where
        A::Message: Clone,
    {
        self.repeat(Trigger::Dusk { offset }, message)
    }
}
