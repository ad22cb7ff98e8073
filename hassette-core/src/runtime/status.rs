//! What a running runtime tells about itself: the process, every app instance (state, last
//! error, counters, handler times, subscriptions, timers) and health. The status API and
//! `hassette status` are built on [`StatusHandle`].
//!
//! Each instance's task updates its [`Tracker`] with a few atomic stores per message; reading
//! a snapshot never blocks an app.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::Serialize;

use super::Shared;
use super::control::{Control, ControlError, ReloadReport};
use super::timing::Timings;
use crate::bus::{OwnerId, SubscriptionInfo};
use crate::cache::AppCache;
use crate::ha::{Client, ConnectionState};
use crate::scheduler::{JobHandle, Trigger};

/// Where an app instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum InstanceState {
    /// `initialize` is running.
    Starting,
    /// Handling messages.
    Running,
    /// `initialize` failed, or a handler panicked: see the last error.
    Failed,
    /// Not running: disabled, stopped through the API, or shut down.
    Stopped,
}

impl InstanceState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Starting,
            1 => Self::Running,
            2 => Self::Failed,
            _ => Self::Stopped,
        }
    }

    /// The state as the API spells it: `starting`, `running`, `failed`, `stopped`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }
}

/// The last error an instance logged (a failed handler, init or panic), with its time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LastError {
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub message: String,
}

type JobSource = Box<dyn Fn() -> Vec<JobHandle> + Send + Sync>;

