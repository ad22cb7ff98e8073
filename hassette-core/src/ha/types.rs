//! Typed Home Assistant data: states, events, contexts and the core configuration.
//!
//! Unknown fields are tolerated everywhere, so newer Home Assistant versions keep working.

use std::fmt;

use jiff::Timestamp;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Where an event or state change came from: HA's `context` object.
///
/// The `id` of a `call_service` result equals the `context.id` of the `state_changed` events
/// the call caused, which lets an app recognise its own changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// A unique id (a ULID in current Home Assistant, 32 hex digits in old versions).
    pub id: String,
    /// The context that caused this one, if any.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// The user who caused the change, if any.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// The state of one entity, as `get_states` and `state_changed` events carry it.
///
/// # Examples
///
/// ```
/// use hassette_core::ha::State;
///
/// let json = r#"{"entity_id":"light.kitchen","state":"on","attributes":{"brightness":180},
///   "last_changed":"2026-11-21T08:03:45.785474+00:00",
///   "last_updated":"2026-11-21T08:03:45.785474+00:00",
///   "context":{"id":"01M7YJ3ZFS68C5VRZ2QTTQMC43","parent_id":null,"user_id":null}}"#;
/// let state: State = serde_json::from_str(json)?;
/// assert_eq!(state.domain(), "light");
/// assert_eq!(state.attributes["brightness"], 180);
/// assert!(state.last_reported.is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// `domain.object_id`, e.g. `light.kitchen`.
    pub entity_id: String,
    /// The state value; always a string in Home Assistant (`"on"`, `"21.5"`, `"unavailable"`).
    pub state: String,
    /// Entity attributes, as Home Assistant sent them.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// When `state` last changed.
    #[serde(with = "ha_time")]
    pub last_changed: Timestamp,
    /// When the state was last written without a state change (Home Assistant 2024.4+).
    #[serde(
        default,
        with = "ha_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_reported: Option<Timestamp>,
    /// When `state` or any attribute last changed.
    #[serde(with = "ha_time")]
    pub last_updated: Timestamp,
    /// What caused the last change.
    #[serde(default)]
    pub context: Context,
}

impl State {
    /// The domain part of the entity id (`light` for `light.kitchen`).
    #[must_use]
    pub fn domain(&self) -> &str {
        self.entity_id
            .split_once('.')
            .map_or(self.entity_id.as_str(), |(d, _)| d)
    }
}

/// The data of a `state_changed` event.
///
/// `old_state` is `None` when the entity was just added, `new_state` is `None` when it was
/// removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateChanged {
    /// The entity that changed.
    pub entity_id: String,
    /// The state before the change.
    #[serde(default)]
    pub old_state: Option<State>,
    /// The state after the change.
    #[serde(default)]
    pub new_state: Option<State>,
    /// `true` when the change happened while hassette was disconnected from Home Assistant and
    /// is delivered after the reconnect: `old_state` is then the last state seen before the
    /// loss, `new_state` the state read after it, and any steps in between are not known.
    /// Never sent by Home Assistant.
    #[serde(skip)]
    pub replayed: bool,
}

/// The `data` of an [`Event`]: typed for `state_changed`, raw JSON for everything else.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum EventData {
    /// The data of a `state_changed` event.
    StateChanged(Box<StateChanged>),
    /// The data of any other event, as sent.
    Other(Value),
}

/// An event from Home Assistant's event bus, as delivered to `subscribe_events`.
///
/// # Examples
///
/// ```
/// use hassette_core::ha::Event;
///
/// let json = r#"{"event_type":"call_service","data":{"domain":"light"},
///   "origin":"LOCAL","time_fired":"2026-11-21T08:03:47.500823+00:00",
///   "context":{"id":"01M7YJ415CVMDME8B9Z2VTG910","parent_id":null,"user_id":null}}"#;
/// let event: Event = serde_json::from_str(json)?;
/// assert_eq!(event.event_type, "call_service");
/// assert!(event.state_changed().is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// The event type, e.g. `state_changed`.
    pub event_type: String,
    /// The event data.
    pub data: EventData,
    /// `LOCAL` or `REMOTE`.
    pub origin: Option<String>,
    /// When the event was fired.
    #[serde(with = "ha_time::option")]
    pub time_fired: Option<Timestamp>,
    /// What caused the event.
    pub context: Option<Context>,
}

impl Event {
    /// The typed data when this is a `state_changed` event.
    #[must_use]
    pub fn state_changed(&self) -> Option<&StateChanged> {
        match &self.data {
            EventData::StateChanged(sc) => Some(sc),
            EventData::Other(_) => None,
        }
    }
}

const STATE_CHANGED: &str = "state_changed";

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

