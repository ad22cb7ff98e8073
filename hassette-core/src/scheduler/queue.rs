//! The job table, the due queue, and the one timer task that fires jobs.
//!
//! Modelled on mini-redis `purge_expired_tasks`: a `BTreeSet<(due, id)>` ordered by due time
//! and a `Notify` that wakes the task when an earlier job arrives. Everything sits behind one
//! std `Mutex`, held only for map and set operations and never across an `.await` or while a
//! job runs, so a job may schedule or cancel other jobs (or itself).

use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use tokio::sync::Notify;
use tracing::{debug, error, trace, warn};

use super::trigger::Plan;
use super::{FireInfo, Job, SunSource, Trigger};
use crate::clock::Clock;

/// The longest the timer task sleeps before looking at the clock again, so that wall-clock
/// jumps (NTP, suspend, a manual test clock moved without tokio time) are noticed.
pub(super) const MAX_SLEEP: Duration = Duration::from_secs(30);

/// How many jobs the task fires before yielding to the runtime, so a burst of due jobs does
/// not hold a worker thread.
const FIRE_BUDGET: usize = 64;

pub(super) struct Entry {
    pub(super) trigger: Trigger,
    /// `None` while the job runs on the timer task (it is taken out so the lock is free).
    job: Option<Job>,
    due: Timestamp,
    /// `false` for a sun job's poll: at `due` the source is asked again, the job is not run.
    fires: bool,
    /// The sun event the pending fire is for, and the one the job last fired for.
    sun_event: Option<Timestamp>,
    last_sun_event: Option<Timestamp>,
    active: Arc<AtomicBool>,
}

pub(super) struct State {
    jobs: HashMap<u64, Entry>,
    queue: BTreeSet<(Timestamp, u64)>,
    pub(super) tz: TimeZone,
    next_id: u64,
    stopped: bool,
}

pub(super) struct Shared {
    state: Mutex<State>,
    notify: Notify,
    pub(super) clock: Clock,
    pub(super) sun: SunSource,
}

/// What the timer task does after a round of firing.
enum Next {
    /// Sleep until this long from now (or a notification).
    Sleep(Option<Duration>),
    /// The fire budget ran out with more jobs due.
    Yield,
    Stop,
}

impl Shared {
    pub(super) fn new(clock: Clock, tz: TimeZone, sun: SunSource) -> Self {
        Self {
            state: Mutex::new(State {
                jobs: HashMap::new(),
                queue: BTreeSet::new(),
                tz,
                next_id: 1,
                stopped: false,
            }),
            notify: Notify::new(),
            clock,
            sun,
        }
    }

    /// The state; a job that panicked is caught outside the lock, so poisoning can only come
    /// from a bug here, and the data stays consistent enough to go on.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a job whose first plan is already computed; returns its id and active flag.
    pub(super) fn insert(
        &self,
        trigger: Trigger,
        job: Job,
        plan: impl FnOnce(&Trigger, &TimeZone) -> Result<Plan, super::ScheduleError>,
    ) -> Result<(u64, Arc<AtomicBool>, Timestamp), super::ScheduleError> {
        let mut st = self.lock();
        if st.stopped {
            return Err(super::ScheduleError::Stopped);
        }
        let plan = plan(&trigger, &st.tz)?;
        let Some(due) = plan.due() else {
            // Only a cron schedule beyond jiff's range gets here.
            return Err(super::ScheduleError::NeverFires { trigger });
        };
        let id = st.next_id;
        st.next_id += 1;
        let active = Arc::new(AtomicBool::new(true));
        let (fires, sun_event) = match plan {
            Plan::Fire { sun_event, .. } => (true, sun_event),
            _ => (false, None),
        };
        debug!(job = id, trigger = ?trigger, due = %due, fires, "job scheduled");
        st.jobs.insert(
            id,
            Entry {
                trigger,
                job: Some(job),
                due,
                fires,
                sun_event,
                last_sun_event: None,
                active: Arc::clone(&active),
            },
        );
        st.queue.insert((due, id));
        let first = st.queue.first() == Some(&(due, id));
        drop(st);
        // Like mini-redis `Db::set`: only an earlier deadline needs to wake the task.
        if first {
            self.notify.notify_one();
        }
        Ok((id, active, due))
    }

