//! Example apps, registered in the shipped `hassette` binary.
//!
//! Each app's config is checked at startup; `hassette.toml.example` configures all of them
//! against the entities of the built-in demo Home Assistant (`hassette run --demo`). `ha` is
//! the demo house as typed Rust, written by `hassette codegen --demo -o apps-example/src/ha.rs`
//! (a test keeps it current).

pub mod ha;

mod comfort_fan;
mod counter;
mod daily_report;
mod door_watcher;
mod motion_light;
mod notifier;
mod weather;

pub use comfort_fan::{ComfortFan, ComfortFanConfig};
pub use counter::{Counter, CounterConfig};
pub use daily_report::{DailyReport, DailyReportConfig};
pub use door_watcher::{DoorWatcher, DoorWatcherConfig};
pub use motion_light::{MotionLight, MotionLightConfig};
pub use notifier::{Notifier, NotifierConfig};
pub use weather::{WeatherSummary, WeatherSummaryConfig};

use hassette_core::app::AppRegistry;

/// A registry with every example app.
#[must_use]
pub fn registry() -> AppRegistry {
    let mut registry = AppRegistry::new();
    registry
        .register::<MotionLight>()
        .register::<Counter>()
        .register::<Notifier>()
        .register::<WeatherSummary>()
        .register::<DailyReport>()
        .register::<DoorWatcher>()
        .register::<ComfortFan>();
    registry
}
