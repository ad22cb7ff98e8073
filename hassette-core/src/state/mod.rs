//! A read-only view of every entity's state, kept current from `state_changed` events and
//! re-read after a reconnect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use serde::de::DeserializeOwned;

use crate::ha::{Area, Device, State, StateChanged};

mod registry;
pub use registry::Registries;
pub(crate) use registry::load as load_registries;

/// Every entity's current state. Cheap to clone; reads never wait on the network.
///
/// Readers take a short read lock and get `Arc<State>` snapshots, so a handler can hold a state
/// as long as it likes without blocking updates.
///
/// # Examples
///
/// ```
/// use hassette_core::state::States;
///
/// let states = States::default();
/// assert!(states.get("light.porch").is_none());
/// assert_eq!(states.len(), 0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct States {
    // A std lock: critical sections are a map lookup or insert, never across an await.
    inner: Arc<RwLock<HashMap<String, Arc<State>>>>,
    registries: Arc<RwLock<Registries>>,
    sync: Arc<Sync>,
}

/// How far the view has followed its `state_changed` queue, so a service call can wait until
/// the changes it caused (queued before its result arrived) are in the view.
#[derive(Debug, Default)]
struct Sync {
    /// Events the session has queued for this view (set once the view follows a queue).
    queued: OnceLock<Arc<AtomicU64>>,
    /// Events the view has applied.
    applied: AtomicU64,
    progress: tokio::sync::Notify,
}

/// Why a typed read of a state failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The entity's attributes do not fit the requested type.
    #[error("attributes of {entity_id} do not fit {expected}")]
    Attributes {
        /// The entity.
        entity_id: String,
        /// The type asked for.
        expected: &'static str,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
}

impl States {
    /// The state of one entity.
    #[must_use]
    pub fn get(&self, entity_id: &str) -> Option<Arc<State>> {
        self.read().get(entity_id).cloned()
    }

    /// The state string of one entity (`"on"`, `"21.5"`, `"unavailable"`, ...).
    #[must_use]
    pub fn state(&self, entity_id: &str) -> Option<String> {
        self.read().get(entity_id).map(|s| s.state.clone())
    }

    /// The state as a number, when it is one (`"21.5"` → 21.5; `"unavailable"` → `None`).
    #[must_use]
    pub fn number(&self, entity_id: &str) -> Option<f64> {
        self.read()
            .get(entity_id)
            .and_then(|s| s.state.trim().parse().ok())
    }

    /// The state as a boolean: `on`, `home`, `open`, `true`, ... are `true`; `off`, `not_home`,
    /// `closed`, `false`, ... are `false`; anything else (`unavailable`) is `None`.
    #[must_use]
    pub fn is_on(&self, entity_id: &str) -> Option<bool> {
        self.read().get(entity_id).and_then(|s| as_bool(&s.state))
    }

    /// The entity's attributes deserialized into `T`; `Ok(None)` when the entity is unknown.
    ///
    /// # Errors
    ///
    /// [`StateError::Attributes`] naming the entity and `T` when they do not fit.
    pub fn attributes<T: DeserializeOwned>(
        &self,
        entity_id: &str,
    ) -> Result<Option<T>, StateError> {
        let Some(state) = self.get(entity_id) else {
            return Ok(None);
        };
        let value = serde_json::Value::Object(state.attributes.clone());
        serde_json::from_value(value)
            .map(Some)
            .map_err(|source| StateError::Attributes {
                entity_id: entity_id.to_owned(),
                expected: std::any::type_name::<T>(),
                source,
            })
    }

    /// One attribute of an entity.
    #[must_use]
    pub fn attribute(&self, entity_id: &str, name: &str) -> Option<serde_json::Value> {
        self.read()
            .get(entity_id)
            .and_then(|s| s.attributes.get(name).cloned())
    }

