//! `hassette codegen`: a user's entities and services as a Rust module, generated from their
//! own Home Assistant.
//!
//! [`fetch`] reads what the generator needs over the websocket (states, services, and the
//! entity, device and area registries) into an [`Input`]; [`generate`] turns an `Input` into
//! the module's source, a pure function: the same input gives the same bytes (everything is
//! sorted, the output is rustfmt-clean), so the module diffs cleanly in git.
//!
//! The module holds one `const` [`EntityId`](crate::domain::EntityId) per entity, grouped by
//! domain (`ha::light::KITCHEN`) and by area (`ha::areas::kitchen::LIGHT_KITCHEN`), and a typed
//! builder per service (`ha::services::light::turn_on(&api).brightness_pct(60)`). An entity
//! removed from Home Assistant disappears from the module, so code that used it stops
//! compiling, with rustc naming the constant at the place it was used.
//!
//! ```
//! use hassette_core::codegen::{Input, generate};
//!
//! let input: Input = serde_json::from_value(serde_json::json!({
//!     "states": [{"entity_id": "light.kitchen", "state": "on",
//!                 "attributes": {"friendly_name": "Kitchen Lights"}}],
//! }))?;
//! let module = generate(&input);
//! assert!(module.contains(r#"pub const KITCHEN: EntityId<d::Light> = EntityId::from_static("light.kitchen");"#));
//! # Ok::<(), serde_json::Error>(())
//! ```

mod entities;
mod names;
mod services;
mod writer;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ha::{Client, HaError};

/// Everything the generator reads from Home Assistant. Unknown fields are ignored, missing
/// ones are empty, so any Home Assistant version (and a hand-written file) works.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Input {
    /// Home Assistant's version, for the module's header.
    pub ha_version: Option<String>,
    /// `get_states`.
    pub states: Vec<StateInput>,
    /// `get_services`: domain → service → description.
    pub services: BTreeMap<String, BTreeMap<String, ServiceInput>>,
    /// `config/entity_registry/list`.
    pub entity_registry: Vec<EntityEntry>,
    /// `config/device_registry/list`.
    pub device_registry: Vec<DeviceEntry>,
    /// `config/area_registry/list`.
    pub area_registry: Vec<AreaEntry>,
}

/// One entity's state: its id and attributes (the state value itself is not needed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateInput {
    /// `domain.object_id`.
    pub entity_id: String,
    /// Its attributes (`friendly_name`, `unit_of_measurement`, ...).
    pub attributes: Map<String, Value>,
}

/// One service, as `get_services` describes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceInput {
    /// Its display name.
    pub name: Option<String>,
    /// What it does.
    pub description: Option<String>,
    /// Its fields, by key; a section (newer Home Assistant) holds more fields in `fields`.
    pub fields: BTreeMap<String, Value>,
    /// What it may target (`{"entity": [{"domain": ["light"]}]}`), if anything.
    pub target: Option<Value>,
    /// Present when the service returns data (`{"optional": false}`).
    pub response: Option<Value>,
}

/// One entry of the entity registry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EntityEntry {
    /// The entity id.
    pub entity_id: String,
    /// Its own area, overriding its device's.
    pub area_id: Option<String>,
    /// Its device.
    pub device_id: Option<String>,
}

/// One entry of the device registry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeviceEntry {
    /// The device id.
    pub id: String,
    /// Its area.
    pub area_id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// The name the user gave it, preferred over `name`.
    pub name_by_user: Option<String>,
}

/// One entry of the area registry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AreaEntry {
    /// The area id (`kitchen`).
    pub area_id: String,
    /// Its name (`Kitchen`).
    pub name: String,
}

/// Reads the generator's input from a connected Home Assistant. A registry that Home
/// Assistant does not offer (`unknown_command`, older versions) is read as empty.
///
/// # Errors
///
/// Any failed command other than a registry's `unknown_command`, or a reply of the wrong shape.
pub async fn fetch(client: &Client) -> Result<Input, HaError> {
    let states = command(client, "get_states").await?;
    let services = client.get_services().await?;
    let mut input = Input {
        ha_version: client.ha_version().map(str::to_owned),
        states: serde_json::from_value(states).map_err(HaError::Decode)?,
        services: serde_json::from_value(services).map_err(HaError::Decode)?,
        ..Input::default()
    };
    input.entity_registry = registry(client, "config/entity_registry/list").await?;
    input.device_registry = registry(client, "config/device_registry/list").await?;
    input.area_registry = registry(client, "config/area_registry/list").await?;
    Ok(input)
}

async fn command(client: &Client, kind: &str) -> Result<Value, HaError> {
    client
        .send_command(serde_json::json!({ "type": kind }))
        .await
}

async fn registry<T: serde::de::DeserializeOwned>(
    client: &Client,
    kind: &str,
) -> Result<Vec<T>, HaError> {
    match command(client, kind).await {
        Ok(list) => serde_json::from_value(list).map_err(HaError::Decode),
        Err(e) if e.code() == Some("unknown_command") => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The module's source for `input`: deterministic, sorted and rustfmt-clean.
#[must_use]
pub fn generate(input: &Input) -> String {
    let model = entities::Model::new(input);
    let service_count: usize = input.services.values().map(BTreeMap::len).sum();
    let mut w = writer::Writer::default();
    w.line("//! Home Assistant entities and services, generated by `hassette codegen` from Home");
    w.line(&format!(
        "//! Assistant {} ({} entities, {} services). Do not edit: run `hassette codegen` again.",
        input.ha_version.as_deref().unwrap_or("(unknown version)"),
        model.entity_count(),
        service_count,
    ));
    w.line("//!");
    w.line("//! Entities by domain (`light::KITCHEN`) and by area (`areas::kitchen`); services");
    w.line("//! by domain (`services::light::turn_on(&api)`).");
    w.blank();
    w.line("#![allow(dead_code, unused_imports, clippy::all, rustdoc::all)]");
    w.blank();
    w.line("use hassette_core::domain::{self as d, EntityId};");
    model.write(&mut w);
    services::write(&mut w, &input.services, &model);
    w.finish()
}
