//! The app model: the [`App`] trait and the [`AppRegistry`] of app classes.
//!
//! Apps are compiled in: a binary registers its app types under their class names, and
//! `class_name` in `hassette.toml` picks one. Every configured instance's `config` table is
//! deserialized into the app's [`App::Config`] at startup, so a typo fails before any
//! connection is made.

mod context;
mod probe;
mod registry;

use std::future::Future;
use std::sync::Arc;

pub(crate) use context::{Activity, Envelope, Shared, deliver_envelope};
pub use context::{AppBus, AppContext, AppScheduler, IntoEntities};
pub use registry::{AppClass, AppRegistry, ConfigProblem};

use crate::cache::AppCache;
pub use crate::ha::BoxError;
use crate::ha::{Api, StateChanged};
use crate::state::States;

/// A Home Assistant automation written in Rust.
///
/// One task runs each configured instance and calls its handlers one at a time with
/// `&mut self`, so an app keeps its own state in plain fields: no locks, no `Arc`. Handlers are
/// `async fn`s; an error they return is logged (with the app key and instance) and the app
/// carries on; a panic stops that instance only.
///
/// Subscriptions and timers deliver the app's own [`App::Message`] values to
/// [`App::handle`]. Inside any handler, `self.cache()`, `self.api()`, `self.bus()`, `self.scheduler()`,
/// `self.states()`, `self.now()`, `self.instance_name()` and `self.app_key()` are at hand
/// through [`App::context`].
///
/// # Examples
///
/// ```
/// use hassette_core::app::{App, AppContext, BoxError};
///
/// #[derive(serde::Deserialize)]
/// struct Config { sensor: String, light: String }
///
/// #[derive(Clone)]
/// enum Msg { Motion }
///
/// struct MotionLight { ctx: AppContext<Self>, config: Config }
///
/// impl App for MotionLight {
///     type Config = Config;
///     type Message = Msg;
///
///     async fn initialize(config: Config, ctx: AppContext<Self>) -> Result<Self, BoxError> {
///         ctx.bus().on_state_change(&config.sensor).to("on").send(Msg::Motion);
///         Ok(Self { ctx, config })
///     }
///
///     fn context(&self) -> &AppContext<Self> {
///         &self.ctx
///     }
///
///     async fn handle(&mut self, message: Msg) -> Result<(), BoxError> {
///         match message {
///             Msg::Motion => self.api().turn_on(&self.config.light, None).await?,
///         };
///         Ok(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Hassette app",
    label = "this type does not implement `App`",
    note = "implement `hassette_core::app::App` for `{Self}`: `type Config`, `type Message`, `async fn initialize`, `fn context` (and usually `async fn handle`)"
)]
pub trait App: Send + Sync + Sized + 'static {
    /// The app's own settings: one instance's `config` table in `hassette.toml`.
    ///
    /// Unknown keys in that table are errors, so a misspelt optional setting is caught at
    /// startup instead of being silently ignored.
    type Config: serde::de::DeserializeOwned + Send + Sync + 'static;

    /// What subscriptions and timers deliver to [`App::handle`]; usually an enum. Apps that
    /// subscribe to nothing use `()`.
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
        ctx: AppContext<Self>,
    ) -> impl Future<Output = Result<Self, BoxError>> + Send;

    /// The context given to [`App::initialize`], which the app keeps.
    fn context(&self) -> &AppContext<Self>;

    /// Handles one message. The next message waits until this returns.
    fn handle(
        &mut self,
        message: Self::Message,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = message;
        async { Ok(()) }
    }

    /// The connection to Home Assistant came back after a loss; `changed` lists every entity
    /// whose state changed (or that appeared or went) while it was away. The states view is
    /// already current when this runs.
    fn on_reconnect(
        &mut self,
        changed: Arc<[StateChanged]>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = changed;
        async { Ok(()) }
    }

    /// Last words before the runtime stops: final cache writes, lights off. Runs under the
    /// `app_shutdown_timeout`.
    fn shutdown(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }

    /// This app class's persistent, size-limited cache, shared by every instance of the class.
    fn cache(&self) -> &AppCache {
        self.context().cache()
    }

    /// The Home Assistant API.
    fn api(&self) -> &Api {
        self.context().api()
    }

    /// Every entity's current state.
    fn states(&self) -> &States {
        self.context().states()
    }

    /// A typed handle on one entity (see [`crate::domain`]).
    fn entity<D: crate::domain::Domain>(
        &self,
        id: crate::domain::EntityId<D>,
    ) -> crate::domain::Entity<D> {
        self.context().entity(id)
    }

    /// Subscriptions, delivered as this app's messages.
    fn bus(&self) -> AppBus<'_, Self> {
        self.context().bus()
    }

    /// Timers, delivered as this app's messages.
    fn scheduler(&self) -> AppScheduler<'_, Self> {
        self.context().scheduler()
    }

    /// The current time in Home Assistant's time zone.
    fn now(&self) -> jiff::Zoned {
        self.context().now()
    }

    /// This instance's name.
    fn instance_name(&self) -> &str {
        self.context().instance_name()
    }

    /// The app key.
    fn app_key(&self) -> &str {
        self.context().app_key()
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
