//! Hassette: write Home Assistant automations ("apps") in Rust.
//!
//! # Layout
//!
//! - [`config`]: `hassette.toml`, layered with the environment and command-line flags.
//! - [`app`]: the [`app::App`] trait and the registry of app classes.
//! - [`cache`]: the persistent, size-limited, per-app-class cache.
//! - [`ha`]: the Home Assistant websocket client.
//! - [`logging`]: console and persistent logs, and the queries behind `hassette log`.
//! - [`clock`]: a settable clock for tests.
//! - `testing` (feature `testing`): a faithful fake Home Assistant and an app test harness.

pub mod app;
pub mod cache;
pub mod clock;
pub mod config;
pub mod ha;
pub mod logging;
#[cfg(feature = "testing")]
pub mod testing;
