//! Typed Home Assistant: a handle per entity, with its state as a Rust value and its services
//! as typed calls.
//!
//! An [`EntityId<D>`] names an entity of domain `D` (`EntityId<Light>`); it is `const`, so a
//! generated module (`hassette codegen`) can list every entity of a house. Bound to the
//! connection it becomes an [`Entity<D>`], which reads the live state and calls services:
//!
//! ```no_run
//! # async fn demo(api: hassette_core::ha::Api, states: hassette_core::state::States)
//! #     -> Result<(), hassette_core::ha::HaError> {
//! use std::time::Duration;
//! use hassette_core::domain::{Entity, EntityId, Light, OnOff};
//!
//! const KITCHEN: EntityId<Light> = EntityId::from_static("light.kitchen");
//! let kitchen = Entity::new(KITCHEN, api, states);
//! kitchen.turn_on().brightness_pct(60).transition(Duration::from_secs(2)).await?;
//! if kitchen.state() == OnOff::On {
//!     println!("brightness {:?}", kitchen.brightness());
//! }
//! # Ok(()) }
//! ```
//!
//! Decoding never fails: `unavailable` and `unknown` are values ([`OnOff::Unavailable`]), and
//! a state or attribute value a later Home Assistant adds decodes to the `Other(String)`
//! variant. Anything this module does not cover stays reachable through the string API
//! ([`Api::call_service`], [`States`]).

mod call;
mod climate;
mod entity;
mod presence;
mod sensor;
mod switchable;
mod value;

pub use crate::app::IntoEntities;
pub use call::{CallOutput, Response, ServiceCall};
pub use climate::{
    Climate, Cover, CoverState, HvacAction, HvacMode, Lock, LockState, MediaPlayer,
    MediaPlayerState,
};
pub use entity::{Connected, Domain, Entity, EntityId, EntityIdError, Targets};
pub use presence::{
    DeviceTracker, Forecast, ForecastType, Forecasts, Person, Presence, Sun, SunState, Weather,
    WeatherCondition,
};
pub use sensor::{
    BinarySensor, InputNumber, InputSelect, InputText, Measurement, Sensor, SensorValue,
};
pub use switchable::{
    Automation, Fan, FanTurnOn, InputBoolean, Light, LightTurnOff, LightTurnOn, OnOff, Scene,
    SceneTurnOn, Script, Switch, Switchable,
};
pub use value::{StateText, StateValue};

#[cfg(doc)]
use crate::{ha::Api, state::States};
