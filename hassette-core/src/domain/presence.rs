//! Where people and the sun are, and the weather: person, device_tracker, sun, weather.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::call::Response;
use super::switchable::domain;
use super::value::{ha_enum, state_enum};
use super::{Domain, Entity, ServiceCall};

state_enum! {
    /// Where a person or tracked device is: `home`, `not_home`, or a zone's name (as `Other`).
    Presence {
        /// At home.
        Home = "home",
        /// Away, in no zone.
        NotHome = "not_home",
    }
}

state_enum! {
    /// `sun.sun`'s state.
    SunState {
        /// The sun is up.
        AboveHorizon = "above_horizon",
        /// The sun is down.
        BelowHorizon = "below_horizon",
    }
}

state_enum! {
    /// A weather entity's state: the condition now.
    WeatherCondition {
        /// Clear, at night.
        ClearNight = "clear-night",
        /// Cloudy.
        Cloudy = "cloudy",
        /// Exceptional.
        Exceptional = "exceptional",
        /// Fog.
        Fog = "fog",
        /// Hail.
        Hail = "hail",
        /// Lightning.
        Lightning = "lightning",
        /// Lightning and rain.
        LightningRainy = "lightning-rainy",
        /// Partly cloudy.
        PartlyCloudy = "partlycloudy",
        /// Pouring.
        Pouring = "pouring",
        /// Rainy.
        Rainy = "rainy",
        /// Snowy.
        Snowy = "snowy",
        /// Snow and rain.
        SnowyRainy = "snowy-rainy",
        /// Sunny.
        Sunny = "sunny",
        /// Windy.
        Windy = "windy",
        /// Windy and cloudy.
        WindyVariant = "windy-variant",
    }
}

ha_enum! {
    /// Which forecast `weather.get_forecasts` returns.
    ForecastType {
        /// One per day.
        Daily = "daily",
        /// One per hour.
        Hourly = "hourly",
        /// Day and night.
        TwiceDaily = "twice_daily",
    }
}

/// One forecast period (`weather.get_forecasts`). Fields a weather service does not give are
/// `None`; fields this type does not know are in `other`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Forecast {
    /// The start of the period (ISO 8601).
    pub datetime: Option<String>,
    /// The expected condition.
    pub condition: Option<WeatherCondition>,
    /// The (high) temperature.
    pub temperature: Option<f64>,
    /// The low temperature.
    pub templow: Option<f64>,
    /// Precipitation amount.
    pub precipitation: Option<f64>,
    /// Chance of precipitation, in percent.
    pub precipitation_probability: Option<f64>,
    /// Relative humidity, in percent.
    pub humidity: Option<f64>,
    /// Wind speed.
    pub wind_speed: Option<f64>,
    /// Whether the period is daytime (`twice_daily`).
    pub is_daytime: Option<bool>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// One entity's answer to `weather.get_forecasts`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Forecasts {
    /// The forecast periods, earliest first.
    pub forecast: Vec<Forecast>,
}

domain!(
    /// `person`.
    Person = "person", Presence
);
domain!(
    /// `device_tracker`.
    DeviceTracker = "device_tracker", Presence
);
domain!(
    /// `sun` (`sun.sun`).
    Sun = "sun", SunState
);
domain!(
    /// `weather`.
    Weather = "weather", WeatherCondition
);

impl<D: Domain<State = Presence>> Entity<D> {
    /// Whether at home.
    #[must_use]
    pub fn is_home(&self) -> bool {
        self.state() == Presence::Home
    }
    /// Latitude, when known.
    #[must_use]
    pub fn latitude(&self) -> Option<f64> {
        self.number("latitude")
    }
    /// Longitude, when known.
    #[must_use]
    pub fn longitude(&self) -> Option<f64> {
        self.number("longitude")
    }
    /// GPS accuracy in metres, when known.
    #[must_use]
    pub fn gps_accuracy(&self) -> Option<f64> {
        self.number("gps_accuracy")
    }
}

impl Entity<Sun> {
    /// Whether the sun is up.
    #[must_use]
    pub fn is_up(&self) -> bool {
        self.state() == SunState::AboveHorizon
    }
    /// The next sunrise.
    #[must_use]
    pub fn next_rising(&self) -> Option<jiff::Timestamp> {
        self.time("next_rising")
    }
    /// The next sunset.
    #[must_use]
    pub fn next_setting(&self) -> Option<jiff::Timestamp> {
        self.time("next_setting")
    }
    /// The next dawn.
    #[must_use]
    pub fn next_dawn(&self) -> Option<jiff::Timestamp> {
        self.time("next_dawn")
    }
    /// The next dusk.
    #[must_use]
    pub fn next_dusk(&self) -> Option<jiff::Timestamp> {
        self.time("next_dusk")
    }
    /// The sun's elevation in degrees.
    #[must_use]
    pub fn elevation(&self) -> Option<f64> {
        self.number("elevation")
    }
    /// The sun's azimuth in degrees.
    #[must_use]
    pub fn azimuth(&self) -> Option<f64> {
        self.number("azimuth")
    }

    fn time(&self, name: &str) -> Option<jiff::Timestamp> {
        self.attribute::<String>(name).and_then(|t| t.parse().ok())
    }
}

impl Entity<Weather> {
    /// The temperature now.
    #[must_use]
    pub fn temperature(&self) -> Option<f64> {
        self.number("temperature")
    }
    /// Its unit (`temperature_unit`).
    #[must_use]
    pub fn temperature_unit(&self) -> Option<String> {
        self.attribute("temperature_unit")
    }
    /// Relative humidity now, in percent.
    #[must_use]
    pub fn humidity(&self) -> Option<f64> {
        self.number("humidity")
    }
    /// Wind speed now.
    #[must_use]
    pub fn wind_speed(&self) -> Option<f64> {
        self.number("wind_speed")
    }
    /// Air pressure now.
    #[must_use]
    pub fn pressure(&self) -> Option<f64> {
        self.number("pressure")
    }
    /// `weather.get_forecasts`: resolves to each targeted entity's forecast, by entity id.
    pub fn get_forecasts(
        &self,
        kind: ForecastType,
    ) -> ServiceCall<Response<BTreeMap<String, Forecasts>>> {
        self.service("get_forecasts")
            .data("type", String::from(kind))
            .returning()
    }
}
