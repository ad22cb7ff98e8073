//! The runtime behind `hassette run`: connect, read every state, start every enabled app
//! instance, deliver events and timers, and shut down in order.
//!
//! Order of shutdown: stop delivering events, run every app's shutdown hook (with its
//! timeout), flush and close every cache, close the websocket. The caller flushes the logs
//! last.

mod control;
mod status;
pub(crate) mod supervisor;
mod timing;
mod unknown_entities;

pub use control::{ConfigReloader, ControlError, ReloadReport};
pub use status::{
    ClassCache, Health, InstanceCounts, InstanceState, InstanceStatus, LastError, ProcessStatus,
    StatusHandle, TimerInfo,
};

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::{Activity, AppRegistry, Shared};
use crate::bus::Bus;
use crate::cache::CacheRegistry;
use crate::clock::Clock;
use crate::config::Config;
use crate::ha::{Api, Client, ClientOptions, ConnectionEvent, HaError, StateChanged};
use crate::scheduler::{Scheduler, SunSource, SunTimes};
use crate::state::States;

/// How to run, beyond the configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RunOptions {
    /// Run only these app keys (`--app`); empty: every enabled app.
    pub only_apps: Vec<String>,
    /// The clock apps and timers see; a manual one in tests.
    pub clock: Clock,
    /// How long an app's `initialize` may take.
    pub startup_timeout: Duration,
    /// How long an app's `shutdown` may take.
    pub shutdown_timeout: Duration,
    /// Messages an app instance's mailbox holds before new ones are dropped.
    pub mailbox: usize,
    /// Whether to measure every handler's run time for the status API (two clock reads per
    /// message; on when the web server is).
    pub handler_timings: bool,
    /// How to read the configuration again for a reload through the status API.
    pub reload: Option<ConfigReloader>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            only_apps: Vec::new(),
            clock: Clock::system(),
            startup_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            mailbox: 1024,
            handler_timings: true,
            reload: None,
        }
    }
}

impl RunOptions {
    /// The options `config` asks for.
    #[must_use]
    pub fn from_config(config: &Config) -> Self {
        Self {
            startup_timeout: config.app_startup_timeout,
            shutdown_timeout: config.app_shutdown_timeout,
            handler_timings: config.web.enabled,
            ..Self::default()
        }
    }
}

/// The client options `config` asks for, with `token` (the configured one, or the fake's).
#[must_use]
pub fn client_options(
    config: &Config,
    base_url: url::Url,
    token: crate::config::Secret,
) -> ClientOptions {
    let mut options = ClientOptions::new(base_url, token);
    options.verify_ssl = config.verify_ssl;
    options.command_timeout = config.command_timeout;
    options.heartbeat_interval = config.heartbeat_interval;
    options.heartbeat_timeout = config.heartbeat_timeout;
    options.reconnect_initial = config.reconnect_initial_delay;
    options.reconnect_max = config.reconnect_max_delay;
    // The runtime keeps the states view itself (and works out what changed while away from
    // it), so the client need not follow `state_changed` a second time.
    options.track_states = false;
    options
}

/// Why the runtime could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The first connection to Home Assistant failed (a rejected token included).
    #[error("cannot connect to Home Assistant")]
    Connect(#[source] HaError),
    /// Home Assistant answered the first commands with an error.
    #[error("cannot read Home Assistant's configuration and states")]
    Startup(#[source] HaError),
    /// Home Assistant rejected the token on a reconnect: running on is pointless.
    #[error("Home Assistant rejected the access token on reconnect: {0}")]
    AuthFailed(String),
    /// No app instance can run: none is enabled, or every one failed and will not be
    /// restarted.
    #[error("no app can run: {0}")]
    NoAppRunning(&'static str),
}

/// One app instance's start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceStart {
    /// The app key.
    pub app: String,
    /// The instance name.
    pub instance: String,
    /// `Ok`, or why it did not start.
    pub result: Result<(), String>,
}

/// What started.
#[derive(Clone, Debug, Default)]
pub struct StartSummary {
    /// Every instance that was to start, and how it went.
    pub instances: Vec<InstanceStart>,
    /// App keys that are configured but disabled (or not selected by `--app`).
    pub disabled: Vec<String>,
    /// Entities read from Home Assistant.
    pub entities: usize,
    /// Instances running, or failed and waiting to be restarted, once every instance had its
    /// first try.
    pub alive: usize,
}

impl StartSummary {
    /// Instances that started.
    #[must_use]
    pub fn started(&self) -> usize {
        self.instances.iter().filter(|i| i.result.is_ok()).count()
    }

    /// Instances that failed to start.
    #[must_use]
    pub fn failed(&self) -> usize {
        self.instances.len() - self.started()
    }

    /// Why no app can run, when none can: none is enabled, or each failed for good.
    #[must_use]
    pub fn why_nothing_runs(&self) -> Option<&'static str> {
        match (self.instances.is_empty(), self.alive) {
            (true, _) => Some("no app instance is enabled (or selected with --app)"),
            (false, 0) => Some("every app instance failed and none will be restarted"),
            _ => None,
        }
    }
}

