//! [`AppHarness`]: test one app in a few lines, against the fake Home Assistant, with a clock
//! the test moves.
//!
//! ```
//! # use hassette_core::app::{App, AppContext, BoxError};
//! # #[derive(serde::Deserialize)] struct Config { sensor: String, light: String }
//! # #[derive(Clone)] enum Msg { Motion }
//! # struct MotionLight { config: Config }
//! # impl App for MotionLight {
//! #     type Config = Config; type Message = Msg;
//! #     async fn initialize(config: Config, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
//! #         ctx.bus().on(&config.sensor).to("on").send(Msg::Motion);
//! #         Ok(Self { config })
//! #     }
//! #     async fn handle(&mut self, ctx: &AppContext<Self>, _: Msg) -> Result<(), BoxError> {
//! #         ctx.api().turn_on(&self.config.light).await?; Ok(())
//! #     }
//! # }
//! use hassette_core::testing::AppHarness;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let h = AppHarness::<MotionLight>::builder()
//!     .config(r#"sensor = "binary_sensor.hallway_motion"
//!                light = "light.kitchen""#)
//!     .start()
//!     .await
//!     .unwrap();
//! h.set_state("binary_sensor.hallway_motion", "on").await;
//! let calls = h.service_calls();
//! assert_eq!(calls.last().unwrap().service, "turn_on");
//! assert_eq!(h.states().state("light.kitchen").as_deref(), Some("on"));
//! h.stop().await;
//! # });
//! ```

use std::marker::PhantomData;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::{FakeHomeAssistant, FakeOptions, ServiceCall};
use crate::app::{App, AppRegistry};
use crate::clock::Clock;
use crate::config::{Config, LoadOptions};
use crate::runtime::{self, RunOptions, Runtime};
use crate::state::States;

/// The app key the harness runs its app under.
pub const APP_KEY: &str = "app_under_test";

/// Another app beside the one under test: key, class name, config table, its registration.
type OtherApp = (String, &'static str, String, fn(&mut AppRegistry));

/// A preparation of the fake before the apps start.
type Setup = Box<dyn FnOnce(&FakeHomeAssistant) + Send>;

/// Builds an [`AppHarness`].
pub struct HarnessBuilder<A: App> {
    config: String,
    /// More instances of `A`, each a config table.
    instances: Vec<String>,
    /// Other apps: key, class name, config table, how to register the class.
    others: Vec<OtherApp>,
    states: Vec<(String, String, Option<Value>)>,
    start: Option<Timestamp>,
    extra_settings: String,
    setup: Vec<Setup>,
    _app: PhantomData<fn() -> A>,
}

impl<A: App> std::fmt::Debug for HarnessBuilder<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HarnessBuilder")
            .field("config", &self.config)
            .field("instances", &self.instances)
            .finish_non_exhaustive()
    }
}

impl<A: App> HarnessBuilder<A> {
    /// Prepares the fake Home Assistant before the apps start (registries, service
    /// responses, ...): `.fake(|ha| ha.add_area("garden", "Garden"))`.
    #[must_use]
    pub fn fake(mut self, setup: impl FnOnce(&FakeHomeAssistant) + Send + 'static) -> Self {
        self.setup.push(Box::new(setup));
        self
    }

    /// The app instance's `config` table, as TOML (`sensor = "binary_sensor.x"`).
    #[must_use]
    pub fn config(mut self, toml: &str) -> Self {
        toml.clone_into(&mut self.config);
        self
    }

    /// One more instance of the app, with its own `config` table (give each an
    /// `instance_name`); the first is the one [`config`](Self::config) gives.
    #[must_use]
    pub fn instance(mut self, toml: &str) -> Self {
        self.instances.push(toml.to_owned());
        self
    }

    /// Another app class running beside it, under app key `key` with this `config` table
    /// (for apps that talk to each other).
    #[must_use]
    pub fn with_app<B: App>(mut self, key: &str, toml: &str) -> Self {
        fn register<B: App>(r: &mut AppRegistry) {
            r.register::<B>();
        }
        self.others.push((
            key.to_owned(),
            B::class_name(),
            toml.to_owned(),
            register::<B>,
        ));
        self
    }

    /// An entity state the fake Home Assistant has before the app starts.
    #[must_use]
    pub fn state(mut self, entity_id: &str, state: &str, attributes: Option<Value>) -> Self {
        self.states
            .push((entity_id.to_owned(), state.to_owned(), attributes));
        self
    }

    /// The (manual) clock's starting time; default: now.
    #[must_use]
    pub fn at(mut self, start: Timestamp) -> Self {
        self.start = Some(start);
        self
    }

    /// More `[hassette]` settings, as TOML lines (`default_cache_size = "1 MiB"`).
    #[must_use]
    pub fn settings(mut self, toml: &str) -> Self {
        toml.clone_into(&mut self.extra_settings);
        self
    }

