//! The runtime behind `hassette run`: connect (waiting for Home Assistant as long as it
//! takes), read every state, start every enabled app instance, deliver events and timers,
//! and shut down in order.
//!
//! # How an event flows
//!
//! ```text
//! Home Assistant ──websocket──> ha session task (owns the socket, reconnects, heartbeat;
//!                                 │                  no entity state)
//!                                 │ decoded events, into byte-bounded subscription queues
//!                                 ▼
//!                    feed task (feed.rs, the one owner of the feed and of connection events):
//!                      1. States view updated        (state/)
//!                      2. Bus::dispatch              (bus/: filters, timed filters)
//!                      after a reconnect: re-read states, Bus::replay what changed while
//!                      away (marked replayed), every app's on_reconnect, one log line
//!                                 │ never waits
//!                                 ▼
//!                    mailbox per app instance (mailbox.rs), bounded by a memory budget
//!                                 │
//!                                 ▼
//!                    app task (supervisor.rs): one handler at a time, with &mut self;
//!                      its timers post into the same mailbox; Api calls go back to the
//!                      session as commands with a oneshot reply
//! ```
//!
//! - `connect`: the first connection, waiting for Home Assistant.
//! - `feed`: subscriptions to states and events, replay after a reconnect.
//! - `mailbox`: the parts every app shares, what a mailbox carries, and the budgeted mailbox.
//! - `supervisor`: one task per app instance.
//!
//! Order of shutdown: stop the feed, run every app's shutdown hook (with its timeout), flush
//! and close every cache, then let the session send its websocket Close and wait for it. No
//! task is aborted unless an app is stuck past its timeout. The caller flushes the logs last.
//! A shutdown asked for (through [`RunOptions::shutdown`]) while connecting or reading the
//! states ends [`Runtime::start`] with [`RuntimeError::Interrupted`]; asked for while apps
//! start, the start completes and [`Runtime::run_until`] shuts down at once.

mod connect;
mod control;
mod feed;
mod mailbox;
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

pub(crate) use mailbox::{Activity, Mailbox, Shared};

use crate::app::AppRegistry;
use crate::bus::Bus;
use crate::cache::CacheRegistry;
use crate::clock::Clock;
use crate::config::Config;
use crate::ha::{Api, Client, ClientOptions, HaError, SessionHandle};
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
    /// Cancelled to stop: while connecting or reading the states it ends
    /// [`Runtime::start`] with [`RuntimeError::Interrupted`]; later, pass
    /// `shutdown.cancelled()` to [`Runtime::run_until`].
    pub shutdown: CancellationToken,
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
            shutdown: CancellationToken::new(),
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
    options
}

/// Why the runtime could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The first connection to Home Assistant failed in a way waiting cannot fix: a rejected
    /// token, a URL that cannot work, a TLS failure.
    #[error("cannot connect to Home Assistant")]
    Connect(#[source] HaError),
    /// A shutdown was asked for before the apps started (while connecting or reading the
    /// states). Nothing had started, so there is nothing to flush.
    #[error("stopped before the apps started")]
    Interrupted,
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
    session: SessionHandle,
    feed: JoinHandle<()>,
    cancel_feed: CancellationToken,
    shared: Shared,
    summary: StartSummary,
    cancel_client: CancellationToken,
    control: Arc<control::Control>,
    status: StatusHandle,
    fatal: mpsc::Receiver<RuntimeError>,
    alive: supervisor::Alive,
    shutdown_timeout: Duration,
}

