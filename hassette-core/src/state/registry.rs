//! The registries behind [`States::in_area`](super::States::in_area) and friends: which
//! entity is in which area, on which device, with which labels.

use std::collections::HashMap;

use crate::ha::{Area, Device, EntityEntry, Label};

/// Areas, devices, entity entries and labels, as last read from Home Assistant.
#[derive(Clone, Debug, Default)]
pub struct Registries {
    /// Every area.
    pub areas: Vec<Area>,
    /// Every device, by id.
    pub devices: HashMap<String, Device>,
    /// Every entity registry entry, by entity id.
    pub entities: HashMap<String, EntityEntry>,
    /// Every label.
    pub labels: Vec<Label>,
}

impl Registries {
    /// The area id an entity is in: its own, else its device's.
    pub(crate) fn area_of(&self, entity_id: &str) -> Option<&str> {
        let entry = self.entities.get(entity_id)?;
        entry.area_id.as_deref().or_else(|| {
            let device = self.devices.get(entry.device_id.as_deref()?)?;
            device.area_id.as_deref()
        })
    }

    /// The area id of `area` given as an id or a name (any case).
    pub(crate) fn area_id(&self, area: &str) -> Option<&str> {
        self.areas
            .iter()
            .find(|a| a.area_id == area || a.name.eq_ignore_ascii_case(area))
            .map(|a| a.area_id.as_str())
    }

    /// The label id of `label` given as an id or a name (any case).
    pub(crate) fn label_id(&self, label: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.label_id == label || l.name.eq_ignore_ascii_case(label))
            .map(|l| l.label_id.as_str())
    }
}

/// Reads every registry; one Home Assistant cannot give (an old version, no `config`
/// integration) stays empty, with a warning.
pub(crate) async fn load(client: &crate::ha::Client) -> Registries {
    fn or_empty<T>(what: &str, r: Result<Vec<T>, crate::ha::HaError>) -> Vec<T> {
        r.unwrap_or_else(|e| {
            tracing::warn!(registry = what, error = %e, "cannot read a registry; area and device lookups miss it");
            Vec::new()
        })
    }
    let (areas, devices, entities, labels) = tokio::join!(
        client.areas(),
        client.devices(),
        client.entity_registry(),
        client.labels()
    );
    Registries {
        areas: or_empty("area", areas),
        devices: or_empty("device", devices)
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect(),
        entities: or_empty("entity", entities)
            .into_iter()
            .map(|e| (e.entity_id.clone(), e))
            .collect(),
        labels: or_empty("label", labels),
    }
}