/// One app instance's live counters, shared by its task (which writes) and the status API.
pub(crate) struct Tracker {
    state: AtomicU8,
    handled: AtomicU64,
    restarts: AtomicU64,
    owner: AtomicU64,
    timed: bool,
    timings: Timings,
    last_error: Mutex<Option<LastError>>,
    started_at: Mutex<Option<Timestamp>>,
    jobs: Mutex<Option<JobSource>>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("state", &self.state())
            .field("handled", &self.handled.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Tracker {
    /// A tracker of a stopped instance; `timed`: whether handler times are measured.
    pub(crate) fn new(timed: bool) -> Self {
        Self {
            state: AtomicU8::new(3),
            handled: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            owner: AtomicU64::new(0),
            timed,
            timings: Timings::default(),
            last_error: Mutex::new(None),
            started_at: Mutex::new(None),
            jobs: Mutex::new(None),
        }
    }

    pub(crate) fn state(&self) -> InstanceState {
        InstanceState::from_u8(self.state.load(Ordering::SeqCst))
    }

    fn set_state(&self, state: InstanceState) {
        self.state.store(state as u8, Ordering::SeqCst);
    }

    /// The task started: `initialize` runs now. `jobs` lists its pending timers.
    pub(crate) fn starting(&self, owner: OwnerId, jobs: JobSource) {
        if lock(&self.started_at).is_some() {
            self.restarts.fetch_add(1, Ordering::Relaxed);
        }
        *lock(&self.started_at) = Some(Timestamp::now());
        self.owner.store(owner, Ordering::SeqCst);
        *lock(&self.jobs) = Some(jobs);
        self.set_state(InstanceState::Starting);
    }

    pub(crate) fn running(&self) {
        self.set_state(InstanceState::Running);
    }

    /// An error the instance survives (a handler returned `Err`).
    pub(crate) fn error(&self, message: String) {
        *lock(&self.last_error) = Some(LastError {
            at: Timestamp::now(),
            message,
        });
    }

    /// The instance stopped because of `message`.
    pub(crate) fn failed(&self, message: String) {
        self.error(message);
        self.ended(InstanceState::Failed);
    }

    /// The task is over (`Stopped` or `Failed`): it has no timers any more.
    pub(crate) fn ended(&self, state: InstanceState) {
        *lock(&self.jobs) = None;
        self.set_state(state);
    }

    /// Whether handler times are measured (the web server is on).
    pub(crate) fn timed(&self) -> bool {
        self.timed
    }

    /// One message handled, in `took` (when timed).
    pub(crate) fn handled(&self, took: Option<Duration>) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        if let Some(took) = took {
            self.timings.record(took);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A pending timer of an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TimerInfo {
    /// The job id (also in the scheduler's debug logs).
    pub id: u64,
    /// What it is, e.g. `every 1m`, `daily at 21:30:00`, `cron 0 7 * * *`.
    pub trigger: String,
    /// When it fires next.
    pub next_fire: Timestamp,
}

/// One app instance, as the status API shows it.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct InstanceStatus {
    /// The app key.
    pub app: String,
    /// The instance name.
    pub instance: String,
    /// The app class.
    pub class: String,
    /// Whether the configuration enables it (and `--app` selects it).
    pub enabled: bool,
    /// Where it is in its life.
    pub state: InstanceState,
    /// When it last started.
    pub started_at: Option<Timestamp>,
    /// Times it was started again after the first start.
    pub restarts: u64,
    /// The last error, with its time.
    pub last_error: Option<LastError>,
    /// Messages handled (since the process started).
    pub handled: u64,
    /// Messages dropped because its mailbox was full.
    pub dropped: u64,
    /// Median handler time in microseconds (since the process started; `None` before the
    /// first message, or with the web server off).
    pub handler_p50_us: Option<u64>,
    /// 99th percentile handler time in microseconds.
    pub handler_p99_us: Option<u64>,
    /// Its live subscriptions.
    pub subscriptions: Vec<SubscriptionInfo>,
    /// Its pending timers, soonest first.
    pub timers: Vec<TimerInfo>,
}

/// The process, as the status API shows it.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ProcessStatus {
    /// Hassette's version.
    pub version: &'static str,
    /// The process id.
    pub pid: u32,
    /// Where this process keeps caches and logs (tools check they talk to the right one).
    pub data_dir: std::path::PathBuf,
    /// When the runtime started.
    pub started_at: Timestamp,
    /// Seconds since then.
    pub uptime_secs: u64,
    /// `connected`, `reconnecting`, `auth_failed` or `closed`.
    pub connection: &'static str,
    /// Home Assistant's version.
    pub ha_version: Option<String>,
    /// Entities in the states view.
    pub entities: usize,
    /// Events dispatched to the apps since the start.
    pub events_total: u64,
    /// Events per second over the last minute (or since the start, if sooner).
    pub events_per_sec: f64,
    /// Events dropped: app mailboxes that were full, plus events the connection dropped in a
    /// flood.
    pub dropped_events: u64,
    /// App instances by state.
    pub instances: InstanceCounts,
}

/// How many instances are in each state.
#[derive(Clone, Copy, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct InstanceCounts {
    /// Starting.
    pub starting: usize,
    /// Running.
    pub running: usize,
    /// Failed.
    pub failed: usize,
    /// Stopped.
    pub stopped: usize,
}

/// `/healthz`: healthy when connected and every enabled instance runs.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// Whether all is well.
    pub healthy: bool,
    /// What is not, one line each (empty when healthy).
    pub reasons: Vec<String>,
}

/// One app class's cache, as the runtime knows it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClassCache {
    /// The class name.
    pub class: String,
    /// Its cache directory.
    pub dir: std::path::PathBuf,
    /// The size limit that applies.
    pub size_limit: u64,
}

/// A cheap, cloneable view into a running [`Runtime`](super::Runtime), and its controls.
#[derive(Clone, Debug)]
pub struct StatusHandle {
    pub(crate) control: Arc<Control>,
    pub(crate) client: Client,
    pub(crate) shared: Shared,
    pub(crate) started_at: Timestamp,
    pub(crate) started: Instant,
    samples: Arc<Mutex<VecDeque<(Instant, u64)>>>,
}

impl StatusHandle {
    pub(crate) fn new(control: Arc<Control>, client: Client, shared: Shared) -> Self {
        Self {
            control,
            client,
            shared,
            started_at: Timestamp::now(),
            started: Instant::now(),
            samples: Arc::new(Mutex::new(VecDeque::new())),
        }
    }