    /// Starts the fake Home Assistant and the app.
    ///
    /// # Errors
    ///
    /// The app's config does not validate, the app fails to initialize, or the fake cannot
    /// start; the message says which.
    pub async fn start(self) -> Result<AppHarness<A>, String> {
        let clock = Clock::manual(self.start.unwrap_or_else(Timestamp::now));
        let fake = FakeHomeAssistant::start_with(FakeOptions {
            clock: clock.clone(),
            ..FakeOptions::default()
        })
        .await
        .map_err(|e| format!("cannot start the fake Home Assistant: {e}"))?;
        for (entity, state, attributes) in &self.states {
            fake.set_state(entity, state, attributes.clone());
        }
        for setup in self.setup {
            setup(&fake);
        }
        let data_dir = tempfile::tempdir().map_err(|e| format!("cannot make a data dir: {e}"))?;
        let table = |key: &str, array: bool, toml: &str| {
            let brackets = if array { ("[[", "]]") } else { ("[", "]") };
            format!(
                "{}hassette.apps.{key}.config{}\n{toml}\n",
                brackets.0, brackets.1
            )
        };
        let mut apps = format!(
            // `restart = "never"`: a test sees a failure as it happens, not a retry.
            "[hassette.apps.{APP_KEY}]\nclass_name = \"{}\"\nrestart = \"never\"\n",
            A::class_name()
        );
        let several = !self.instances.is_empty();
        apps.push_str(&table(APP_KEY, several, &self.config));
        for toml in &self.instances {
            apps.push_str(&table(APP_KEY, true, toml));
        }
        let mut registry = AppRegistry::new();
        registry.register::<A>();
        for (key, class, toml, register) in &self.others {
            apps.push_str(&format!(
                "[hassette.apps.{key}]\nclass_name = \"{class}\"\nrestart = \"never\"\n"
            ));
            apps.push_str(&table(key, false, toml));
            register(&mut registry);
        }
        let text = format!(
            "[hassette]\nbase_url = \"{}\"\ndata_dir = {:?}\n{}\n{apps}",
            fake.base_url(),
            data_dir.path().display().to_string(),
            self.extra_settings,
        );
        let file = data_dir.path().join("hassette.toml");
        std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let options = LoadOptions {
            config_file: Some(file),
            env: Some(Vec::new()),
            ..LoadOptions::default()
        };
        let config = crate::config::load(&options, &registry).map_err(|e| e.to_string())?;
        let runtime = start_runtime(&config, &registry, &fake, &clock).await?;
        let harness = AppHarness {
            fake,
            runtime: Some(runtime),
            clock,
            config,
            registry,
            _data_dir: data_dir,
            _app: PhantomData,
        };
        harness.settle().await;
        Ok(harness)
    }
}

async fn start_runtime(
    config: &Config,
    registry: &AppRegistry,
    fake: &FakeHomeAssistant,
    clock: &Clock,
) -> Result<Runtime, String> {
    let mut run = RunOptions::from_config(config);
    run.clock = clock.clone();
    let client = runtime::client_options(config, fake.base_url(), fake.token());
    let runtime = Runtime::start(config, registry, client, run)
        .await
        .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
    if let Some(failed) = runtime
        .summary()
        .instances
        .iter()
        .find(|i| i.result.is_err())
    {
        let why = failed.result.as_ref().err().cloned().unwrap_or_default();
        let failed = format!("{}/{}: {why}", failed.app, failed.instance);
        runtime.shutdown().await;
        return Err(format!("the app did not start: {failed}"));
    }
    Ok(runtime)
}

/// One app, running against a fake Home Assistant, with a manual clock.
///
/// Every action waits until the app has handled what it caused (the harness "settles"), so
/// assertions can follow directly.
#[derive(Debug)]
pub struct AppHarness<A: App> {
    fake: FakeHomeAssistant,
    runtime: Option<Runtime>,
    clock: Clock,
    config: Config,
    registry: AppRegistry,
    _data_dir: tempfile::TempDir,
    _app: PhantomData<fn() -> A>,
}

impl<A: App> crate::domain::Connected for AppHarness<A> {
    fn api(&self) -> &crate::ha::Api {
        self.runtime().api()
    }
    fn states(&self) -> &States {
        self.runtime().states()
    }
}

impl<A: App> AppHarness<A> {
    /// A builder; `.config(...)` then `.start().await`.
    #[must_use]
    pub fn builder() -> HarnessBuilder<A> {
        HarnessBuilder {
            config: String::new(),
            instances: Vec::new(),
            others: Vec::new(),
            setup: Vec::new(),
            states: Vec::new(),
            start: None,
            extra_settings: String::new(),
            _app: PhantomData,
        }
    }

