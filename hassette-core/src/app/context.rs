//! [`AppContext`]: everything an app instance reaches through `self`.

use std::sync::{Arc, Mutex, PoisonError};

use jiff::Zoned;

use super::App;
use super::timers::{AppScheduler, TrackedJob};
use crate::bus::{Delivery, EventSubscriptionBuilder, OwnerId, StateSubscriptionBuilder};
use crate::cache::AppCache;
use crate::ha::Api;
use crate::runtime::{Mailbox, Shared};
use crate::scheduler::JobHandle;
use crate::state::States;

/// Everything an app instance reaches: its identity, the Home Assistant [`Api`], the
/// [`States`] view, the bus, the scheduler, the clock and the cache.
///
/// The framework owns it and hands it to every hook of [`App`] (`ctx: &AppContext<Self>`);
/// apps need not keep it. Cheap to clone, for a task an app spawns.
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
    mailbox: Mailbox<A::Message>,
    jobs: Mutex<Vec<TrackedJob>>,
    /// Tasks forwarding Home Assistant subscriptions (triggers, templates) to the mailbox.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl<A: App> crate::domain::Connected for AppContext<A> {
    fn api(&self) -> &Api {
        &self.inner.shared.api
    }
    fn states(&self) -> &States {
        &self.inner.shared.states
    }
}

