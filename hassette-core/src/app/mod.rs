//! The app model: the [`App`] trait and the [`AppRegistry`] of app classes.
//!
//! Apps are compiled in: a binary registers its app types under their class names, and
//! `class_name` in `hassette.toml` picks one. Every configured instance's `config` table is
//! deserialized into the app's [`App::Config`] at startup, so a typo fails before any
//! connection is made.

mod context;
mod messages;
mod owned;
mod probe;
mod registry;
mod timers;

use std::future::Future;
use std::sync::Arc;

pub use context::{AppBus, AppContext, IntoEntities};
pub(crate) use messages::Directory;
pub use messages::SendError;
pub(crate) use owned::OwnedEntities;
#[cfg(feature = "testing")]
pub(crate) use owned::valid_entity_id;
pub use owned::{EntityError, EntityUpdate};
pub use registry::{AppClass, AppRegistry, ConfigProblem};
pub use timers::{AppScheduler, JobInfo};

pub use crate::ha::BoxError;
use crate::ha::StateChanged;

/// A Home Assistant automation written in Rust.
///
/// One task runs each configured instance and calls its hooks one at a time with
/// `&mut self`, so an app keeps its own state in plain fields: no locks, no `Arc`. Hooks are
/// `async fn`s; an error they return is logged (with the app key and instance) and the app
/// carries on; a panic stops that instance only.
///
/// The framework owns each instance's [`AppContext`] and hands it to every hook: `ctx.api()`,
/// `ctx.bus()`, `ctx.scheduler()`, `ctx.cache()`, `ctx.states()`, `ctx.now()`,
/// `ctx.instance_name()`. The app struct holds only the app's own state.
///
/// Subscriptions and timers deliver the app's own [`App::Message`] values to
/// [`App::handle`].
///
/// # Examples
///
/// ```
/// use hassette_core::prelude::*;
///
/// #[derive(serde::Deserialize)]
/// struct Config { sensor: String, light: String }
///
/// #[derive(Clone)]
/// enum Msg { Motion }
///
/// struct MotionLight { config: Config }
///
/// impl App for MotionLight {
///     type Config = Config;
///     type Message = Msg;
///
///     async fn initialize(config: Config, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
///         ctx.bus().on(&config.sensor).to("on").send(Msg::Motion);
///         Ok(Self { config })
///     }
///
///     async fn handle(&mut self, ctx: &AppContext<Self>, message: Msg) -> Result<(), BoxError> {
///         match message {
///             Msg::Motion => ctx.api().call("light.turn_on").target(&self.config.light).await?,
///         };
///         Ok(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Hassette app",
    label = "this type does not implement `App`",
    note = "implement `hassette_core::app::App` for `{Self}`: `type Config`, `type Message`, `async fn initialize` (and usually `async fn handle`)"
)]
pub trait App: Send + Sync + Sized + 'static {
    /// The app's own settings: one instance's `config` table in `hassette.toml`.
    ///
    /// Unknown keys in that table are errors, so a misspelt optional setting is caught at
    /// startup instead of being silently ignored. Durations read from `"2m"`-style strings
    /// with [`crate::duration`].
    type Config: serde::de::DeserializeOwned + Send + Sync + 'static;

    /// What subscriptions, timers and other apps deliver to [`App::handle`]; usually an enum.
    /// Apps that subscribe to nothing use `()`.
    type Message: Send + 'static;

    /// The name that `class_name` in `hassette.toml` selects this app by, and the name of its
    /// cache directory. Defaults to the type's name without its module path.
    #[must_use]
    fn class_name() -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }

    /// Builds the instance: subscribe, schedule, read the cache. Runs once, under the
    /// `app_startup_timeout`; an error or a timeout means the instance does not start.
    fn initialize(
        config: Self::Config,
        ctx: &AppContext<Self>,
    ) -> impl Future<Output = Result<Self, BoxError>> + Send;

    /// Handles one message. The next message waits until this returns.
    fn handle(
        &mut self,
        ctx: &AppContext<Self>,
        message: Self::Message,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = (ctx, message);
        async { Ok(()) }
    }

    /// The connection to Home Assistant came back after a loss; `changed` lists every entity
    /// whose state changed (or that appeared or went) while it was away. The states view is
    /// already current, and the app's own entities are published again, when this runs.
    fn on_reconnect(
        &mut self,
        ctx: &AppContext<Self>,
        changed: Arc<[StateChanged]>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = (ctx, changed);
        async { Ok(()) }
    }

    /// Last words before the runtime stops: final cache writes, lights off. Runs under the
    /// `app_shutdown_timeout`.
    fn shutdown(
        &mut self,
        ctx: &AppContext<Self>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }
}

/// `my_crate::apps::MotionLight` → `MotionLight` (generic arguments kept).
fn short_type_name(full: &'static str) -> &'static str {
    let base_end = full.find('<').unwrap_or(full.len());
    let start = full[..base_end].rfind("::").map_or(0, |i| i + 2);
    &full[start..]
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn short_names() {
        assert_eq!(short_type_name("a::b::MotionLight"), "MotionLight");
        assert_eq!(short_type_name("MotionLight"), "MotionLight");
        assert_eq!(short_type_name("a::Wrap<b::C>"), "Wrap<b::C>");
    }
}
