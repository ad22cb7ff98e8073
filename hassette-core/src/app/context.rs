//! [`AppContext`]: everything an app instance reaches through `self`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use jiff::Zoned;
use tokio::sync::mpsc;

use super::App;
use crate::bus::{Bus, Delivery, EventSubscriptionBuilder, OwnerId, StateSubscriptionBuilder};
use crate::cache::{AppCache, CacheRegistry};
use crate::ha::{Api, StateChanged};
use crate::scheduler::{JobHandle, Scheduler};
use crate::state::States;

/// What arrives in an app instance's mailbox.
pub(crate) enum Envelope<M> {
    /// The app's own message, from a subscription, a timer or `send`.
    Message(M),
    /// The connection came back; these entities changed while it was away.
    Reconnected(Arc<[StateChanged]>),
}

/// Counts of messages put into mailboxes and handled, across the runtime: equal counts mean
/// every app is idle (the test harness waits for that).
#[derive(Debug, Default)]
pub(crate) struct Activity {
    pub(crate) enqueued: AtomicU64,
    pub(crate) handled: AtomicU64,
}

/// The runtime's shared parts an app instance is given.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub(crate) api: Api,
    pub(crate) states: States,
    pub(crate) bus: Bus,
    pub(crate) scheduler: Scheduler,
    pub(crate) caches: CacheRegistry,
    pub(crate) activity: Arc<Activity>,
}

/// Everything an app instance reaches: its identity, the Home Assistant [`Api`], the
/// [`States`] view, the bus, the scheduler, the clock and the cache.
///
/// Cheap to clone. Keep it in your app struct and return it from [`App::context`]; the
/// accessors on `self` (`self.api()`, `self.bus()`, ...) come from there.
pub struct AppContext<A: App> {
    inner: Arc<Inner<A>>,
}

impl<A: App> Clone for AppContext<A> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<A: App> std::fmt::Debug for AppContext<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppContext")
            .field("app", &self.inner.key)
            .field("class", &A::class_name())
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

struct Inner<A: App> {
    key: String,
    instance: String,
    cache: AppCache,
    owner: OwnerId,
    shared: Shared,
    mailbox: mpsc::Sender<Envelope<A::Message>>,
    jobs: Mutex<Vec<JobHandle>>,
}

