//! A user's own binary, as the README describes it: the whole `hassette` CLI with apps of its
//! own. The end-to-end tests use it for apps that misbehave on purpose.

use std::sync::Arc;
use std::time::Duration;

use hassette_core::app::{App, AppContext, BoxError};
use hassette_core::domain::{Entity, InputBoolean, Light, OnOff};
use hassette_core::ha::StateChanged;
use hassette_tests::real_ha;
use serde::Deserialize;

/// The config of both test apps: the entity to follow.
#[derive(Debug, Deserialize)]
struct Config {
    entity: String,
}

/// Panics when its entity turns on.
struct Panicky {}

impl App for Panicky {
    type Config = Config;
    type Message = Arc<StateChanged>;

    async fn initialize(config: Config, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on(&config.entity).send_with(|c| c);
        Ok(Self {})
    }

    async fn handle(
        &mut self,
        _: &AppContext<Self>,
        change: Arc<StateChanged>,
    ) -> Result<(), BoxError> {
        let state = change.new_state.as_ref().map_or("", |s| s.state.as_str());
        assert!(state != "on", "Panicky was told to panic");
        tracing::info!(state, "panicky saw a change");
        Ok(())
    }
}

/// Its `initialize` always fails, saying why.
struct NeverStarts;

impl App for NeverStarts {
    type Config = Config;
    type Message = ();

    async fn initialize(config: Config, _: &AppContext<Self>) -> Result<Self, BoxError> {
        Err(format!("{} is not reachable", config.entity).into())
    }
}

/// Takes ten seconds over every change.
struct Sluggish {}

impl App for Sluggish {
    type Config = Config;
    type Message = Arc<StateChanged>;

    async fn initialize(config: Config, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on(&config.entity).send_with(|c| c);
        Ok(Self {})
    }

    async fn handle(&mut self, _: &AppContext<Self>, _: Arc<StateChanged>) -> Result<(), BoxError> {
        tokio::time::sleep(Duration::from_secs(10)).await;
        tracing::info!("sluggish finally handled a change");
        Ok(())
    }
}

/// [`Mirror`]'s config: the entity to follow and the one to switch like it.
#[derive(Debug, Deserialize)]
struct MirrorConfig {
    entity: String,
    target: String,
}

/// Switches `target` on and off like `entity`, live and after a reconnect (from the changes
/// made while the connection was away).
struct Mirror {
    config: MirrorConfig,
}

impl Mirror {
    async fn follow(&self, ctx: &AppContext<Self>, change: &StateChanged) -> Result<(), BoxError> {
        let old = change.old_state.as_ref().map(|s| s.state.as_str());
        match change.new_state.as_ref().map(|s| s.state.as_str()) {
            Some(new) if Some(new) == old => {}
            Some("on") => {
                ctx.api().turn_on(&self.config.target).await?;
            }
            Some("off") => {
                ctx.api().turn_off(&self.config.target).await?;
            }
            _ => return Ok(()),
        }
        Ok(())
    }
}

impl App for Mirror {
    type Config = MirrorConfig;
    type Message = Arc<StateChanged>;

    async fn initialize(config: MirrorConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on(&config.entity).send_with(|c| c);
        Ok(Self { config })
    }

    async fn handle(
        &mut self,
        ctx: &AppContext<Self>,
        change: Arc<StateChanged>,
    ) -> Result<(), BoxError> {
        self.follow(ctx, &change).await
    }

    async fn on_reconnect(
        &mut self,
        ctx: &AppContext<Self>,
        changed: Arc<[StateChanged]>,
    ) -> Result<(), BoxError> {
        let ids: Vec<&str> = changed.iter().map(|c| c.entity_id.as_str()).collect();
        tracing::info!(count = ids.len(), entities = %ids.join(","), "mirror: on_reconnect");
        for change in changed.iter().filter(|c| c.entity_id == self.config.entity) {
            let state = change.new_state.as_ref().map_or("", |s| s.state.as_str());
            tracing::info!(entity = %change.entity_id, state, "mirror: changed while away");
            self.follow(ctx, change).await?;
        }
        Ok(())
    }
}

/// Writes numbered keys into its cache as fast as a 1 ms timer allows, and says how far it
/// got after each batch: the kill test checks that every key it reported is there.
struct Writer {
    next: u64,
}

/// A batch is due.
#[derive(Clone, Debug)]
struct Batch;

