//! Domains whose state is on or off: light, switch, input_boolean, fan, automation, script;
//! and scene.

use std::time::Duration;

use serde_json::Value;

use super::call::typed_call;
use super::value::{StateText, state_enum};
use super::{Domain, Entity, ServiceCall};

state_enum! {
    /// The state of a light, switch, fan, `input_boolean`, binary sensor, automation or
    /// script.
    OnOff {
        /// On.
        On = "on",
        /// Off.
        Off = "off",
    }
}

/// Declares a domain marker type.
macro_rules! domain {
    ($(#[$meta:meta])* $name:ident = $domain:literal, $state:ty) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {}

        impl Domain for $name {
            const DOMAIN: &'static str = $domain;
            type State = $state;
        }
    };
}

pub(crate) use domain;

domain!(
    /// `light`: [`Entity<Light>`] has `is_on`, `brightness`, `turn_on().brightness_pct(..)`.
    Light = "light", OnOff
);
domain!(
    /// `switch`.
    Switch = "switch", OnOff
);
domain!(
    /// `input_boolean` (a toggle helper).
    InputBoolean = "input_boolean", OnOff
);
domain!(
    /// `fan`: speed as a percentage.
    Fan = "fan", OnOff
);
domain!(
    /// `automation` (Home Assistant's own automations).
    Automation = "automation", OnOff
);
domain!(
    /// `script`: `on` while it runs.
    Script = "script", OnOff
);
domain!(
    /// `scene`: the state is when it was last activated.
    Scene = "scene", StateText
);

/// Domains that `turn_off` and `toggle` without data.
pub trait Switchable: Domain<State = OnOff> {}
impl Switchable for Light {}
impl Switchable for Switch {}
impl Switchable for InputBoolean {}
impl Switchable for Fan {}
impl Switchable for Automation {}
impl Switchable for Script {}

impl<D: Domain<State = OnOff>> Entity<D> {
    /// Whether the state is `on` (`false` when off, unavailable or unknown).
    #[must_use]
    pub fn is_on(&self) -> bool {
        self.state() == OnOff::On
    }

    /// Whether the state is `off` (`false` when on, unavailable or unknown).
    #[must_use]
    pub fn is_off(&self) -> bool {
        self.state() == OnOff::Off
    }
}

impl<D: Switchable> Entity<D> {
    /// `<domain>.toggle`.
    pub fn toggle(&self) -> ServiceCall {
        self.service("toggle")
    }
}

/// Declares the data-less `turn_on` and `turn_off` for a switchable domain.
macro_rules! plain_on_off {
    ($($domain:ty),+) => {$(
        impl Entity<$domain> {
            /// `turn_on`.
            pub fn turn_on(&self) -> ServiceCall {
                self.service("turn_on")
            }
            /// `turn_off`.
            pub fn turn_off(&self) -> ServiceCall {
                self.service("turn_off")
            }
        }
    )+};
}

plain_on_off!(Switch, InputBoolean, Script);

typed_call!(
    /// `light.turn_on`, being built.
    LightTurnOn
);
typed_call!(
    /// `light.turn_off`, being built.
    LightTurnOff
);

impl LightTurnOn {
    /// Brightness 0-255 (`brightness`).
    pub fn brightness(self, value: u8) -> Self {
        self.data("brightness", value)
    }
    /// Brightness in percent, 0-100 (`brightness_pct`; 0 turns the light off).
    pub fn brightness_pct(self, percent: u8) -> Self {
        self.data("brightness_pct", percent.min(100))
    }
    /// How long the change takes (`transition`, in seconds).
    pub fn transition(self, duration: Duration) -> Self {
        Self(self.0.seconds("transition", duration))
    }
    /// Colour temperature in kelvin (`color_temp_kelvin`).
    pub fn color_temp_kelvin(self, kelvin: u32) -> Self {
        self.data("color_temp_kelvin", kelvin)
    }
    /// Colour as red, green, blue (`rgb_color`).
    pub fn rgb_color(self, rgb: [u8; 3]) -> Self {
        self.data("rgb_color", rgb.to_vec())
    }
    /// A light effect by name (`effect`).
    pub fn effect(self, effect: &str) -> Self {
        self.data("effect", effect)
    }
}

impl LightTurnOff {
    /// How long the change takes (`transition`, in seconds).
    pub fn transition(self, duration: Duration) -> Self {
        Self(self.0.seconds("transition", duration))
    }
}

impl Entity<Light> {
    /// Brightness 0-255, when on.
    #[must_use]
    pub fn brightness(&self) -> Option<u8> {
        self.attribute("brightness")
    }
    /// Colour temperature in kelvin, when on and in that mode.
    #[must_use]
    pub fn color_temp_kelvin(&self) -> Option<u32> {
        self.attribute("color_temp_kelvin")
    }
    /// Colour as red, green, blue, when on.
    #[must_use]
    pub fn rgb_color(&self) -> Option<[u8; 3]> {
        self.attribute("rgb_color")
    }
    /// The current effect.
    #[must_use]
    pub fn effect(&self) -> Option<String> {
        self.attribute("effect")
    }
    /// `light.turn_on`; add `.brightness_pct(60)`, `.transition(..)`, then `.await`.
    pub fn turn_on(&self) -> LightTurnOn {
        LightTurnOn(self.service("turn_on"))
    }
    /// `light.turn_off`.
    pub fn turn_off(&self) -> LightTurnOff {
        LightTurnOff(self.service("turn_off"))
    }
}

typed_call!(
    /// `fan.turn_on`, being built.
    FanTurnOn
);

impl FanTurnOn {
    /// Speed in percent (`percentage`).
    pub fn percentage(self, percent: u8) -> Self {
        self.data("percentage", percent.min(100))
    }
    /// A preset mode (`preset_mode`).
    pub fn preset_mode(self, mode: &str) -> Self {
        self.data("preset_mode", mode)
    }
}

impl Entity<Fan> {
    /// Speed in percent, when on.
    #[must_use]
    pub fn percentage(&self) -> Option<u8> {
        self.number("percentage").map(|p| p.clamp(0.0, 100.0) as u8)
    }
    /// Whether it oscillates.
    #[must_use]
    pub fn oscillating(&self) -> Option<bool> {
        self.attribute("oscillating")
    }
    /// `fan.turn_on`.
    pub fn turn_on(&self) -> FanTurnOn {
        FanTurnOn(self.service("turn_on"))
    }
    /// `fan.turn_off`.
    pub fn turn_off(&self) -> ServiceCall {
        self.service("turn_off")
    }
    /// `fan.set_percentage`.
    pub fn set_percentage(&self, percent: u8) -> ServiceCall {
        self.service("set_percentage")
            .data("percentage", percent.min(100))
    }
    /// `fan.oscillate`.
    pub fn oscillate(&self, on: bool) -> ServiceCall {
        self.service("oscillate").data("oscillating", on)
    }
}

impl Entity<Automation> {
    /// `automation.turn_on`.
    pub fn turn_on(&self) -> ServiceCall {
        self.service("turn_on")
    }
    /// `automation.turn_off`; `stop_actions` stops runs in progress.
    pub fn turn_off(&self, stop_actions: bool) -> ServiceCall {
        self.service("turn_off").data("stop_actions", stop_actions)
    }
    /// `automation.trigger`: runs its actions now (`skip_condition` skips its conditions).
    pub fn trigger(&self, skip_condition: bool) -> ServiceCall {
        self.service("trigger")
            .data("skip_condition", skip_condition)
    }
    /// When it last triggered.
    #[must_use]
    pub fn last_triggered(&self) -> Option<jiff::Timestamp> {
        self.attribute::<String>("last_triggered")
            .and_then(|t| t.parse().ok())
    }
}

impl Entity<Script> {
    /// Runs the script (`script.<name>`) with `variables` (a JSON object, or `Value::Null`)
    /// and waits until it has finished.
    pub fn run(&self, variables: Value) -> ServiceCall {
        ServiceCall::new(
            self.api().clone(),
            "script",
            self.id().object_id().to_owned(),
        )
        .data_json(variables)
        .updating(self.states())
    }
}

typed_call!(
    /// `scene.turn_on`, being built.
    SceneTurnOn
);

impl SceneTurnOn {
    /// How long the change takes (`transition`, in seconds).
    pub fn transition(self, duration: Duration) -> Self {
        Self(self.0.seconds("transition", duration))
    }
}

impl Entity<Scene> {
    /// `scene.turn_on`: activates the scene.
    pub fn turn_on(&self) -> SceneTurnOn {
        SceneTurnOn(self.service("turn_on"))
    }
    /// When it was last activated (its state), if ever.
    #[must_use]
    pub fn last_activated(&self) -> Option<jiff::Timestamp> {
        self.state().text().and_then(|t| t.parse().ok())
    }
}