    /// The process: version, uptime, connection, Home Assistant, event rates.
    #[must_use]
    pub fn process(&self) -> ProcessStatus {
        let events_total = self.shared.bus.dispatched();
        let mut counts = InstanceCounts::default();
        for slot in self.control.slots() {
            match slot.tracker.state() {
                InstanceState::Starting => counts.starting += 1,
                InstanceState::Running => counts.running += 1,
                InstanceState::Failed => counts.failed += 1,
                InstanceState::Stopped => counts.stopped += 1,
            }
        }
        ProcessStatus {
            version: env!("CARGO_PKG_VERSION"),
            pid: std::process::id(),
            data_dir: self.control.data_dir(),
            started_at: self.started_at,
            uptime_secs: self.started.elapsed().as_secs(),
            connection: connection_name(self.client.state()),
            ha_version: self.client.ha_version().map(str::to_owned),
            entities: self.shared.states.len(),
            events_total,
            events_per_sec: self.rate(events_total),
            dropped_events: self.shared.bus.dropped() + self.client.dropped_events(),
            instances: counts,
        }
    }

    /// Events per second over the last minute: samples are kept at most once a second, so
    /// nothing runs between requests.
    fn rate(&self, total: u64) -> f64 {
        let now = Instant::now();
        let mut samples = lock(&self.samples);
        if samples
            .back()
            .is_none_or(|(t, _)| now.duration_since(*t) >= Duration::from_secs(1))
        {
            samples.push_back((now, total));
        }
        while samples.len() > 2
            && samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(60))
        {
            samples.pop_front();
        }
        let (since, base) = match samples.front() {
            Some(&(t, n)) if now.duration_since(t) >= Duration::from_secs(1) => (t, n),
            _ => (self.started, 0),
        };
        let secs = now.duration_since(since).as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = total.saturating_sub(base) as f64 / secs;
        (rate * 100.0).round() / 100.0
    }

    /// Every app instance, in configuration order.
    #[must_use]
    pub fn instances(&self) -> Vec<InstanceStatus> {
        self.control
            .slots()
            .iter()
            .map(|slot| self.describe(slot))
            .collect()
    }

    /// One app instance.
    #[must_use]
    pub fn instance(&self, app: &str, instance: &str) -> Option<InstanceStatus> {
        self.control
            .find(app, instance)
            .map(|slot| self.describe(&slot))
    }

    fn describe(&self, slot: &super::control::Slot) -> InstanceStatus {
        let t = &slot.tracker;
        let state = t.state();
        let owner = t.owner.load(Ordering::SeqCst);
        let live = matches!(state, InstanceState::Starting | InstanceState::Running);
        let jobs = lock(&t.jobs).as_ref().map(|f| f()).unwrap_or_default();
        let mut timers: Vec<TimerInfo> = jobs
            .iter()
            .filter_map(|job| {
                let (trigger, due) = self.shared.scheduler.describe(job.id())?;
                Some(TimerInfo {
                    id: job.id(),
                    trigger: describe_trigger(&trigger),
                    next_fire: due,
                })
            })
            .collect();
        timers.sort_by_key(|t| t.next_fire);
        InstanceStatus {
            app: slot.key.clone(),
            instance: slot.instance.clone(),
            class: slot.class.name().to_owned(),
            enabled: slot.enabled(),
            state,
            started_at: *lock(&t.started_at),
            restarts: t.restarts.load(Ordering::Relaxed),
            last_error: lock(&t.last_error).clone(),
            handled: t.handled.load(Ordering::Relaxed),
            dropped: if owner == 0 {
                0
            } else {
                self.shared.bus.dropped_of(owner)
            },
            handler_p50_us: t.timings.quantile(0.5),
            handler_p99_us: t.timings.quantile(0.99),
            subscriptions: if live {
                self.shared.bus.subscriptions_of(owner)
            } else {
                Vec::new()
            },
            timers,
        }
    }

    /// Healthy when connected to Home Assistant and every enabled instance runs.
    #[must_use]
    pub fn health(&self) -> Health {
        let mut reasons = Vec::new();
        let state = self.client.state();
        if state != ConnectionState::Connected {
            reasons.push(format!(
                "Home Assistant connection: {}",
                connection_name(state)
            ));
        }
        for slot in self.control.slots() {
            let s = slot.tracker.state();
            if slot.enabled() && s != InstanceState::Running {
                let why = lock(&slot.tracker.last_error)
                    .as_ref()
                    .map(|e| format!(": {}", e.message))
                    .unwrap_or_default();
                reasons.push(format!(
                    "{}/{} is {}{why}",
                    slot.key,
                    slot.instance,
                    s.as_str()
                ));
            }
        }
        Health {
            healthy: reasons.is_empty(),
            reasons,
        }
    }

    /// Stops and starts one instance again (with its current configuration).
    ///
    /// # Errors
    ///
    /// [`ControlError::UnknownInstance`], or why it did not start again.
    pub async fn restart(&self, app: &str, instance: &str) -> Result<InstanceState, ControlError> {
        let slot = self.control.get(app, instance)?;
        self.control.restart(&slot).await
    }

    /// Stops one instance (its shutdown hook runs).
    ///
    /// # Errors
    ///
    /// [`ControlError::UnknownInstance`] or [`ControlError::NotRunning`].
    pub async fn stop(&self, app: &str, instance: &str) -> Result<InstanceState, ControlError> {
        let slot = self.control.get(app, instance)?;
        self.control.stop(&slot).await
    }

    /// Starts one stopped (or failed, or disabled) instance.
    ///
    /// # Errors
    ///
    /// [`ControlError::UnknownInstance`], [`ControlError::AlreadyRunning`], or why it failed.
    pub async fn start(&self, app: &str, instance: &str) -> Result<InstanceState, ControlError> {
        let slot = self.control.get(app, instance)?;
        self.control.start(&slot).await
    }

    /// Reads `hassette.toml` again and applies app changes: instances whose settings changed
    /// restart, new ones start, removed or disabled ones stop. Changes to `[hassette]` itself
    /// need a restart of the process and are listed in the report.
    ///
    /// # Errors
    ///
    /// [`ControlError::NoReload`] when the runtime was started without a way to read the
    /// file, or [`ControlError::Reload`] with the configuration errors (nothing is changed).
    pub async fn reload(&self) -> Result<ReloadReport, ControlError> {
        self.control.reload().await
    }

    /// Every configured app class, with its cache directory and size limit.
    #[must_use]
    pub fn cache_classes(&self) -> Vec<ClassCache> {
        self.control.cache_classes()
    }

    /// The cache of a configured app class (opened on first use, shared with its apps).
    #[must_use]
    pub fn cache(&self, class: &str) -> Option<AppCache> {
        let info = self
            .cache_classes()
            .into_iter()
            .find(|c| c.class == class)?;
        Some(
            self.shared
                .caches
                .app_cache(&info.class, info.size_limit, "hassette-web"),
        )
    }

    /// The log store's directory.
    #[must_use]
    pub fn logs_dir(&self) -> std::path::PathBuf {
        self.control.logs_dir()
    }
}