/// A running runtime: apps started and receiving events.
#[derive(Debug)]
pub struct Runtime {
    client: Client,
    shared: Shared,
    summary: StartSummary,
    cancel_client: CancellationToken,
    control: Arc<control::Control>,
    status: StatusHandle,
    background: Vec<JoinHandle<()>>,
    fatal: mpsc::Receiver<RuntimeError>,
    alive: supervisor::Alive,
    shutdown_timeout: Duration,
}

impl Runtime {
    /// Connects, reads every state, and starts every enabled app instance of `config`.
    ///
    /// # Errors
    ///
    /// The first connection fails, or Home Assistant cannot be read. App instances that fail
    /// to start are reported in the [`StartSummary`], not as errors.
    pub async fn start(
        config: &Config,
        registry: &AppRegistry,
        client_options: ClientOptions,
        options: RunOptions,
    ) -> Result<Self, RuntimeError> {
        let cancel_client = CancellationToken::new();
        let (client, _session) = Client::connect(client_options, cancel_client.child_token())
            .await
            .map_err(RuntimeError::Connect)?;
        let ha_config = client.get_config().await.map_err(RuntimeError::Startup)?;
        let time_zone = ha_config.tz().unwrap_or_else(|| {
            tracing::warn!(time_zone = %ha_config.time_zone, "unknown time zone from Home Assistant; using the system's");
            jiff::tz::TimeZone::system()
        });
        let states = States::default();
        // Subscribe before reading, so no change falls between the read and the stream.
        let state_events = client
            .subscribe_events(Some("state_changed"))
            .await
            .map_err(RuntimeError::Startup)?;
        states.replace_all(client.get_states().await.map_err(RuntimeError::Startup)?);
        tracing::info!(
            entities = states.len(),
            ha_version = client.ha_version().unwrap_or("?"),
            "connected to Home Assistant"
        );

        let scheduler =
            Scheduler::new(options.clock.clone(), time_zone, sun_source(states.clone()));
        let (type_tx, type_rx) = mpsc::unbounded_channel();
        let bus = Bus::new(scheduler.clone(), options.clock.clone(), type_tx);
        let activity = Arc::new(Activity::default());
        let caches = CacheRegistry::new(
            &config.data_dir,
            config.cache_flush_interval,
            options.clock.clone(),
        )
        .with_memory_budget(config.cache_memory_budget);
        let shared = Shared {
            api: Api::new(client.clone()),
            states: states.clone(),
            bus: bus.clone(),
            scheduler,
            caches,
            activity,
        };
        let mut background = vec![tokio::spawn(forward_states(
            client.clone(),
            state_events,
            states.clone(),
            bus.clone(),
        ))];
        background.push(tokio::spawn(subscribe_event_types(
            client.clone(),
            bus.clone(),
            type_rx,
        )));

        let alive = supervisor::Alive::new();
        let control = Arc::new(control::Control::new(
            config,
            registry,
            shared.clone(),
            control::ControlOptions {
                startup_timeout: options.startup_timeout,
                shutdown_timeout: options.shutdown_timeout,
                mailbox: options.mailbox,
                timed: options.handler_timings,
                only_apps: options.only_apps.clone(),
                reloader: options.reload.clone(),
                alive: alive.clone(),
            },
        ));
        let mut summary = StartSummary {
            entities: states.len(),
            ..StartSummary::default()
        };
        for app in &config.apps {
            let selected = options.only_apps.is_empty() || options.only_apps.contains(&app.key);
            if !(app.enabled && selected) || registry.get(&app.class_name).is_none() {
                summary.disabled.push(app.key.clone());
            }
        }
        // Instances initialize concurrently; collect how each went.
        for (slot, ready) in control.launch_enabled() {
            let result = ready
                .await
                .unwrap_or_else(|_| Err("the instance's task ended".to_owned()));
            summary.instances.push(InstanceStart {
                app: slot.key.clone(),
                instance: slot.instance.clone(),
                result,
            });
        }
        summary.alive = alive.count();
        unknown_entities::warn_unknown(&bus, &states);
        let (fatal_tx, fatal) = mpsc::channel(1);
        background.push(tokio::spawn(watch_connection(
            client.clone(),
            bus.clone(),
            states,
            Arc::clone(&control),
            fatal_tx,
        )));
        tracing::info!(
            started = summary.started(),
            failed = summary.failed(),
            disabled = summary.disabled.len(),
            "apps started"
        );
        let status = StatusHandle::new(Arc::clone(&control), client.clone(), shared.clone());
        Ok(Self {
            client,
            shared,
            summary,
            cancel_client,
            control,
            status,
            background,
            fatal,
            alive,
            shutdown_timeout: options.shutdown_timeout,
        })
    }