/// `data` as first seen: typed when `event_type` came first (HA's own order, the fast path),
/// raw otherwise (converted once the type is known).
enum SeenData {
    Typed(Box<StateChanged>),
    Raw(Value),
}

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Home Assistant event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut event_type: Option<String> = None;
        let mut data: Option<SeenData> = None;
        let mut origin = None;
        let mut time_fired = None;
        let mut context = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "event_type" => event_type = Some(map.next_value()?),
                "data" => {
                    data = Some(if event_type.as_deref() == Some(STATE_CHANGED) {
                        SeenData::Typed(map.next_value()?)
                    } else {
                        SeenData::Raw(map.next_value()?)
                    });
                }
                "origin" => origin = map.next_value()?,
                "time_fired" => {
                    time_fired = map.next_value::<Option<HaTime>>()?.map(|t| t.0);
                }
                "context" => context = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let event_type = event_type.ok_or_else(|| de::Error::missing_field("event_type"))?;
        let data = match data {
            Some(SeenData::Typed(sc)) => EventData::StateChanged(sc),
            Some(SeenData::Raw(v)) if event_type == STATE_CHANGED => EventData::StateChanged(
                Box::new(StateChanged::deserialize(v).map_err(de::Error::custom)?),
            ),
            Some(SeenData::Raw(v)) => EventData::Other(v),
            None => EventData::Other(Value::Object(Map::new())),
        };
        Ok(Event {
            event_type,
            data,
            origin,
            time_fired,
            context,
        })
    }
}

/// A Home Assistant timestamp read through [`ha_time`].
struct HaTime(Timestamp);

impl<'de> Deserialize<'de> for HaTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ha_time::deserialize(d).map(HaTime)
    }
}

/// An event of a `subscribe_trigger` subscription: HA-side trigger variables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerEvent {
    /// The variables, with `trigger` holding the trigger data (`platform`, `entity_id`,
    /// `from_state`, `to_state`, `description`, ...).
    #[serde(default)]
    pub variables: Map<String, Value>,
    /// What caused the trigger.
    #[serde(default)]
    pub context: Option<Context>,
}

impl TriggerEvent {
    /// The `trigger` object inside the variables.
    #[must_use]
    pub fn trigger(&self) -> Option<&Map<String, Value>> {
        self.variables.get("trigger").and_then(Value::as_object)
    }
}

/// One rendering of a `render_template` subscription.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateRender {
    /// The rendered value (a string for most templates, but HA may send other JSON types).
    pub result: Value,
    /// What the template listens to; kept as sent.
    #[serde(default)]
    pub listeners: Value,
}

/// The result of a `call_service` command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceResponse {
    /// The context of the call; `state_changed` events it caused carry the same id.
    pub context: Context,
    /// The service's response, when `return_response` was requested and the service gives one.
    #[serde(default)]
    pub response: Option<Value>,
}

/// Home Assistant's core configuration (`get_config`).
///
/// Only the fields hassette uses are typed; the rest is kept in [`HaConfig::other`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HaConfig {
    /// The IANA time zone, e.g. `Europe/Amsterdam`.
    pub time_zone: String,
    /// The core state: `NOT_RUNNING`, `STARTING`, `RUNNING`, `STOPPING`, `FINAL_WRITE`,
    /// `STOPPED`.
    pub state: String,
    /// The Home Assistant version.
    #[serde(default)]
    pub version: String,
    /// The configured location name.
    #[serde(default)]
    pub location_name: String,
    /// Latitude of home.
    #[serde(default)]
    pub latitude: f64,
    /// Longitude of home.
    #[serde(default)]
    pub longitude: f64,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl HaConfig {
    /// Whether Home Assistant has finished starting.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.state == "RUNNING"
    }

    /// The time zone as a [`jiff::tz::TimeZone`], if the system database knows it.
    #[must_use]
    pub fn tz(&self) -> Option<jiff::tz::TimeZone> {
        jiff::tz::TimeZone::get(&self.time_zone).ok()
    }
}

/// Home Assistant's timestamp format: RFC 3339 with microseconds and a `+00:00` offset.
pub(crate) mod ha_time {
    use super::{Deserialize, Deserializer, Serializer, Timestamp};

    #[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))]
    pub(crate) fn format(ts: Timestamp) -> String {
        ts.strftime(FORMAT).to_string()
    }

    const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f+00:00";

    pub(crate) fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&ts.strftime(FORMAT))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }

    pub(crate) mod option {
        use super::{Deserialize, Deserializer, Serializer, Timestamp};

        // serde's `with` passes `&Option<T>`, which clippy would rather see as `Option<&T>`.
        #[allow(clippy::ref_option)]
        pub(crate) fn serialize<S: Serializer>(
            ts: &Option<Timestamp>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match ts {
                Some(ts) => super::serialize(ts, s),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Timestamp>, D::Error> {
            match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
                Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha_time_round_trips_in_has_format() {
        let ts: Timestamp = "2026-11-21T08:03:47.500823+00:00".parse().unwrap();
        assert_eq!(ha_time::format(ts), "2026-11-21T08:03:47.500823+00:00");
        let ts: Timestamp = "2026-11-21T23:26:32+00:00".parse().unwrap();
        assert_eq!(ha_time::format(ts), "2026-11-21T23:26:32.000000+00:00");
    }

    #[test]
    fn event_data_before_event_type_still_typed() {
        let json = r#"{"data":{"entity_id":"a.b","old_state":null,"new_state":null},
            "event_type":"state_changed","extra":[1,2]}"#;
        let ev: Event = serde_json::from_str(json).unwrap();
        assert_eq!(ev.state_changed().unwrap().entity_id, "a.b");
        assert!(ev.time_fired.is_none());
    }
}