fn connection_name(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Connected => "connected",
        ConnectionState::Reconnecting => "reconnecting",
        ConnectionState::AuthFailed => "auth_failed",
        _ => "closed",
    }
}

fn describe_trigger(trigger: &Trigger) -> String {
    use crate::bus::human_duration;
    match trigger {
        Trigger::In(d) => format!("in {}", human_duration(*d)),
        Trigger::At(t) => format!("at {t}"),
        Trigger::Every { period, .. } => format!("every {}", human_duration(*period)),
        Trigger::Daily(time) => format!("daily at {time}"),
        Trigger::Cron(c) => format!("cron {c}"),
        Trigger::Sunrise { offset } if offset.is_zero() => "at sunrise".to_owned(),
        Trigger::Sunrise { offset } => format!("at sunrise {offset}"),
        Trigger::Sunset { offset } if offset.is_zero() => "at sunset".to_owned(),
        Trigger::Sunset { offset } => format!("at sunset {offset}"),
        Trigger::Dawn { offset } if offset.is_zero() => "at dawn".to_owned(),
        Trigger::Dawn { offset } => format!("at dawn {offset}"),
        Trigger::Dusk { offset } if offset.is_zero() => "at dusk".to_owned(),
        Trigger::Dusk { offset } => format!("at dusk {offset}"),
    }
}
