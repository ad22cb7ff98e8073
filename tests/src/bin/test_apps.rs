//! A user's own binary, as the README describes it: the whole `hassette` CLI with apps of its
//! own. The end-to-end tests use it for apps that misbehave on purpose.

use std::sync::Arc;
use std::time::Duration;

use hassette_core::app::{App, AppContext, BoxError};
use hassette_core::ha::StateChanged;
use serde::Deserialize;

/// The config of both test apps: the entity to follow.
#[derive(Debug, Deserialize)]
struct Config {
    entity: String,
}

/// Panics when its entity turns on.
struct Panicky {
    ctx: AppContext<Self>,
}

impl App for Panicky {
    type Config = Config;
    type Message = Arc<StateChanged>;

    async fn initialize(config: Config, ctx: AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on_state_change(&config.entity).send_with(|c| c);
        Ok(Self { ctx })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, change: Arc<StateChanged>) -> Result<(), BoxError> {
        let state = change.new_state.as_ref().map_or("", |s| s.state.as_str());
        assert!(state != "on", "Panicky was told to panic");
        tracing::info!(state, "panicky saw a change");
        Ok(())
    }
}

/// Its `initialize` always fails, saying why.
struct NeverStarts {
    ctx: AppContext<Self>,
}

impl App for NeverStarts {
    type Config = Config;
    type Message = ();

    async fn initialize(config: Config, _: AppContext<Self>) -> Result<Self, BoxError> {
        Err(format!("{} is not reachable", config.entity).into())
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }
}

/// Takes ten seconds over every change.
struct Sluggish {
    ctx: AppContext<Self>,
}

impl App for Sluggish {
    type Config = Config;
    type Message = Arc<StateChanged>;

    async fn initialize(config: Config, ctx: AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on_state_change(&config.entity).send_with(|c| c);
        Ok(Self { ctx })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, _: Arc<StateChanged>) -> Result<(), BoxError> {
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
    ctx: AppContext<Self>,
    config: MirrorConfig,
}

impl Mirror {
    async fn follow(&self, change: &StateChanged) -> Result<(), BoxError> {
        let old = change.old_state.as_ref().map(|s| s.state.as_str());
        match change.new_state.as_ref().map(|s| s.state.as_str()) {
            Some(new) if Some(new) == old => {}
            Some("on") => {
                self.api().turn_on(&self.config.target, None).await?;
            }
            Some("off") => {
                self.api().turn_off(&self.config.target).await?;
            }
            _ => return Ok(()),
        }
        Ok(())
    }
}

impl App for Mirror {
    type Config = MirrorConfig;
    type Message = Arc<StateChanged>;

    async fn initialize(config: MirrorConfig, ctx: AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on_state_change(&config.entity).send_with(|c| c);
        Ok(Self { ctx, config })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, change: Arc<StateChanged>) -> Result<(), BoxError> {
        self.follow(&change).await
    }

    async fn on_reconnect(&mut self, changed: Arc<[StateChanged]>) -> Result<(), BoxError> {
        for change in changed.iter().filter(|c| c.entity_id == self.config.entity) {
            let state = change.new_state.as_ref().map_or("", |s| s.state.as_str());
            tracing::info!(entity = %change.entity_id, state, "mirror: changed while away");
            self.follow(change).await?;
        }
        Ok(())
    }
}

/// Writes numbered keys into its cache as fast as a 1 ms timer allows, and says how far it
/// got after each batch: the kill test checks that every key it reported is there.
struct Writer {
    ctx: AppContext<Self>,
    next: u64,
}

/// A batch is due.
#[derive(Clone, Debug)]
struct Batch;

impl App for Writer {
    type Config = WriterConfig;
    type Message = Batch;

    async fn initialize(_: WriterConfig, ctx: AppContext<Self>) -> Result<Self, BoxError> {
        let next = ctx.cache().get_or("next", 0u64)?;
        ctx.scheduler().run_every(Duration::from_millis(1), Batch)?;
        Ok(Self { ctx, next })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, _: Batch) -> Result<(), BoxError> {
        for _ in 0..50 {
            self.cache().set(&format!("k{}", self.next), &self.next)?;
            self.next += 1;
        }
        self.cache().set("next", &self.next)?;
        tracing::info!(next = self.next, "written");
        Ok(())
    }
}

/// [`Writer`] needs no settings.
#[derive(Debug, Deserialize)]
struct WriterConfig {}

fn main() -> std::process::ExitCode {
    let mut apps = apps_example::registry();
    apps.register::<Panicky>()
        .register::<NeverStarts>()
        .register::<Sluggish>()
        .register::<Mirror>()
        .register::<Writer>();
    hassette_cli::main(apps)
}