impl<A: App> AppContext<A> {
    pub(crate) fn new(
        key: String,
        instance: String,
        owner: OwnerId,
        shared: Shared,
        mailbox: Mailbox<A::Message>,
        cache_size: u64,
    ) -> Self {
        // Lazy: the cache directory appears only when the app first touches its cache.
        let cache = shared
            .caches
            .app_cache(A::class_name(), cache_size, &instance);
        let inbox_tx = mailbox.clone();
        shared.directory.register::<A::Message>(
            std::any::TypeId::of::<A>(),
            &instance,
            owner,
            Arc::new(move |m| inbox_tx.deliver(m, 0)),
        );
        Self {
            inner: Arc::new(Inner {
                key,
                instance,
                cache,
                owner,
                shared,
                mailbox,
                jobs: Mutex::new(Vec::new()),
                tasks: Mutex::new(Vec::new()),
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
        AppScheduler::new(self)
    }

    /// An entity this app owns in Home Assistant (`sensor.*`, `binary_sensor.*`): set its
    /// state, unit, device class and attributes, then `.await` to publish it.
    ///
    /// ```ignore
    /// ctx.entity("sensor.outside_summary").state(21.5).unit("°C").device_class("temperature").await?;
    /// ```
    ///
    /// The last published state is kept in this app's cache, and published again by the
    /// runtime whenever the connection comes back (Home Assistant forgets such states when it
    /// restarts), so the entity is back by itself after a Home Assistant restart.
    pub fn entity(&self, entity_id: &str) -> super::EntityUpdate<'_> {
        super::EntityUpdate {
            client: self.inner.shared.api.client(),
            cache: &self.inner.cache,
            owned: &self.inner.shared.owned,
            entity_id: entity_id.to_owned(),
            state: None,
            attributes: serde_json::Map::new(),
        }
    }

    /// Sends a message to the instance `instance` of app class `B`, into its mailbox: `B`'s
    /// own message type, checked by the compiler.
    ///
    /// ```ignore
    /// ctx.send_to::<Lights>("hall", LightsMsg::AllOff)?;
    /// ```
    ///
    /// # Errors
    ///
    /// [`super::SendError::NoSuchInstance`] when no instance of that name runs,
    /// [`super::SendError::Full`] when its mailbox is full.
    pub fn send_to<B: App>(
        &self,
        instance: &str,
        message: B::Message,
    ) -> Result<(), super::SendError> {
        self.inner.shared.directory.send(
            std::any::TypeId::of::<B>(),
            B::class_name(),
            instance,
            message,
        )
    }

    /// Publishes `message` on a topic: every instance that subscribed to it for this type
    /// ([`AppBus::on_topic`]) gets a clone in its mailbox. Returns how many did.
    pub fn publish<T: Clone + Send + 'static>(&self, topic: &str, message: T) -> usize {
        self.inner.shared.directory.publish(topic, &message)
    }

    /// Puts a message in this app's own mailbox (handled after the current handler returns).
    ///
    /// Returns `false` if the mailbox is full or the app has stopped.
    pub fn send(&self, message: A::Message) -> bool {
        self.inner.mailbox.deliver(message, 0) == Delivery::Sent
    }

    fn sink(&self) -> crate::bus::Target<A::Message> {
        let mailbox = self.inner.mailbox.clone();
        crate::bus::Target {
            bus: self.inner.shared.bus.clone(),
            states: self.inner.shared.states.clone(),
            owner: self.inner.owner,
            owner_name: format!("{}/{}", self.inner.key, self.inner.instance),
            sink: Arc::new(move |m, size| mailbox.deliver(m, size)),
        }
    }

    /// Keeps a job for `jobs()` and for cancelling at stop; a named job replaces the active
    /// job of the same name.
    pub(super) fn track(&self, job: TrackedJob) -> JobHandle {
        let mut jobs = self.jobs();
        jobs.retain(|j| j.handle.is_active());
        if let Some(name) = &job.name {
            for old in jobs.iter().filter(|j| j.name.as_ref() == Some(name)) {
                old.handle.cancel();
            }
            jobs.retain(|j| j.name.as_ref() != Some(name));
        }
        let handle = job.handle.clone();
        jobs.push(job);
        handle
    }

    pub(super) fn jobs(&self) -> std::sync::MutexGuard<'_, Vec<TrackedJob>> {
        self.inner
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a forwarding task, aborted when the app stops.
    pub(super) fn keep_task(&self, task: tokio::task::AbortHandle) {
        let mut tasks = self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    pub(super) fn mailbox(&self) -> &Mailbox<A::Message> {
        &self.inner.mailbox
    }

    pub(super) fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    pub(super) fn owner(&self) -> OwnerId {
        self.inner.owner
    }

    pub(super) fn owner_name(&self) -> String {
        format!("{}/{}", self.inner.key, self.inner.instance)
    }

    /// This instance's pending timers (for the status API).
    pub(crate) fn pending_jobs(&self) -> Vec<JobHandle> {
        let jobs = self
            .inner
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        jobs.iter()
            .filter(|j| j.handle.is_active())
            .map(|j| j.handle.clone())
            .collect()
    }

    /// Cancels every subscription and timer of this instance (it has stopped).
    pub(crate) fn stop(&self) {
        self.inner.shared.bus.remove_owner(self.inner.owner);
        self.inner.shared.directory.remove_owner(self.inner.owner);
        for job in self.jobs().drain(..) {
            job.handle.cancel();
        }
        for task in self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

/// Entity ids for a subscription or a service call's target: one (`"light.porch"`), a glob
/// (`"light.*"`, subscriptions only), or a list.
///
/// Implement it for your own entity handles to pass them to [`AppBus::on`] and
/// [`crate::ha::CallBuilder::target`].
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
    /// State changes of one entity, a list, a glob (`"light.*"`), or anything else that
    /// implements [`IntoEntities`] (the entities of an area: `ctx.states().in_area("kitchen")`).
    ///
    /// ```ignore
    /// ctx.bus().on("binary_sensor.porch_motion").to("on").send(Msg::Motion);
    /// ```
    pub fn on(&self, entities: impl IntoEntities) -> StateSubscriptionBuilder<A::Message> {
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

    /// Messages published on `topic` with type `T` (by any app, [`AppContext::publish`]),
    /// delivered as `make(message)`.
    ///
    /// ```ignore
    /// ctx.bus().on_topic("alarm", Msg::Alarm); // Msg::Alarm(AlarmRaised)
    /// ```
    pub fn on_topic<T: Send + 'static>(
        &self,
        topic: &str,
        make: impl Fn(T) -> A::Message + Send + Sync + 'static,
    ) {
        let ctx = self.ctx;
        let tx = ctx.mailbox().clone();
        ctx.shared().directory.subscribe::<T>(
            topic,
            ctx.inner.owner,
            Arc::new(move |m| tx.deliver(make(m), 0)),
        );
    }

    /// A Home Assistant trigger (automation syntax: `{"platform": "state", "entity_id": ..,
    /// "to": "on", "for": "00:05:00"}`, `numeric_state`, `time_pattern`, ...), evaluated by
    /// Home Assistant; each firing is delivered as `make(event)`. Kept across reconnects.
    ///
    /// # Errors
    ///
    /// Home Assistant rejects the trigger (`invalid_format`), or is not connected.
    pub async fn on_trigger(
        &self,
        trigger: serde_json::Value,
        make: impl Fn(crate::ha::TriggerEvent) -> A::Message + Send + Sync + 'static,
    ) -> Result<(), crate::ha::HaError> {
        let sub = self.ctx.api().client().subscribe_trigger(trigger).await?;
        self.forward(sub, make);
        Ok(())
    }

    /// A live template: its rendering now, and again each time it changes (Home Assistant
    /// follows the entities it reads), delivered as `make(text)`. Kept across reconnects.
    ///
    /// # Errors
    ///
    /// `template_error` for a broken template, or not connected.
    pub async fn on_template(
        &self,
        template: &str,
        make: impl Fn(String) -> A::Message + Send + Sync + 'static,
    ) -> Result<(), crate::ha::HaError> {
        let sub = self
            .ctx
            .api()
            .client()
            .subscribe_template(template, None)
            .await?;
        self.forward(sub, move |r: crate::ha::TemplateRender| {
            make(match r.result {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
        });
        Ok(())
    }

    /// Moves what a Home Assistant subscription yields into the mailbox, until the app stops.
    fn forward<T: Send + 'static>(
        &self,
        mut sub: crate::ha::Subscription<T>,
        make: impl Fn(T) -> A::Message + Send + 'static,
    ) {
        let tx = self.ctx.mailbox().clone();
        let name = self.ctx.owner_name();
        let task = tokio::spawn(async move {
            while let Some(item) = sub.recv().await {
                match tx.deliver(make(item), 0) {
                    Delivery::Sent => {}
                    Delivery::Full => {
                        tracing::warn!(app = %name, "app mailbox full: dropped a trigger or template update")
                    }
                    Delivery::Closed => return,
                }
            }
        });
        self.ctx.keep_task(task.abort_handle());
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
