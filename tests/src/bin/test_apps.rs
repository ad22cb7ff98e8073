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

/// [`Writer`] needs no settings.
#[derive(Debug, Deserialize)]
struct WriterConfig {}

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
            ctx.bus().on(&config.sensor).to("on").send(Msg::Motion);
            // "off for 2 minutes", counted from the sensor's last change (a restart keeps it)
            (ctx.bus().on(&config.sensor).to("off"))
                .duration(config.off_after)
                .send(Msg::Quiet);
            Ok(Self { config })
        }

        async fn handle(&mut self, ctx: &AppContext<Self>, message: Msg) -> Result<(), BoxError> {
            let service = match message {
                Msg::Motion => "light.turn_on",
                Msg::Quiet => "light.turn_off",
            };
            (ctx.api().call(service).target(&self.config.light))
                .data(json!({"transition": 2}))
                .await?;
            Ok(())
        }
    }
}

fn main() -> std::process::ExitCode {
    let mut apps = apps_example::registry();
    apps.register::<Panicky>()
        .register::<Sluggish>()
        .register::<Mirror>()
        .register::<Writer>()
        .register::<readme::NightLight>()
        .register::<TypedRealHa>();
    hassette_cli::main(apps)
}
