//! Home Assistant's registries (areas, devices, entities, labels), history and logbook, read
//! over the websocket.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::protocol::Command;
use super::{Client, HaError};

/// An area (`config/area_registry/list`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Area {
    /// `kitchen`.
    pub area_id: String,
    /// `Kitchen`.
    pub name: String,
}

/// A device (`config/device_registry/list`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Device {
    /// The registry id (32 hex characters).
    pub id: String,
    /// The integration's name for it.
    #[serde(default)]
    pub name: Option<String>,
    /// The name the user gave it, which wins over `name`.
    #[serde(default)]
    pub name_by_user: Option<String>,
    /// The area it is in.
    #[serde(default)]
    pub area_id: Option<String>,
    /// Who made it.
    #[serde(default)]
    pub manufacturer: Option<String>,
    /// Its model.
    #[serde(default)]
    pub model: Option<String>,
}

/// An entity registry entry (`config/entity_registry/list`). Entities set up in YAML without
/// a unique id have none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EntityEntry {
    /// `light.kitchen`.
    pub entity_id: String,
    /// Its own area; when `None`, it is in its device's area.
    #[serde(default)]
    pub area_id: Option<String>,
    /// Its device.
    #[serde(default)]
    pub device_id: Option<String>,
    /// Its labels (Home Assistant 2024.4 and later; empty before).
    #[serde(default)]
    pub labels: Vec<String>,
    /// The integration that provides it.
    #[serde(default)]
    pub platform: String,
}

/// A label (`config/label_registry/list`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Label {
    /// `night`.
    pub label_id: String,
    /// `Night`.
    pub name: String,
}

/// One state from the history (`history/history_during_period`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HistoryState {
    /// The state string.
    #[serde(rename = "s")]
    pub state: String,
    /// Its attributes.
    #[serde(rename = "a", default)]
    pub attributes: Map<String, Value>,
    /// When it was updated (for the first entry: the start of the period, if it began before).
    #[serde(rename = "lu", deserialize_with = "epoch")]
    pub last_updated: Timestamp,
    /// When the state string last changed (`last_updated` when Home Assistant leaves it out).
    #[serde(rename = "lc", default, deserialize_with = "epoch_opt")]
    pub last_changed: Option<Timestamp>,
}

/// One logbook entry (`logbook/get_events`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogbookEntry {
    /// When.
    #[serde(deserialize_with = "epoch")]
    pub when: Timestamp,
    /// The entity, when the entry is about one.
    #[serde(default)]
    pub entity_id: Option<String>,
    /// The state it took.
    #[serde(default)]
    pub state: Option<String>,
    /// A message (`turned on`, `triggered by ...`), for entries that are not state changes.
    #[serde(default)]
    pub message: Option<String>,
    /// The user whose action caused it.
    #[serde(default)]
    pub context_user_id: Option<String>,
}

fn epoch<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let secs = f64::deserialize(d)?;
    #[allow(clippy::cast_possible_truncation)]
    Timestamp::from_microsecond((secs * 1e6).round() as i64).map_err(serde::de::Error::custom)
}

fn epoch_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    epoch(d).map(Some)
}

impl Client {
    /// Every area.
    ///
    /// # Errors
    ///
    /// As every command.
    pub async fn areas(&self) -> Result<Vec<Area>, HaError> {
        self.command(Command::new("config/area_registry/list"))
            .await
    }

    /// Every device.
    ///
    /// # Errors
    ///
    /// As every command.
    pub async fn devices(&self) -> Result<Vec<Device>, HaError> {
        self.command(Command::new("config/device_registry/list"))
            .await
    }

    /// Every entity registry entry.
    ///
    /// # Errors
    ///
    /// As every command.
    pub async fn entity_registry(&self) -> Result<Vec<EntityEntry>, HaError> {
        self.command(Command::new("config/entity_registry/list"))
            .await
    }

    /// Every label.
    ///
    /// # Errors
    ///
    /// As every command.
    pub async fn labels(&self) -> Result<Vec<Label>, HaError> {
        self.command(Command::new("config/label_registry/list"))
            .await
    }

    /// The states `entity_id` took from `start` to `end` (the state at `start` first), with
    /// attributes. Needs Home Assistant's `history` integration (in `default_config`).
    ///
    /// # Errors
    ///
    /// `unknown_command` without the history integration, and as every command.
    pub async fn history(
        &self,
        entity_id: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<HistoryState>, HaError> {
        let cmd = Command::new("history/history_during_period")
            .with("start_time", start.to_string())
            .with("end_time", end.to_string())
            .with("entity_ids", vec![entity_id])
            .with("minimal_response", false)
            .with("no_attributes", false)
            .with("significant_changes_only", false);
        let mut by_entity: std::collections::HashMap<String, Vec<HistoryState>> =
            self.command(cmd).await?;
        Ok(by_entity.remove(entity_id).unwrap_or_default())
    }

    /// Logbook entries from `start` to `end`, of these entities (empty: of everything).
    /// Needs Home Assistant's `logbook` integration (in `default_config`).
    ///
    /// # Errors
    ///
    /// `unknown_command` without the logbook integration, and as every command.
    pub async fn logbook(
        &self,
        entity_ids: &[&str],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<LogbookEntry>, HaError> {
        let mut cmd = Command::new("logbook/get_events")
            .with("start_time", start.to_string())
            .with("end_time", end.to_string());
        if !entity_ids.is_empty() {
            cmd = cmd.with("entity_ids", entity_ids.to_vec());
        }
        self.command(cmd).await
    }
}