    /// What started.
    #[must_use]
    pub fn summary(&self) -> &StartSummary {
        &self.summary
    }

    /// A view into the running apps and their controls, for the status API.
    #[must_use]
    pub fn status(&self) -> StatusHandle {
        self.status.clone()
    }

    /// The entity states the apps see.
    #[must_use]
    pub fn states(&self) -> &States {
        &self.shared.states
    }

    /// The event bus.
    #[must_use]
    pub fn bus(&self) -> &Bus {
        &self.shared.bus
    }

    /// The Home Assistant connection.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The caches of the app classes.
    #[must_use]
    pub fn caches(&self) -> &CacheRegistry {
        &self.shared.caches
    }

    /// The runtime's scheduler.
    #[must_use]
    pub fn scheduler(&self) -> &Scheduler {
        &self.shared.scheduler
    }

    /// Feeds one websocket text frame through the path events take after the socket (decode,
    /// states view, routing, filters, mailboxes), as if Home Assistant had sent it on the
    /// `state_changed` subscription. For benchmarks of that path without a network in between.
    #[doc(hidden)]
    pub fn inject_frame(&self, frame: &str) {
        if let Ok(events) = crate::ha::decode_events(frame) {
            for (_, event) in events {
                deliver(&self.shared.states, &self.shared.bus, event);
            }
        }
    }

    /// Whether every message put into an app mailbox so far has been handled.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        let a = &self.shared.activity;
        a.handled.load(Ordering::SeqCst) >= a.enqueued.load(Ordering::SeqCst)
    }

    /// Runs until `shutdown` completes (or the connection fails for good), then shuts down.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::AuthFailed`] when Home Assistant rejects the token on a reconnect;
    /// [`RuntimeError::NoAppRunning`] when no app instance is left that can run.
    pub async fn run_until(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RuntimeError> {
        let nothing_runs = self.summary.why_nothing_runs();
        let none_left = self.alive.none_left();
        let fatal = tokio::select! {
            () = shutdown => None,
            err = self.fatal.recv() => err,
            () = none_left => Some(RuntimeError::NoAppRunning(nothing_runs.unwrap_or(
                "every app instance failed and gave up restarting",
            ))),
        };
        self.shutdown().await;
        fatal.map_or(Ok(()), Err)
    }

    /// Stops delivering events, runs every app's shutdown hook, closes the connection.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        for task in &self.background {
            task.abort();
        }
        // An app stuck in a handler finishes it first, then runs its shutdown hook: allow for
        // both, then stop waiting.
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout * 2;
        self.control.shutdown(deadline).await;
        self.shared.scheduler.shutdown();
        // After every app's last words: flush and close every cache.
        if let Err(e) = self.shared.caches.close_all() {
            tracing::error!(error = %e, "closing the caches failed");
        }
        self.cancel_client.cancel();
        tracing::info!("stopped");
    }
}