    fn runtime(&self) -> &Runtime {
        match &self.runtime {
            Some(r) => r,
            None => unreachable!("the runtime is only taken by `stop`, which consumes the harness"),
        }
    }

    /// Sets an entity's state in Home Assistant (a `state_changed` event), and waits until the
    /// app has handled it.
    pub async fn set_state(&self, entity_id: &str, state: &str) {
        self.set_state_with(entity_id, state, None).await;
    }

    /// [`AppHarness::set_state`] with attributes.
    pub async fn set_state_with(&self, entity_id: &str, state: &str, attributes: Option<Value>) {
        let before = self.runtime().bus().dispatched();
        let old = self.fake.state(entity_id);
        self.fake.set_state(entity_id, state, attributes);
        // Like Home Assistant, the fake sends no event when nothing changed.
        let new = self.fake.state(entity_id);
        let seen = |s: Option<crate::ha::State>| s.map(|s| (s.state, s.attributes));
        if seen(old) != seen(new) {
            self.wait_for_dispatch(before).await;
        }
        self.settle().await;
    }

    /// Fires an event in Home Assistant, and waits until the app has handled it.
    pub async fn fire_event(&self, event_type: &str, data: Value) {
        let before = self.runtime().bus().dispatched();
        self.fake.fire_event(event_type, data);
        self.wait_for_dispatch(before).await;
        self.settle().await;
    }

    /// Moves the clock forward: timers that come due fire, in order and each at its own time,
    /// and the app handles them (timers its handlers set along the way included).
    pub async fn advance(&self, by: Duration) {
        let target =
            self.clock.now() + SignedDuration::try_from(by).unwrap_or(SignedDuration::ZERO);
        // Bounded: a timer that keeps coming due at the same instant cannot hang a test.
        for _ in 0..100_000 {
            let next = self
                .runtime()
                .scheduler()
                .next_due()
                .filter(|due| *due <= target);
            let Some(due) = next else { break };
            if due > self.clock.now() {
                self.clock.set(due);
            }
            self.settle().await;
            if self.runtime().scheduler().next_due() == Some(due) {
                // Still due after settling: the timer task has not caught up yet.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        self.clock.set(target);
        self.settle().await;
    }

    /// Waits until the app has handled everything delivered so far and no events are in
    /// flight (those its own service calls caused included).
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut quiet_rounds = 0;
        let mut last = self.runtime().bus().dispatched();
        while tokio::time::Instant::now() < deadline && quiet_rounds < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now = self.runtime().bus().dispatched();
            if self.runtime().is_idle() && now == last {
                quiet_rounds += 1;
            } else {
                quiet_rounds = 0;
            }
            last = now;
        }
    }

    async fn wait_for_dispatch(&self, before: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.runtime().bus().dispatched() <= before && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Every service call Home Assistant received, oldest first.
    #[must_use]
    pub fn service_calls(&self) -> Vec<ServiceCall> {
        self.fake.service_calls()
    }

    /// The app class's cache, as the app sees it (instance-scoped keys use the app's first
    /// instance name, `<ClassName>.0` unless the config sets `instance_name`).
    #[must_use]
    pub fn cache(&self) -> crate::cache::AppCache {
        let instance = self
            .config
            .apps
            .first()
            .and_then(|a| a.instances.first())
            .map_or_else(|| format!("{}.0", A::class_name()), |i| i.name.clone());
        self.runtime().caches().app_cache(
            A::class_name(),
            self.config.default_cache_size,
            &instance,
        )
    }

    /// The states the app sees.
    #[must_use]
    pub fn states(&self) -> &States {
        self.runtime().states()
    }

    /// The Home Assistant API the app uses, for calls from the test itself.
    #[must_use]
    pub fn api(&self) -> &crate::ha::Api {
        self.runtime().api()
    }

    /// The fake Home Assistant, for anything else (dropping connections, ...).
    #[must_use]
    pub fn fake(&self) -> &FakeHomeAssistant {
        &self.fake
    }

    /// The manual clock.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The configuration the harness runs with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Stops every app (their shutdown hooks run, the caches are flushed and closed) and
    /// starts them again: same fake Home Assistant, same clock, same data dir, so a test can
    /// show what survives a restart (the cache, an "on for 5 minutes" wait counted from
    /// `last_changed`).
    ///
    /// # Errors
    ///
    /// An app fails to start again.
    pub async fn restart(&mut self) -> Result<(), String> {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown().await;
        }
        let runtime = start_runtime(&self.config, &self.registry, &self.fake, &self.clock).await?;
        self.runtime = Some(runtime);
        self.settle().await;
        Ok(())
    }

    /// Stops the app (its shutdown hook runs) and the runtime.
    pub async fn stop(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown().await;
        }
    }
}
