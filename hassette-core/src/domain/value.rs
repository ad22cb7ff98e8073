//! Typed state and attribute values: enums that decode every string, with a fallback.

/// A typed entity state: decoded from Home Assistant's state string, never failing.
///
/// Every implementation maps a string it does not know to a fallback (`Other(String)`), so a
/// value that a later Home Assistant adds reaches the app instead of an error.
pub trait StateValue: Sized + Clone + std::fmt::Debug + Send + Sync + 'static {
    /// Decodes a state string (`"on"`, `"heat_cool"`, `"unavailable"`).
    fn decode(state: &str) -> Self;
    /// What an entity that is not in Home Assistant's states at all reads as.
    fn missing() -> Self;
}

/// Declares a string enum of Home Assistant values with an `Other(String)` fallback: decode,
/// `as_str`, `Display`, `From<_> for String` (so `.to(OnOff::On)` works in subscriptions) and
/// serde as the string.
macro_rules! ha_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version of hassette does not know (a later Home Assistant's), as sent.
            Other(String),
        }

        impl $name {
            /// Decodes Home Assistant's string; unknown strings become `Other`.
            #[must_use]
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }

            /// Home Assistant's string for this value.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(text) => text,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_owned()
            }
        }

        impl From<&$name> for String {
            fn from(value: &$name) -> String {
                value.as_str().to_owned()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Ok(Self::parse(&text))
            }
        }
    };
}

/// [`ha_enum!`] for an entity state: adds `Unavailable` and `Unknown` and implements
/// [`StateValue`] (a missing entity reads as `Unavailable`).
macro_rules! state_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }
    ) => {
        crate::domain::value::ha_enum! {
            $(#[$meta])*
            $name {
                $($(#[$vmeta])* $variant = $text,)+
                /// The entity is unavailable (its device or integration is offline), or it
                /// is not in Home Assistant's states at all.
                Unavailable = "unavailable",
                /// Home Assistant does not know the state yet.
                Unknown = "unknown",
            }
        }

        impl crate::domain::StateValue for $name {
            fn decode(state: &str) -> Self {
                Self::parse(state)
            }
            fn missing() -> Self {
                Self::Unavailable
            }
        }
    };
}

pub(crate) use {ha_enum, state_enum};

/// A free-text state (an `input_select` option, an `input_text` value, the state of a domain
/// without its own type), with `unavailable` and `unknown` as values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StateText {
    /// The state string.
    Text(String),
    /// The entity is unavailable, or not in Home Assistant's states at all.
    Unavailable,
    /// Home Assistant does not know the state yet.
    Unknown,
}

impl StateText {
    /// The text, when there is one.
    #[must_use]
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t),
            Self::Unavailable | Self::Unknown => None,
        }
    }
}

impl StateValue for StateText {
    fn decode(state: &str) -> Self {
        match state {
            "unavailable" => Self::Unavailable,
            "unknown" => Self::Unknown,
            other => Self::Text(other.to_owned()),
        }
    }
    fn missing() -> Self {
        Self::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CoverState, HvacMode, OnOff, WeatherCondition};

    #[test]
    fn known_values_round_trip_and_new_ones_fall_back() {
        assert_eq!(OnOff::decode("on"), OnOff::On);
        assert_eq!(OnOff::decode("unavailable"), OnOff::Unavailable);
        assert_eq!(OnOff::decode("unknown"), OnOff::Unknown);
        assert_eq!(HvacMode::decode("heat_cool"), HvacMode::HeatCool);
        // A value a later Home Assistant might add: a value, not an error.
        let future = CoverState::decode("half_open");
        assert_eq!(future, CoverState::Other("half_open".into()));
        assert_eq!(future.as_str(), "half_open");
        assert_eq!(
            WeatherCondition::decode("sandstorm"),
            WeatherCondition::Other("sandstorm".into())
        );
        assert_eq!(String::from(OnOff::On), "on");
        assert_eq!(StateText::decode("away"), StateText::Text("away".into()));
        assert_eq!(StateText::decode("unknown").text(), None);
    }

    #[test]
    fn serde_uses_home_assistants_strings() {
        let v: Vec<HvacMode> = serde_json::from_str(r#"["heat","fan_only","warp"]"#).unwrap();
        assert_eq!(
            v,
            [
                HvacMode::Heat,
                HvacMode::FanOnly,
                HvacMode::Other("warp".into())
            ]
        );
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"["heat","fan_only","warp"]"#
        );
    }
}