    /// Removes a job (cancel). Returns whether it was still there.
    pub(super) fn remove(&self, id: u64) -> bool {
        let mut st = self.lock();
        let Some(entry) = st.jobs.remove(&id) else {
            return false;
        };
        entry.active.store(false, Ordering::SeqCst);
        st.queue.remove(&(entry.due, id));
        drop(st);
        debug!(job = id, trigger = ?entry.trigger, due = %entry.due, "job cancelled");
        // The job (a closure owning, say, a mailbox sender) is dropped outside the lock.
        drop(entry);
        true
    }

    pub(super) fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    /// When job `id` fires next (a sun job's re-read of its source counts as not firing).
    pub(super) fn due_of(&self, id: u64) -> Option<Timestamp> {
        self.lock().jobs.get(&id).filter(|e| e.fires).map(|e| e.due)
    }

    /// A pending job's trigger and next due time (a sun job's next re-read counts as due).
    pub(super) fn describe(&self, id: u64) -> Option<(Trigger, Timestamp)> {
        self.lock()
            .jobs
            .get(&id)
            .map(|e| (e.trigger.clone(), e.due))
    }

    pub(super) fn next_due(&self) -> Option<Timestamp> {
        self.lock().queue.first().map(|(due, _)| *due)
    }

    /// Sets the time zone and moves every local-time job to its due time in the new zone.
    pub(super) fn set_time_zone(&self, tz: TimeZone) {
        let now = self.clock.now();
        let mut st = self.lock();
        st.tz = tz;
        let State {
            jobs, queue, tz, ..
        } = &mut *st;
        for (id, entry) in jobs.iter_mut() {
            // A running job (job is None) is planned with the new zone when it returns.
            if !entry.trigger.is_local() || entry.job.is_none() {
                continue;
            }
            if let Some(due) = entry.trigger.local_after(now, tz).due() {
                queue.remove(&(entry.due, *id));
                debug!(job = id, trigger = ?entry.trigger, due = %due, "job moved to the new time zone");
                entry.due = due;
                queue.insert((due, *id));
            }
        }
        drop(st);
        self.notify.notify_one();
    }

    /// Stops the task and drops every pending job; their handles become inactive.
    pub(super) fn shutdown(&self) {
        let mut st = self.lock();
        if st.stopped {
            return;
        }
        st.stopped = true;
        st.queue.clear();
        let jobs = std::mem::take(&mut st.jobs);
        drop(st);
        for entry in jobs.values() {
            entry.active.store(false, Ordering::SeqCst);
        }
        debug!(dropped = jobs.len(), "scheduler shut down");
        drop(jobs);
        self.notify.notify_one();
    }