    /// Every entity of a domain (`light`), sorted by entity id.
    #[must_use]
    pub fn domain(&self, domain: &str) -> Vec<Arc<State>> {
        let mut out: Vec<Arc<State>> = self
            .read()
            .values()
            .filter(|s| s.domain() == domain)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.entity_id.cmp(&b.entity_id));
        out
    }

    /// Every entity id, sorted.
    #[must_use]
    pub fn entity_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.read().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// How many entities there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no entity is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Waits until the view has applied every `state_changed` event Home Assistant had sent
    /// when this was called. Home Assistant sends the changes a service call causes before
    /// the call's result, so after a call returns, this makes its changes visible here.
    /// Returns at once for a view that follows no connection.
    pub async fn caught_up(&self) {
        let Some(queued) = self.sync.queued.get() else {
            return;
        };
        let target = queued.load(Ordering::Acquire);
        loop {
            let progress = self.sync.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if self.sync.applied.load(Ordering::Acquire) >= target {
                return;
            }
            progress.await;
        }
    }

    /// This view follows the queue whose counter is `queued`.
    pub(crate) fn follow(&self, queued: Arc<AtomicU64>) {
        let _ = self.sync.queued.set(queued);
    }

    /// One event of the followed queue has been applied.
    pub(crate) fn mark_applied(&self) {
        self.sync.applied.fetch_add(1, Ordering::Release);
        self.sync.progress.notify_waiters();
    }

    /// The entity ids in an area (given by id, `kitchen`, or name, `Kitchen`): those placed
    /// there and those whose device is there, sorted. Pass it to `bus().on(..)` or a service
    /// call's `target(..)`.
    #[must_use]
    pub fn in_area(&self, area: &str) -> Vec<String> {
        let reg = self.registries();
        let Some(area_id) = reg.area_id(area) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = (reg.entities.keys())
            .filter(|id| reg.area_of(id) == Some(area_id))
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// The entity ids with a label (by id or name), sorted.
    #[must_use]
    pub fn with_label(&self, label: &str) -> Vec<String> {
        let reg = self.registries();
        let Some(label_id) = reg.label_id(label) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = (reg.entities.values())
            .filter(|e| e.labels.iter().any(|l| l == label_id))
            .map(|e| e.entity_id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// The area an entity is in (its own, else its device's).
    #[must_use]
    pub fn area_of(&self, entity_id: &str) -> Option<Area> {
        let reg = self.registries();
        let id = reg.area_of(entity_id)?;
        reg.areas.iter().find(|a| a.area_id == id).cloned()
    }

    /// The device an entity belongs to.
    #[must_use]
    pub fn device_of(&self, entity_id: &str) -> Option<Device> {
        let reg = self.registries();
        let device = reg.entities.get(entity_id)?.device_id.as_deref()?;
        reg.devices.get(device).cloned()
    }

    /// A copy of the registries (areas, devices, entities, labels), as last read.
    #[must_use]
    pub fn registries(&self) -> Registries {
        self.registries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the registries (at startup and after each reconnect).
    pub(crate) fn set_registries(&self, registries: Registries) {
        *self
            .registries
            .write()
            .unwrap_or_else(PoisonError::into_inner) = registries;
    }

    /// Replaces every state (after `get_states`).
    pub(crate) fn replace_all(&self, states: Vec<State>) {
        let map = states
            .into_iter()
            .map(|s| (s.entity_id.clone(), Arc::new(s)))
            .collect();
        *self.inner.write().unwrap_or_else(PoisonError::into_inner) = map;
    }

    /// Replaces every state with a fresh read, and returns what changed (added, changed and
    /// removed entities, sorted by id, each marked [`StateChanged::replayed`]): after a
    /// reconnect, what happened while away.
    ///
    /// An entity counts as changed when its state string or its attributes differ; its
    /// timestamps and context alone do not count (Home Assistant renews them on every restart).
    pub(crate) fn replace_and_diff(&self, fresh: Vec<State>) -> Vec<StateChanged> {
        let fresh: HashMap<String, Arc<State>> = fresh
            .into_iter()
            .map(|s| (s.entity_id.clone(), Arc::new(s)))
            .collect();
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let changed = diff(&map, &fresh);
        *map = fresh;
        changed
    }

    /// Applies one change: a new state, or the entity's removal.
    pub(crate) fn apply(&self, change: &StateChanged) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match &change.new_state {
            Some(new) => {
                map.insert(change.entity_id.clone(), Arc::new(new.clone()));
            }
            None => {
                map.remove(&change.entity_id);
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<State>>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The entities that differ in state or attributes between two snapshots, sorted by id.
fn diff(old: &HashMap<String, Arc<State>>, new: &HashMap<String, Arc<State>>) -> Vec<StateChanged> {
    let same = |a: &State, b: &State| a.state == b.state && a.attributes == b.attributes;
    let change = |id: &String, old: Option<&Arc<State>>, new: Option<&Arc<State>>| StateChanged {
        entity_id: id.clone(),
        old_state: old.map(|s| State::clone(s)),
        new_state: new.map(|s| State::clone(s)),
        replayed: true,
    };
    let mut out: Vec<StateChanged> = new
        .iter()
        .filter(|(id, s)| old.get(*id).is_none_or(|o| !same(o, s)))
        .map(|(id, s)| change(id, old.get(id), Some(s)))
        .collect();
    out.extend(
        old.iter()
            .filter(|(id, _)| !new.contains_key(*id))
            .map(|(id, s)| change(id, Some(s), None)),
    );
    out.sort_by(|a, b| a.entity_id.cmp(&b.entity_id));
    out
}

/// Home Assistant's on-like and off-like states.
pub(crate) fn as_bool(state: &str) -> Option<bool> {
    match state.to_ascii_lowercase().as_str() {
        "on" | "home" | "open" | "true" | "yes" | "locked" | "playing" | "active" => Some(true),
        "off" | "not_home" | "closed" | "false" | "no" | "unlocked" | "idle" | "paused"
        | "standby" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(id: &str, state: &str, attr: i64, stamp: &str, ctx: &str) -> State {
        serde_json::from_value(serde_json::json!({
            "entity_id": id, "state": state, "attributes": {"n": attr},
            "last_changed": stamp, "last_updated": stamp, "context": {"id": ctx}
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_reconnect_diff_reports_only_real_changes() {
        let t0 = "2026-01-01T00:00:00+00:00";
        let t1 = "2026-01-01T01:00:00+00:00";
        let states = States::default();
        states.replace_all(vec![
            st("a.x", "on", 1, t0, "c0"),
            st("a.attr", "on", 1, t0, "c0"),
            st("a.same", "off", 1, t0, "c0"),
            st("a.gone", "off", 1, t0, "c0"),
        ]);
        // After a restart every timestamp and context is new; only some values changed.
        let d = states.replace_and_diff(vec![
            st("a.x", "off", 1, t1, "c1"),
            st("a.attr", "on", 2, t1, "c1"),
            st("a.same", "off", 1, t1, "c1"),
            st("a.new", "on", 1, t1, "c1"),
        ]);
        let ids: Vec<_> = d.iter().map(|c| c.entity_id.as_str()).collect();
        assert_eq!(ids, ["a.attr", "a.gone", "a.new", "a.x"]);
        assert!(d.iter().all(|c| c.replayed));
        assert!(d[1].new_state.is_none());
        assert!(d[2].old_state.is_none());
        assert_eq!(
            d[3].old_state.as_ref().map(|s| s.state.as_str()),
            Some("on")
        );
        assert_eq!(states.state("a.x").as_deref(), Some("off"));
        assert!(states.get("a.gone").is_none());
    }
}
