//! Test support: the fake Home Assistant (issue 4) and the app test harness.

pub mod fake_ha;

pub use fake_ha::{FakeHomeAssistant, FakeOptions, ServiceCall};