    /// Fires due jobs in due order, up to the budget.
    fn fire_due(&self) -> Next {
        for _ in 0..FIRE_BUDGET {
            let now = self.clock.now();
            let (id, due, mut job, trigger, fires, last_sun_event, sun_event) = {
                let mut st = self.lock();
                if st.stopped {
                    return Next::Stop;
                }
                let Some(&(due, id)) = st.queue.first() else {
                    return Next::Sleep(None);
                };
                if due > now {
                    let wait = Duration::try_from(due.duration_since(now)).unwrap_or_default();
                    return Next::Sleep(Some(wait));
                }
                st.queue.pop_first();
                let Some(entry) = st.jobs.get_mut(&id) else {
                    continue;
                };
                let Some(job) = entry.job.take() else {
                    continue;
                };
                (
                    id,
                    due,
                    job,
                    entry.trigger.clone(),
                    entry.fires,
                    entry.last_sun_event,
                    entry.sun_event,
                )
            };

            // The job runs without the lock, so it may schedule or cancel (even itself).
            let (keep, fired_event) = if fires {
                let info = FireInfo {
                    scheduled: due,
                    fired: now,
                };
                match catch_unwind(AssertUnwindSafe(|| job(info))) {
                    Ok(true) => (true, sun_event),
                    Ok(false) => {
                        warn!(job = id, trigger = ?trigger, "job's target is gone; job removed");
                        (false, sun_event)
                    }
                    Err(_) => {
                        error!(job = id, trigger = ?trigger, "job panicked; job removed");
                        (false, sun_event)
                    }
                }
            } else {
                trace!(job = id, trigger = ?trigger, "sun job asks its source again");
                (true, last_sun_event)
            };

            // Sun jobs ask their source outside the lock; it is not ours to hold it over.
            let sun_plan = (keep && trigger.is_sun())
                .then(|| trigger.sun_plan(self.clock.now(), fired_event, &self.sun));

            let mut st = self.lock();
            let tz = st.tz.clone();
            let plan = match sun_plan {
                Some(plan) => plan,
                None if keep => trigger.after_fire(due, now, &tz),
                None => Plan::Done,
            };
            if fires {
                debug!(job = id, trigger = ?trigger, scheduled = %due, fired = %now, next = ?plan.due(), "job fired");
            }
            let still_there = st
                .jobs
                .get(&id)
                .is_some_and(|e| e.active.load(Ordering::SeqCst));
            match plan.due() {
                Some(due) if still_there && !st.stopped => {
                    if let Some(entry) = st.jobs.get_mut(&id) {
                        entry.job = Some(job);
                        entry.due = due;
                        entry.fires = matches!(plan, Plan::Fire { .. });
                        entry.sun_event = sun_event_of(plan);
                        entry.last_sun_event = fired_event;
                    }
                    st.queue.insert((due, id));
                }
                _ => {
                    // Done, cancelled while running, target gone, or shut down.
                    let entry = st.jobs.remove(&id);
                    drop(st);
                    if let Some(entry) = &entry {
                        entry.active.store(false, Ordering::SeqCst);
                    }
                    drop(entry);
                    drop(job);
                }
            }
        }
        Next::Yield
    }
}

fn sun_event_of(plan: Plan) -> Option<Timestamp> {
    match plan {
        Plan::Fire { sun_event, .. } => sun_event,
        _ => None,
    }
}

/// The timer task: fire what is due, then sleep until the next due time (at most
/// [`MAX_SLEEP`]) or until woken by a new earlier job, a time zone change or shutdown.
pub(super) async fn run(shared: Arc<Shared>) {
    // A manual clock (tests, the app harness) says when it moves; the system clock never does.
    let mut clock_moves = shared.clock.watch();
    loop {
        if let Some(rx) = &mut clock_moves {
            rx.mark_unchanged();
        }
        let wait = match shared.fire_due() {
            Next::Stop => break,
            Next::Yield => {
                tokio::task::yield_now().await;
                continue;
            }
            Next::Sleep(wait) => wait,
        };
        match wait {
            Some(wait) => {
                tokio::select! {
                    () = tokio::time::sleep(wait.min(MAX_SLEEP)) => {}
                    () = shared.notify.notified() => {}
                    () = clock_moved(&mut clock_moves) => {}
                }
            }
            // `Notify` keeps a permit, so a job scheduled between `fire_due` and here is not
            // missed.
            None => tokio::select! {
                () = shared.notify.notified() => {}
                () = clock_moved(&mut clock_moves) => {}
            },
        }
    }
    debug!("scheduler task stopped");
}

/// Resolves when a manual clock moves; never for the system clock (or a dropped one).
async fn clock_moved(rx: &mut Option<tokio::sync::watch::Receiver<Timestamp>>) {
    if let Some(r) = rx.as_mut() {
        if r.changed().await.is_ok() {
            return;
        }
        // The clock is gone: stop watching it.
        *rx = None;
    }
    std::future::pending().await
}