impl App for Writer {
    type Config = WriterConfig;
    type Message = Batch;

    async fn initialize(_: WriterConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        let next = ctx.cache().get_or("next", 0u64)?;
        ctx.scheduler().run_every(Duration::from_millis(1), Batch)?;
        Ok(Self { next })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, _: Batch) -> Result<(), BoxError> {
        for _ in 0..50 {
            ctx.cache().set(&format!("k{}", self.next), &self.next)?;
            self.next += 1;
        }
        ctx.cache().set("next", &self.next)?;
        tracing::info!(next = self.next, "written");
        Ok(())
    }
}

/// Counts its starts in its cache, then takes two seconds to initialize: a signal during the
/// start must still flush the count.
struct SlowStart;

impl App for SlowStart {
    type Config = WriterConfig;
    type Message = ();

    async fn initialize(_: WriterConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        let starts = ctx.cache().get_or("starts", 0u64)? + 1;
        ctx.cache().set("starts", &starts)?;
        tracing::info!(starts, "slow start: initializing");
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(Self)
    }
}

/// [`Writer`] needs no settings.
#[derive(Debug, Deserialize)]
struct WriterConfig {}

/// [`Publisher`]'s config: the entity it owns and the state to give it.
#[derive(Debug, Deserialize)]
struct PublisherConfig {
    entity: String,
    state: f64,
    /// An entity whose last hour of history and logbook it reads and logs.
    history_of: String,
}

/// Owns a temperature sensor in Home Assistant; on each state change of `history_of`, bumps
/// it by one. Logs what Home Assistant's history, logbook and registries say.
struct Publisher {
    config: PublisherConfig,
    value: f64,
}

impl App for Publisher {
    type Config = PublisherConfig;
    type Message = ();

    async fn initialize(config: PublisherConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        (ctx.entity(&config.entity).state(config.state))
            .unit("°C")
            .device_class("temperature")
            .friendly_name("Hassette probe")
            .await?;
        tracing::info!(entity = %config.entity, "publisher: published");
        let areas = ctx.states().registries().areas.len();
        tracing::info!(areas, "publisher: registries read");
        ctx.bus().on(&config.history_of).send(());
        Ok(Self {
            value: config.state,
            config,
        })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, (): ()) -> Result<(), BoxError> {
        self.value += 1.0;
        ctx.entity(&self.config.entity).state(self.value).await?;
        let end = ctx.now().timestamp();
        let start = end.checked_sub(Duration::from_secs(3600))?;
        let history = ctx
            .api()
            .history(&self.config.history_of, start, end)
            .await?;
        let logbook = ctx
            .api()
            .logbook(&[&self.config.history_of], start, end)
            .await?;
        let states: Vec<&str> = history.iter().map(|h| h.state.as_str()).collect();
        tracing::info!(value = self.value, history = %states.join(","), logbook = logbook.len(), "publisher: updated");
        Ok(())
    }
}

/// Built on the module generated from the real Home Assistant (`hassette_tests::real_ha`):
/// when `input_boolean.test_motion` turns on, switches `input_boolean.test_switch` on and
/// `light.bed_light` to 60 %, and logs their typed states as Home Assistant reports them.
struct TypedRealHa {
    switch: Entity<InputBoolean>,
    bed_light: Entity<Light>,
}

/// [`TypedRealHa`] needs no settings.
#[derive(Debug, Deserialize)]
struct NoConfig {}

impl App for TypedRealHa {
    type Config = NoConfig;
    type Message = ();

    async fn initialize(_: NoConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        let motion = real_ha::input_boolean::TEST_MOTION.bind(ctx);
        ctx.bus().on(&motion).to(OnOff::On).send(());
        Ok(Self {
            switch: real_ha::input_boolean::TEST_SWITCH.bind(ctx),
            bed_light: real_ha::light::BED_LIGHT.bind(ctx),
        })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, (): ()) -> Result<(), BoxError> {
        self.switch.turn_on().await?;
        // A generated service builder: typed fields, a target typed by domain.
        real_ha::services::light::turn_on(ctx.api())
            .brightness_pct(60)
            .entity(&self.bed_light)
            .await?;
        let outside = real_ha::sensor::OUTSIDE_TEMPERATURE.bind(ctx).measurement();
        let hvac = real_ha::climate::HVAC.bind(ctx);
        tracing::info!(
            "typed: test_switch {:?} is_on={}, bed_light brightness {:?}, outside {}, hvac {:?} at {:?}",
            self.switch.state(),
            self.switch.is_on(),
            self.bed_light.brightness(),
            outside.map_or_else(|| "none".to_owned(), |m| m.to_string()),
            hvac.state(),
            hvac.current_temperature(),
        );
        Ok(())
    }
}