impl<A: App> AppContext<A> {
    pub(crate) fn new(
        key: String,
        instance: String,
        owner: OwnerId,
        shared: Shared,
        mailbox: mpsc::Sender<Envelope<A::Message>>,
        cache_size: u64,
    ) -> Self {
        // Lazy: the cache directory appears only when the app first touches its cache.
        let cache = shared
            .caches
            .app_cache(A::class_name(), cache_size, &instance);
        Self {
            inner: Arc::new(Inner {
                key,
                instance,
                cache,
                owner,
                shared,
                mailbox,
                jobs: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The app key (`porch_light` in `[hassette.apps.porch_light]`).
    #[must_use]
    pub fn app_key(&self) -> &str {
        &self.inner.key
    }

    /// This instance's name (`instance_name`, or `<ClassName>.<index>`).
    #[must_use]
    pub fn instance_name(&self) -> &str {
        &self.inner.instance
    }

    /// The Home Assistant API: service calls, events, templates.
    #[must_use]
    pub fn api(&self) -> &Api {
        &self.inner.shared.api
    }

    /// This app class's persistent cache (shared by every instance of the class; use
    /// [`AppCache::scoped_key`] for per-instance keys). Opened on first use.
    #[must_use]
    pub fn cache(&self) -> &AppCache {
        &self.inner.cache
    }

    /// Every entity's current state.
    #[must_use]
    pub fn states(&self) -> &States {
        &self.inner.shared.states
    }

    /// The current time in Home Assistant's time zone.
    #[must_use]
    pub fn now(&self) -> Zoned {
        self.inner.shared.scheduler.now()
    }

    /// Subscriptions to state changes and events, delivered as this app's messages.
    #[must_use]
    pub fn bus(&self) -> AppBus<'_, A> {
        AppBus { ctx: self }
    }

    /// Timers that deliver this app's messages.
    #[must_use]
    pub fn scheduler(&self) -> AppScheduler<'_, A> {
        AppScheduler { ctx: self }
    }

    /// Puts a message in this app's own mailbox (handled after the current handler returns).
    ///
    /// Returns `false` if the mailbox is full or the app has stopped.
    pub fn send(&self, message: A::Message) -> bool {
        self.deliver(message) == Delivery::Sent
    }

    fn deliver(&self, message: A::Message) -> Delivery {
        deliver(&self.inner.mailbox, &self.inner.shared.activity, message)
    }

    fn sink(&self) -> crate::bus::Target<A::Message> {
        let mailbox = self.inner.mailbox.clone();
        let activity = Arc::clone(&self.inner.shared.activity);
        crate::bus::Target {
            bus: self.inner.shared.bus.clone(),
            owner: self.inner.owner,
            owner_name: format!("{}/{}", self.inner.key, self.inner.instance),
            sink: Arc::new(move |m| deliver(&mailbox, &activity, m)),
        }
    }

    fn track(&self, job: JobHandle) -> JobHandle {
        let mut jobs = self
            .inner
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        jobs.retain(JobHandle::is_active);
        jobs.push(job.clone());
        job
    }

    /// This instance's pending timers (for the status API).
    pub(crate) fn pending_jobs(&self) -> Vec<JobHandle> {
        let jobs = self
            .inner
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        jobs.iter().filter(|j| j.is_active()).cloned().collect()
    }

    /// Cancels every subscription and timer of this instance (it has stopped).
    pub(crate) fn stop(&self) {
        self.inner.shared.bus.remove_owner(self.inner.owner);
        for job in self
            .inner
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            job.cancel();
        }
    }
}

pub(crate) fn deliver<M>(
    mailbox: &mpsc::Sender<Envelope<M>>,
    activity: &Activity,
    message: M,
) -> Delivery {
    deliver_envelope(mailbox, activity, Envelope::Message(message))
}

/// Puts anything in a mailbox, counting it for the runtime's idle check.
pub(crate) fn deliver_envelope<M>(
    mailbox: &mpsc::Sender<Envelope<M>>,
    activity: &Activity,
    envelope: Envelope<M>,
) -> Delivery {
    // Counted before sending, so the harness never sees a handled count ahead of the queue.
    activity.enqueued.fetch_add(1, Ordering::SeqCst);
    match mailbox.try_send(envelope) {
        Ok(()) => Delivery::Sent,
        Err(e) => {
            activity.enqueued.fetch_sub(1, Ordering::SeqCst);
            match e {
                mpsc::error::TrySendError::Full(_) => Delivery::Full,
                mpsc::error::TrySendError::Closed(_) => Delivery::Closed,
            }
        }
    }
}

/// Entity ids for a subscription: one (`"light.porch"`), a glob (`"light.*"`), or a list.
pub trait IntoEntities {
    /// The ids or globs.
    fn into_entities(self) -> Vec<String>;
}

impl IntoEntities for &str {
    fn into_entities(self) -> Vec<String> {
        vec![self.to_owned()]
    }
}

impl IntoEntities for String {
    fn into_entities(self) -> Vec<String> {
        vec![self]
    }
}

impl IntoEntities for &String {
    fn into_entities(self) -> Vec<String> {
        vec![self.clone()]
    }
}

impl IntoEntities for Vec<String> {
    fn into_entities(self) -> Vec<String> {
        self
    }
}

impl IntoEntities for &[String] {
    fn into_entities(self) -> Vec<String> {
        self.to_vec()
    }
}

impl IntoEntities for &[&str] {
    fn into_entities(self) -> Vec<String> {
        self.iter().map(|s| (*s).to_owned()).collect()
    }
}

impl<const N: usize> IntoEntities for [&str; N] {
    fn into_entities(self) -> Vec<String> {
        self.iter().map(|s| (*s).to_owned()).collect()
    }
}

/// An app's view of the bus: subscriptions whose deliveries are the app's own messages.
#[derive(Debug)]
pub struct AppBus<'a, A: App> {
    ctx: &'a AppContext<A>,
}

impl<A: App> AppBus<'_, A> {
    /// State changes of one entity, a list, or a glob (`"light.*"`).
    ///
    /// ```ignore
    /// self.bus().on_state_change("binary_sensor.porch_motion").to("on").send(Msg::Motion);
    /// ```
    pub fn on_state_change(
        &self,
        entities: impl IntoEntities,
    ) -> StateSubscriptionBuilder<A::Message> {
        StateSubscriptionBuilder::new(self.ctx.sink(), entities.into_entities())
    }

    /// Home Assistant events of one type (`"my_event"`), optionally filtered by their data.
    /// The runtime subscribes to that type at Home Assistant on first use.
    pub fn on_event(&self, event_type: &str) -> EventSubscriptionBuilder<A::Message> {
        EventSubscriptionBuilder::new(
            self.ctx.sink(),
            event_type.to_owned(),
            serde_json::Map::new(),
        )
    }

    /// Service calls (`call_service` events) of a domain and, if given, one service.
    pub fn on_service_call(
        &self,
        domain: &str,
        service: Option<&str>,
    ) -> EventSubscriptionBuilder<A::Message> {
        let mut data = serde_json::Map::new();
        data.insert("domain".into(), domain.into());
        if let Some(service) = service {
            data.insert("service".into(), service.into());
        }
        EventSubscriptionBuilder::new(self.ctx.sink(), "call_service".to_owned(), data)
    }
}