/// Every `state_changed` event: update the states view, then dispatch to subscriptions (so
/// handlers see the new state).
///
/// If a flood overran the subscription's queue, some changes were dropped (counted and logged
/// by the client); once the queue has drained, the states are read again so the view is
/// current, whatever was lost.
async fn forward_states(
    client: Client,
    mut events: crate::ha::Subscription<crate::ha::Event>,
    states: States,
    bus: Bus,
) {
    let mut dropped = events.dropped();
    while let Some(event) = events.recv().await {
        deliver(&states, &bus, event);
        if events.dropped() != dropped && events.is_empty() {
            let lost = events.dropped() - dropped;
            dropped = events.dropped();
            tracing::warn!(
                lost,
                "state changes were dropped in a flood: reading every state again"
            );
            match client.get_states().await {
                Ok(fresh) => states.replace_all(fresh),
                Err(e) => tracing::error!(error = %e, "cannot read the states again"),
            }
        }
    }
}

/// One event from Home Assistant: the states view first (so handlers see the new state), then
/// the subscriptions.
fn deliver(states: &States, bus: &Bus, event: crate::ha::Event) {
    if let Some(change) = event.state_changed() {
        states.apply(change);
    }
    bus.dispatch(event);
}

/// Subscribes at Home Assistant to each further event type apps ask for.
async fn subscribe_event_types(
    client: Client,
    bus: Bus,
    mut types: mpsc::UnboundedReceiver<String>,
) {
    let mut forwarders = Vec::new();
    while let Some(event_type) = types.recv().await {
        match client.subscribe_events(Some(&event_type)).await {
            Ok(mut sub) => {
                tracing::debug!(event_type, "subscribed at Home Assistant");
                let bus = bus.clone();
                forwarders.push(tokio::spawn(async move {
                    while let Some(event) = sub.recv().await {
                        bus.dispatch(event);
                    }
                }));
            }
            Err(e) => {
                tracing::error!(event_type, error = %e, "cannot subscribe to an event type apps need")
            }
        }
    }
    for f in forwarders {
        f.abort();
    }
}

/// Follows the connection: after a reconnect, the states view takes the changes and every app
/// hears what changed while away; a rejected token is fatal.
async fn watch_connection(
    client: Client,
    bus: Bus,
    states: States,
    control: Arc<control::Control>,
    fatal: mpsc::Sender<RuntimeError>,
) {
    let mut events = client.connection_events();
    loop {
        match events.recv().await {
            Ok(ConnectionEvent::Reconnected { .. }) => {
                let fresh = match client.get_states().await {
                    Ok(fresh) => fresh,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot re-read the states after reconnecting");
                        continue;
                    }
                };
                let changed: Arc<[StateChanged]> = states.replace_and_diff(fresh).into();
                tracing::info!(changed = changed.len(), "reconnected to Home Assistant");
                unknown_entities::warn_unknown(&bus, &states);
                control.reconnected(&changed);
            }
            Ok(ConnectionEvent::AuthFailed { message }) => {
                let _ = fatal.send(RuntimeError::AuthFailed(message)).await;
                return;
            }
            Ok(ConnectionEvent::Disconnected { reason }) => {
                tracing::warn!(
                    reason,
                    "lost the connection to Home Assistant; reconnecting"
                );
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "missed connection events");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// `sun.sun`'s next rising and setting, from the states view.
fn sun_source(states: States) -> SunSource {
    Arc::new(move || {
        let sun = states.get("sun.sun")?;
        let time = |name: &str| {
            sun.attributes
                .get(name)?
                .as_str()?
                .parse::<jiff::Timestamp>()
                .ok()
        };
        Some(SunTimes {
            next_rising: time("next_rising")?,
            next_setting: time("next_setting")?,
        })
    })
}
