//! The fake's registries (areas, devices, entities, labels, floors), its recorder (history and
//! logbook) and services that answer with data, shaped as Home Assistant 2024.3.3 sends them
//! (`tests/data/ws-registries-history-2024.3.3.txt`, captured from the real one).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::ha::State;

/// How many state changes the recorder keeps (the demo runs for days).
const HISTORY_LIMIT: usize = 20_000;

/// Registries, recorder and service responses.
#[derive(Debug, Default)]
pub(crate) struct Records {
    pub(crate) areas: Vec<Value>,
    pub(crate) devices: Vec<Value>,
    /// Entity registry entries, by entity id.
    pub(crate) entities: BTreeMap<String, Value>,
    pub(crate) labels: Vec<Value>,
    /// Every state an entity took, oldest first, with the user that caused it.
    pub(crate) history: Vec<(State, Option<String>)>,
    /// `domain.service` → the response data it answers with.
    pub(crate) responses: BTreeMap<String, Value>,
}

/// `32` hex characters, like Home Assistant's registry ids.
fn hex_id(seed: &str) -> String {
    let mut h: u128 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u128::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:032x}")
}

impl Records {
    /// The demo house's registries: the areas real Home Assistant's demo has, with a few
    /// entities placed in them.
    pub(crate) fn demo(states: &[State]) -> Self {
        let mut r = Self::default();
        for (id, name) in [
            ("living_room", "Living Room"),
            ("kitchen", "Kitchen"),
            ("bedroom", "Bedroom"),
        ] {
            r.add_area(id, name);
        }
        for s in states {
            r.ensure_entity(&s.entity_id);
        }
        for (entity, area) in [
            ("light.kitchen", "kitchen"),
            ("light.living_room", "living_room"),
            ("binary_sensor.hallway_motion", "living_room"),
        ] {
            if let Some(e) = r.entities.get_mut(entity) {
                e["area_id"] = json!(area);
            }
        }
        r
    }

    pub(crate) fn add_area(&mut self, area_id: &str, name: &str) {
        self.areas.retain(|a| a["area_id"] != area_id);
        self.areas.push(
            json!({"aliases": [], "area_id": area_id, "icon": null, "name": name, "picture": null}),
        );
    }

    pub(crate) fn add_device(&mut self, device_id: &str, name: &str, area_id: Option<&str>) {
        self.devices.retain(|d| d["id"] != device_id);
        self.devices.push(json!({
            "area_id": area_id, "configuration_url": null,
            "config_entries": [hex_id(&format!("entry:{device_id}"))], "connections": [],
            "disabled_by": null, "entry_type": null, "hw_version": null, "id": device_id,
            "identifiers": [["demo", device_id]], "manufacturer": null, "model": null,
            "name_by_user": null, "name": name, "serial_number": null, "sw_version": null,
            "via_device_id": null,
        }));
    }

    pub(crate) fn add_label(&mut self, label_id: &str, name: &str) {
        self.labels.retain(|l| l["label_id"] != label_id);
        self.labels.push(json!({"color": null, "description": null, "icon": null, "label_id": label_id, "name": name}));
    }

    pub(crate) fn ensure_entity(&mut self, entity_id: &str) -> &mut Value {
        self.entities
            .entry(entity_id.to_owned())
            .or_insert_with(|| {
                let (platform, object) =
                    entity_id.split_once('.').unwrap_or((entity_id, entity_id));
                json!({
                    "area_id": null, "config_entry_id": null, "device_id": null,
                    "disabled_by": null, "entity_category": null, "entity_id": entity_id,
                    "has_entity_name": false, "hidden_by": null, "icon": null,
                    "id": hex_id(entity_id), "labels": [], "name": null,
                    "options": {"conversation": {"should_expose": false}}, "original_name": null,
                    "platform": platform, "translation_key": null, "unique_id": object,
                })
            })
    }

    pub(crate) fn record(&mut self, state: &State, user: Option<String>) {
        if self.history.len() >= HISTORY_LIMIT {
            self.history.drain(..HISTORY_LIMIT / 10);
        }
        self.history.push((state.clone(), user));
    }

    /// `history/history_during_period` with full states: per entity, the state at `start`
    /// (when there was one) and every state taken up to `end`, as `{s, a, lu}` (`lc` too when
    /// it differs).
    pub(crate) fn history(&self, msg: &Map<String, Value>) -> Result<Value, String> {
        let (start, end) = period(msg)?;
        let ids = entity_ids(msg);
        let mut out = Map::new();
        for id in &ids {
            let mine: Vec<&State> = (self.history.iter())
                .map(|(s, _)| s)
                .filter(|s| &s.entity_id == id && s.last_updated <= end)
                .collect();
            let first = mine
                .iter()
                .rposition(|s| s.last_updated <= start)
                .unwrap_or(0);
            let rows: Vec<Value> = mine[first..]
                .iter()
                .map(|s| {
                    // The state at the start of the period is reported as of the start.
                    let lu = s.last_updated.max(start);
                    let mut row = json!({"s": s.state, "a": s.attributes, "lu": epoch(lu)});
                    if s.last_changed.max(start) != lu {
                        row["lc"] = json!(epoch(s.last_changed.max(start)));
                    }
                    row
                })
                .collect();
            if !rows.is_empty() {
                out.insert(id.clone(), Value::Array(rows));
            }
        }
        Ok(Value::Object(out))
    }

    /// `logbook/get_events`: every state change (not attribute-only updates) in the period.
    pub(crate) fn logbook(&self, msg: &Map<String, Value>) -> Result<Value, String> {
        let (start, end) = period(msg)?;
        let ids = entity_ids(msg);
        let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
        let mut out = Vec::new();
        for (s, user) in &self.history {
            let changed = previous.insert(&s.entity_id, &s.state) != Some(s.state.as_str());
            let wanted = ids.is_empty() || ids.contains(&s.entity_id);
            if changed && wanted && s.last_changed >= start && s.last_changed <= end {
                let mut row = json!({"when": epoch(s.last_changed), "state": s.state, "entity_id": s.entity_id});
                if let Some(user) = user {
                    row["context_user_id"] = json!(user);
                }
                out.push(row);
            }
        }
        Ok(Value::Array(out))
    }
}

fn entity_ids(msg: &Map<String, Value>) -> Vec<String> {
    (msg.get("entity_ids").and_then(Value::as_array))
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn period(msg: &Map<String, Value>) -> Result<(Timestamp, Timestamp), String> {
    let time = |key: &str| -> Result<Option<Timestamp>, String> {
        match msg.get(key).and_then(Value::as_str) {
            None => Ok(None),
            Some(t) => t.parse().map(Some).map_err(|_| format!("Invalid {key}")),
        }
    };
    let start = time("start_time")?.ok_or("Invalid start_time")?;
    Ok((start, time("end_time")?.unwrap_or(Timestamp::MAX)))
}

#[allow(clippy::cast_precision_loss)]
fn epoch(t: Timestamp) -> f64 {
    t.as_microsecond() as f64 / 1e6
}
