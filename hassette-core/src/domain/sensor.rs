//! Sensors and value helpers: sensor, binary_sensor, input_number, input_select, input_text.

use super::switchable::{OnOff, domain};
use super::value::StateText;
use super::{Domain, Entity, ServiceCall, StateValue};

/// A sensor's state: a number (with its unit on [`Measurement`]), text, or not there.
#[derive(Clone, Debug, PartialEq)]
pub enum SensorValue {
    /// A numeric state (`"21.5"`).
    Number(f64),
    /// Any other state (`"charging"`, a timestamp).
    Text(String),
    /// The sensor is unavailable, or not in Home Assistant's states at all.
    Unavailable,
    /// Home Assistant does not know the value yet.
    Unknown,
}

impl SensorValue {
    /// The number, when the state is one.
    #[must_use]
    pub fn number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }
}

impl StateValue for SensorValue {
    fn decode(state: &str) -> Self {
        match state {
            "unavailable" => Self::Unavailable,
            "unknown" => Self::Unknown,
            text => match text.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => Self::Number(n),
                _ => Self::Text(text.to_owned()),
            },
        }
    }
    fn missing() -> Self {
        Self::Unavailable
    }
}

/// A numeric reading with its unit (`21.5 °C`).
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// The value.
    pub value: f64,
    /// `unit_of_measurement`, when the entity has one.
    pub unit: Option<String>,
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.unit {
            Some(unit) => write!(f, "{} {unit}", self.value),
            None => write!(f, "{}", self.value),
        }
    }
}

domain!(
    /// `sensor`: numbers with units, or text.
    Sensor = "sensor", SensorValue
);
domain!(
    /// `binary_sensor`: on or off (motion, door open, ...).
    BinarySensor = "binary_sensor", OnOff
);
domain!(
    /// `input_number` (a number helper).
    InputNumber = "input_number", SensorValue
);
domain!(
    /// `input_select` (a dropdown helper): the state is the selected option.
    InputSelect = "input_select", StateText
);
domain!(
    /// `input_text` (a text helper).
    InputText = "input_text", StateText
);

impl<D: Domain<State = SensorValue>> Entity<D> {
    /// The state as a number, when it is one.
    #[must_use]
    pub fn value(&self) -> Option<f64> {
        self.state().number()
    }

    /// The state with its unit, when it is a number.
    #[must_use]
    pub fn measurement(&self) -> Option<Measurement> {
        Some(Measurement {
            value: self.value()?,
            unit: self.unit(),
        })
    }

    /// `unit_of_measurement`.
    #[must_use]
    pub fn unit(&self) -> Option<String> {
        self.attribute("unit_of_measurement")
    }
}

impl Entity<Sensor> {
    /// `device_class` (`temperature`, `humidity`, ...).
    #[must_use]
    pub fn device_class(&self) -> Option<String> {
        self.attribute("device_class")
    }
}

impl Entity<BinarySensor> {
    /// `device_class` (`motion`, `door`, ...).
    #[must_use]
    pub fn device_class(&self) -> Option<String> {
        self.attribute("device_class")
    }
}

impl Entity<InputNumber> {
    /// The smallest value allowed.
    #[must_use]
    pub fn min(&self) -> Option<f64> {
        self.number("min")
    }
    /// The largest value allowed.
    #[must_use]
    pub fn max(&self) -> Option<f64> {
        self.number("max")
    }
    /// The step.
    #[must_use]
    pub fn step(&self) -> Option<f64> {
        self.number("step")
    }
    /// `input_number.set_value`.
    pub fn set_value(&self, value: f64) -> ServiceCall {
        self.service("set_value").data("value", value)
    }
    /// `input_number.increment`.
    pub fn increment(&self) -> ServiceCall {
        self.service("increment")
    }
    /// `input_number.decrement`.
    pub fn decrement(&self) -> ServiceCall {
        self.service("decrement")
    }
}

impl Entity<InputSelect> {
    /// The selected option, when there is one.
    #[must_use]
    pub fn option(&self) -> Option<String> {
        self.state().text().map(str::to_owned)
    }
    /// Every option.
    #[must_use]
    pub fn options(&self) -> Vec<String> {
        self.attribute("options").unwrap_or_default()
    }
    /// `input_select.select_option`.
    pub fn select_option(&self, option: &str) -> ServiceCall {
        self.service("select_option").data("option", option)
    }
    /// `input_select.select_next`, wrapping around at the end when `cycle`.
    pub fn select_next(&self, cycle: bool) -> ServiceCall {
        self.service("select_next").data("cycle", cycle)
    }
    /// `input_select.select_previous`, wrapping around at the start when `cycle`.
    pub fn select_previous(&self, cycle: bool) -> ServiceCall {
        self.service("select_previous").data("cycle", cycle)
    }
}

impl Entity<InputText> {
    /// The text, when there is one.
    #[must_use]
    pub fn text(&self) -> Option<String> {
        self.state().text().map(str::to_owned)
    }
    /// `input_text.set_value`.
    pub fn set_value(&self, text: &str) -> ServiceCall {
        self.service("set_value").data("value", text)
    }
}