impl Runtime {
    /// Connects (waiting for Home Assistant as long as it takes), reads every state, and
    /// starts every enabled app instance of `config`.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Connect`] when connecting cannot work (rejected token, bad URL),
    /// [`RuntimeError::Startup`] when Home Assistant cannot be read,
    /// [`RuntimeError::Interrupted`] when [`RunOptions::shutdown`] was cancelled first. App
    /// instances that fail to start are reported in the [`StartSummary`], not as errors.
    pub async fn start(
        config: &Config,
        registry: &AppRegistry,
        client_options: ClientOptions,
        options: RunOptions,
    ) -> Result<Self, RuntimeError> {
        let cancel_client = CancellationToken::new();
        let stop = options.shutdown.clone();
        let (client, session) = tokio::select! {
            () = stop.cancelled() => {
                cancel_client.cancel();
                return Err(RuntimeError::Interrupted);
            }
            c = connect::connect(&client_options, &cancel_client) => c.map_err(RuntimeError::Connect)?,
        };
        let read = tokio::select! {
            () = stop.cancelled() => None,
            r = read_home(&client) => Some(r),
        };
        let (time_zone, state_events, states) = match read {
            Some(Ok(read)) => read,
            Some(Err(e)) => {
                close(cancel_client, session).await;
                return Err(RuntimeError::Startup(e));
            }
            None => {
                close(cancel_client, session).await;
                return Err(RuntimeError::Interrupted);
            }
        };
        tracing::info!(
            entities = states.len(),
            ha_version = client.ha_version().unwrap_or("?"),
            "connected to Home Assistant"
        );

        let scheduler =
            Scheduler::new(options.clock.clone(), time_zone, sun_source(states.clone()));
        let (type_tx, type_rx) = mpsc::unbounded_channel();
        let bus = Bus::new(scheduler.clone(), options.clock.clone(), type_tx);
        let caches = CacheRegistry::new(
            &config.data_dir,
            config.cache_flush_interval,
            options.clock.clone(),
        )
        .with_memory_budget(config.cache_memory_budget);
        let shared = Shared {
            api: Api::new(client.clone()).with_view(states.clone()),
            states: states.clone(),
            bus: bus.clone(),
            scheduler,
            caches,
            activity: Arc::new(Activity::default()),
            owned: crate::app::OwnedEntities::default(),
            directory: crate::app::Directory::default(),
        };
        let (fatal_tx, fatal) = mpsc::channel(1);
        let alive = supervisor::Alive::new();
        let control = Arc::new(control::Control::new(
            config,
            registry,
            shared.clone(),
            control::ControlOptions {
                startup_timeout: options.startup_timeout,
                shutdown_timeout: options.shutdown_timeout,
                timed: options.handler_timings,
                only_apps: options.only_apps.clone(),
                reloader: options.reload.clone(),
                alive: alive.clone(),
            },
        ));
        let cancel_feed = CancellationToken::new();
        let feed = tokio::spawn(
            feed::Feed {
                client: client.clone(),
                states: states.clone(),
                bus,
                state_events,
                type_requests: type_rx,
                connection: client.connection_events(),
                control: Arc::clone(&control),
                fatal: fatal_tx,
                owned: shared.owned.clone(),
            }
            .run(cancel_feed.clone()),
        );

        let mut summary = StartSummary {
            entities: states.len(),
            ..StartSummary::default()
        };
        for app in &config.apps {
            let selected = options.only_apps.is_empty() || options.only_apps.contains(&app.key);
            if !(app.enabled && selected) || registry.get(&app.class_name).is_none() {
                summary.disabled.push(app.key.clone());
                continue;
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
        unknown_entities::warn_unknown(&shared.bus, &shared.states);
        tracing::info!(
            started = summary.started(),
            failed = summary.failed(),
            disabled = summary.disabled.len(),
            "apps started"
        );
        let status = StatusHandle::new(Arc::clone(&control), client.clone(), shared.clone());
        Ok(Self {
            client,
            session,
            feed,
            cancel_feed,
            shared,
            summary,
            cancel_client,
            control,
            status,
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

    /// The Home Assistant API the apps use.
    #[must_use]
    pub fn api(&self) -> &crate::ha::Api {
        &self.shared.api
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
            let size = frame.len() / events.len().max(1);
            for (_, event) in events {
                if let Some(change) = event.state_changed() {
                    self.shared.states.apply(change);
                }
                self.shared.bus.dispatch(event, size);
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

    /// Stops the feed, runs every app's shutdown hook, flushes the caches, closes the
    /// connection (the session sends its websocket Close) and waits for all of it.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        self.cancel_feed.cancel();
        if let Err(e) = self.feed.await
            && e.is_panic()
        {
            tracing::error!("the feed task panicked");
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
        drop(self.client);
        close(self.cancel_client, self.session).await;
        tracing::info!("stopped");
    }
}

/// What the runtime reads first: the time zone, then (subscribed before reading, so no
/// change falls between the read and the stream) every state.
async fn read_home(
    client: &Client,
) -> Result<
    (
        jiff::tz::TimeZone,
        crate::ha::Subscription<crate::ha::Event>,
        States,
    ),
    HaError,
> {
    let ha_config = client.get_config().await?;
    let time_zone = ha_config.tz().unwrap_or_else(|| {
        tracing::warn!(time_zone = %ha_config.time_zone, "unknown time zone from Home Assistant; using the system's");
        jiff::tz::TimeZone::system()
    });
    let state_events = client.subscribe_events(Some("state_changed")).await?;
    let states = States::default();
    states.replace_all(client.get_states().await?);
    states.set_registries(crate::state::load_registries(client).await);
    Ok((time_zone, state_events, states))
}

/// Lets the session send its websocket Close, and waits for it.
async fn close(cancel: CancellationToken, session: SessionHandle) {
    cancel.cancel();
    session.closed().await;
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
            next_dawn: time("next_dawn"),
            next_dusk: time("next_dusk"),
        })
    })
}
