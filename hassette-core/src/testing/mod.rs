//! Test support: the fake Home Assistant (issue 4) and the app test harness.

pub mod fake_ha;
mod harness;
mod proxy;

pub use fake_ha::{FakeHomeAssistant, FakeOptions, ServiceCall};
pub use harness::{APP_KEY, AppHarness, HarnessBuilder};
pub use proxy::Proxy;