/// The README's example app, verbatim, so that it keeps compiling.
mod readme {
    use hassette_core::prelude::*;

    #[derive(serde::Deserialize)]
    pub(crate) struct NightLightConfig {
        sensor: String,
        light: String,
        #[serde(with = "hassette_core::duration")]
        off_after: Duration, // "2m"
    }

    #[derive(Clone)]
    pub(crate) enum Msg {
        Motion,
        Quiet,
        Hourly,
        Nightly,
    }

    pub(crate) struct NightLight {
        config: NightLightConfig,
    }

    impl App for NightLight {
        type Config = NightLightConfig;
        type Message = Msg;

        async fn initialize(
            config: NightLightConfig,
            ctx: &AppContext<Self>,
        ) -> Result<Self, BoxError> {
            // The bus: state changes of one entity, filtered, delivered as this app's messages.
            ctx.bus().on(&config.sensor).to("on").send(Msg::Motion);
            // "off for 2 minutes", counted from the sensor's last change (a restart keeps it)
            ctx.bus()
                .on(&config.sensor)
                .to("off")
                .duration(config.off_after)
                .send(Msg::Quiet);
            // The scheduler: each call returns a Result (a zero period, a bad cron field or a
            // stopping runtime is an error, not a timer that silently never fires): use `?`.
            ctx.scheduler()
                .run_every(Duration::from_secs(3600), Msg::Hourly)?;
            ctx.scheduler()
                .run_daily(jiff::civil::time(3, 0, 0, 0), Msg::Nightly)?;
            // The cache: typed reads with a default; it survives restarts.
            let motions: i64 = ctx.cache().get_or("motions_today", 0)?;
            // Logging: `tracing`; every record is tagged with the app key and instance.
            tracing::info!(motions, sensor = %config.sensor, "night light ready");
            Ok(Self { config })
        }

        async fn handle(&mut self, ctx: &AppContext<Self>, message: Msg) -> Result<(), BoxError> {
            match message {
                Msg::Motion => {
                    let motions = ctx.cache().incr("motions_today", 1)?; // atomic, starts at 0
                    ctx.cache().set("last_motion", &ctx.now().timestamp())?;
                    tracing::debug!(motions, "motion");
                    ctx.api()
                        .call("light.turn_on")
                        .target(&self.config.light)
                        .data(json!({"transition": 2}))
                        .await?;
                }
                Msg::Quiet => {
                    ctx.api().turn_off(&self.config.light).await?;
                }
                Msg::Hourly => {
                    // Computed at most once per 6 hours, whatever restarts happen in between.
                    let sun: String = ctx
                        .cache()
                        .get_or_compute(
                            "sun_state",
                            Some(Duration::from_secs(6 * 3600)),
                            || async {
                                Ok::<_, BoxError>(
                                    ctx.api()
                                        .render_template("{{ states('sun.sun') }}", None)
                                        .await?,
                                )
                            },
                        )
                        .await?;
                    let last: Option<jiff::Timestamp> = ctx.cache().get("last_motion")?;
                    tracing::info!(%sun, ?last, "hourly");
                }
                Msg::Nightly => {
                    let motions: i64 = ctx.cache().get_or("motions_today", 0)?;
                    // Kept for two days, then gone (expired entries are never returned).
                    ctx.cache().set_with_ttl(
                        "motions_yesterday",
                        &motions,
                        Duration::from_secs(48 * 3600),
                    )?;
                    ctx.cache().set("motions_today", &0)?;
                    tracing::info!(motions, "a new day");
                }
            }
            Ok(())
        }
    }
}

fn main() -> std::process::ExitCode {
    let mut apps = apps_example::registry();
    apps.register::<Panicky>()
        .register::<NeverStarts>()
        .register::<Sluggish>()
        .register::<Mirror>()
        .register::<Writer>()
        .register::<SlowStart>()
        .register::<Publisher>()
        .register::<readme::NightLight>()
        .register::<TypedRealHa>();
    hassette_cli::main(apps)
}
