//! Hassette: write Home Assistant automations ("apps") in Rust.
//!
//! # Layout
//!
//! - [`config`]: `hassette.toml`, layered with the environment and command-line flags.
//! - [`app`]: the [`app::App`] trait and the registry of app classes.
//! - [`cache`]: the persistent, size-limited, per-app-class cache.
//! - [`ha`]: the Home Assistant websocket client.
//! - [`logging`]: console and persistent logs, and the queries behind `hassette log`.
//! - [`scheduler`]: timers: run_in, run_at, run_every, daily, cron, sunrise and sunset.
//! - [`clock`]: a settable clock for tests.
//! - `testing` (feature `testing`): a faithful fake Home Assistant and an app test harness.

pub mod app;
pub mod cache;
pub mod clock;
pub mod config;
pub mod ha;
pub mod logging;
pub mod scheduler;
#[cfg(feature = "testing")]
pub mod testing;
