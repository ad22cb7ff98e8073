//! Hassette: write Home Assistant automations ("apps") in Rust.
//!
//! # Layout
//!
//! - [`prelude`]: what an app file needs, in one `use hassette_core::prelude::*;`.
//! - [`duration`]: `"2m"`-style durations in app configs.
//! - [`config`]: `hassette.toml`, layered with the environment and command-line flags.
//! - [`app`]: the [`app::App`] trait and the registry of app classes.
//! - [`bus`]: subscriptions to state changes and events, delivered into app mailboxes.
//! - [`runtime`]: connect, start every app instance, deliver, shut down in order.
//! - [`cache`]: the persistent, size-limited, per-app-class cache.
//! - [`ha`]: the Home Assistant websocket client.
//! - [`logging`]: console and persistent logs, and the queries behind `hassette log`.
//! - [`scheduler`]: timers: run_in, run_at, run_every, daily, cron, sunrise and sunset.
//! - [`state`]: the read-only view of every entity's state.
//! - [`domain`]: typed entities (`Entity<Light>`), typed states and typed service calls.
//! - [`clock`]: a settable clock for tests.
//! - [`secret`]: [`secret::Secret`], a value (the access token) that never shows in logs.
//! - `web` (feature `web`, on by default): the status API and web UI of `hassette run`.
//! - `testing` (feature `testing`): a faithful fake Home Assistant and an app test harness.

pub mod app;
pub mod bus;
pub mod cache;
pub mod clock;
pub mod codegen;
pub mod config;
pub mod domain;
pub mod duration;
pub mod ha;
pub mod logging;
pub mod prelude;
mod private_files;
pub mod runtime;
pub mod scheduler;
pub mod secret;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;

/// Re-exported for generated code (`hassette codegen`) and apps: the JSON and time types in
/// hassette's API.
pub use {jiff, serde_json};
#[cfg(feature = "web")]
pub mod web;