/// An app's view of the scheduler: timers whose deliveries are the app's own messages. Every
/// timer is cancelled when the app stops.
#[derive(Debug)]
pub struct AppScheduler<'a, A: App> {
    ctx: &'a AppContext<A>,
}

impl<A: App> AppScheduler<'_, A> {
    /// Schedules a job that delivers `make()` when due; `None` delivers nothing. One-shot
    /// triggers end by themselves after firing; the job asks to be removed only when the app
    /// has stopped.
    fn schedule(
        &self,
        trigger: crate::scheduler::Trigger,
        mut make: impl FnMut() -> Option<A::Message> + Send + 'static,
    ) -> Result<JobHandle, crate::scheduler::ScheduleError> {
        let mailbox = self.ctx.inner.mailbox.clone();
        let activity = Arc::clone(&self.ctx.inner.shared.activity);
        let name = format!("{}/{}", self.ctx.inner.key, self.ctx.inner.instance);
        let (bus, owner) = (self.ctx.inner.shared.bus.clone(), self.ctx.inner.owner);
        let job = Box::new(move |_fired: crate::scheduler::FireInfo| {
            let Some(message) = make() else { return true };
            match deliver(&mailbox, &activity, message) {
                Delivery::Sent => true,
                Delivery::Full => {
                    bus.note_dropped(owner);
                    tracing::warn!(app = %name, "app mailbox full: a timer's message was dropped");
                    true
                }
                Delivery::Closed => false,
            }
        });
        let handle = self.ctx.inner.shared.scheduler.schedule(trigger, job)?;
        Ok(self.ctx.track(handle))
    }

    /// Delivers `message` once, after `delay`.
    ///
    /// # Errors
    ///
    /// The scheduler has stopped (the runtime is shutting down).
    pub fn run_in(
        &self,
        delay: std::time::Duration,
        message: A::Message,
    ) -> Result<JobHandle, crate::scheduler::ScheduleError> {
        let mut message = Some(message);
        self.schedule(crate::scheduler::Trigger::In(delay), move || message.take())
    }

    /// Delivers `message` once, at `at`.
    ///
    /// # Errors
    ///
    /// As [`AppScheduler::run_in`].
    pub fn run_at(
        &self,
        at: jiff::Timestamp,
        message: A::Message,
    ) -> Result<JobHandle, crate::scheduler::ScheduleError> {
        let mut message = Some(message);
        self.schedule(crate::scheduler::Trigger::At(at), move || message.take())
    }

    /// Delivers `message` every `period`, the first time one period from now.
    ///
    /// # Errors
    ///
    /// A zero period, or the scheduler has stopped.
    pub fn run_every(
        &self,
        period: std::time::Duration,
        message: A::Message,
    ) -> Result<JobHandle, crate::scheduler::ScheduleError>
    where
        A::Message: Clone,
    {
        self.schedule(
            crate::scheduler::Trigger::Every {
                period,
                first: None,
            },
            move || Some(message.clone()),
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
    ) -> Result<JobHandle, crate::scheduler::ScheduleError>
    where
        A::Message: Clone,
    {
        self.schedule(crate::scheduler::Trigger::Daily(at), move || {
            Some(message.clone())
        })
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
    ) -> Result<JobHandle, crate::scheduler::ScheduleError>
    where
        A::Message: Clone,
    {
        let schedule = expression.parse()?;
        self.schedule(crate::scheduler::Trigger::Cron(schedule), move || {
            Some(message.clone())
        })
    }

    /// Delivers `message` at every sunrise, shifted by `offset` (negative: before), as
    /// `sun.sun` reports it.
    ///
    /// # Errors
    ///
    /// The scheduler has stopped.
    pub fn run_at_sunrise(
        &self,
        offset: jiff::SignedDuration,
        message: A::Message,
    ) -> Result<JobHandle, crate::scheduler::ScheduleError>
    where
        A::Message: Clone,
    {
        self.schedule(crate::scheduler::Trigger::Sunrise { offset }, move || {
            Some(message.clone())
        })
    }

    /// Delivers `message` at every sunset, shifted by `offset`.
    ///
    /// # Errors
    ///
    /// The scheduler has stopped.
    pub fn run_at_sunset(
        &self,
        offset: jiff::SignedDuration,
        message: A::Message,
    ) -> Result<JobHandle, crate::scheduler::ScheduleError>
    where
        A::Message: Clone,
    {
        self.schedule(crate::scheduler::Trigger::Sunset { offset }, move || {
            Some(message.clone())
        })
    }
}
