//! What a subscription matches: entities (exact or glob), from/to, what counts as a change, and
//! event data.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::ha::{Event, StateChanged};

/// Which entities a state subscription watches.
#[derive(Clone, Debug)]
pub(crate) enum Entities {
    /// These entity ids.
    Exact(Vec<String>),
    /// Entity ids matching any of these globs (`light.*`, `sensor.*_temperature`).
    Glob(Vec<String>),
}

impl Default for Entities {
    fn default() -> Self {
        Entities::Exact(Vec::new())
    }
}

impl Entities {
    /// Exact ids, or globs when any pattern has a `*` or `?`.
    pub(crate) fn new(patterns: Vec<String>) -> Self {
        if patterns.iter().any(|p| p.contains(['*', '?'])) {
            Entities::Glob(patterns)
        } else {
            Entities::Exact(patterns)
        }
    }

    /// The exact ids, or every id of `known` that a glob matches.
    pub(crate) fn resolve(&self, known: &[String]) -> Vec<String> {
        match self {
            Entities::Exact(ids) => ids.clone(),
            Entities::Glob(_) => known
                .iter()
                .filter(|id| self.matches(id))
                .cloned()
                .collect(),
        }
    }

    pub(crate) fn matches(&self, entity_id: &str) -> bool {
        match self {
            Entities::Exact(ids) => ids.iter().any(|id| id == entity_id),
            Entities::Glob(globs) => globs
                .iter()
                .any(|g| glob_match(g.as_bytes(), entity_id.as_bytes())),
        }
    }
}

/// `*` matches any run of characters, `?` one character.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// What counts as a change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Changed {
    /// The state string changed (`off` → `on`); attribute-only updates are ignored. The
    /// default.
    #[default]
    State,
    /// The state or any attribute changed.
    Any,
    /// This attribute's value changed.
    Attribute(String),
}

/// A user's own test of a state change (`.when(|c| ...)`).
pub(crate) type Predicate = Arc<dyn Fn(&StateChanged) -> bool + Send + Sync>;

/// States that mean "no reading" rather than a state of the device.
const UNAVAILABLE: [&str; 2] = ["unavailable", "unknown"];

/// The test a `state_changed` event must pass (besides timing: duration, debounce, throttle).
#[derive(Clone, Default)]
pub(crate) struct StateFilter {
    pub(crate) entities: Entities,
    /// The old state is one of these (empty: any).
    pub(crate) from: Vec<String>,
    /// The new state is one of these (empty: any).
    pub(crate) to: Vec<String>,
    /// The old state is none of these.
    pub(crate) not_from: Vec<String>,
    /// The new state is none of these.
    pub(crate) not_to: Vec<String>,
    /// Neither state is `unavailable` or `unknown`.
    pub(crate) ignore_unavailable: bool,
    /// The new state's attributes have these values.
    pub(crate) attributes: Vec<(String, Value)>,
    pub(crate) predicate: Option<Predicate>,
    pub(crate) changed: Changed,
}

impl std::fmt::Debug for StateFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateFilter")
            .field("entities", &self.entities)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("not_from", &self.not_from)
            .field("not_to", &self.not_to)
            .field("ignore_unavailable", &self.ignore_unavailable)
            .field("attributes", &self.attributes)
            .field("when", &self.predicate.is_some())
            .field("changed", &self.changed)
            .finish()
    }
}

impl StateFilter {
    /// Whether the change passes every test.
    pub(crate) fn matches(&self, change: &StateChanged) -> bool {
        if !self.entities.matches(&change.entity_id) {
            return false;
        }
        let old = change.old_state.as_ref();
        let new = change.new_state.as_ref();
        let changed = match &self.changed {
            Changed::State => old.map(|s| &s.state) != new.map(|s| &s.state),
            Changed::Any => true,
            Changed::Attribute(name) => {
                old.and_then(|s| s.attributes.get(name)) != new.and_then(|s| s.attributes.get(name))
            }
        };
        let old_state = old.map(|s| s.state.as_str());
        changed
            && (self.from.is_empty() || old_state.is_some_and(|o| self.from.iter().any(|f| f == o)))
            && !old_state.is_some_and(|o| self.not_from.iter().any(|f| f == o))
            && !(self.ignore_unavailable && old_state.is_some_and(|o| UNAVAILABLE.contains(&o)))
            && self.holds(change)
    }

    /// Whether the entity's new state satisfies the tests on it (`to`, `not_to`, unavailable,
    /// attribute values, the predicate): for "on for 5 minutes", a change that keeps it `on`
    /// does not cancel the wait, and at startup, whether the condition already holds.
    pub(crate) fn holds(&self, change: &StateChanged) -> bool {
        let Some(new) = change.new_state.as_ref() else {
            return self.to.is_empty() && self.attributes.is_empty() && self.predicate_ok(change);
        };
        let state = new.state.as_str();
        (self.to.is_empty() || self.to.iter().any(|t| t == state))
            && !self.not_to.iter().any(|t| t == state)
            && !(self.ignore_unavailable && UNAVAILABLE.contains(&state))
            && (self.attributes.iter()).all(|(name, want)| new.attributes.get(name) == Some(want))
            && self.predicate_ok(change)
    }

    fn predicate_ok(&self, change: &StateChanged) -> bool {
        self.predicate.as_ref().is_none_or(|p| p(change))
    }
}

/// The test an event must pass: its type, and a subset of its data.
#[derive(Clone, Debug)]
pub(crate) struct EventFilter {
    pub(crate) event_type: String,
    pub(crate) data: Map<String, Value>,
}

impl EventFilter {
    pub(crate) fn matches(&self, event: &Event, data: &Value) -> bool {
        event.event_type == self.event_type && subset(&self.data, data)
    }
}

/// Every key of `want` is in `have` with an equal value (objects compared recursively).
fn subset(want: &Map<String, Value>, have: &Value) -> bool {
    want.iter().all(|(k, v)| match (v, have.get(k)) {
        (Value::Object(w), Some(h @ Value::Object(_))) => subset(w, h),
        (_, Some(h)) => h == v,
        (_, None) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| glob_match(p.as_bytes(), t.as_bytes());
        assert!(g("light.*", "light.porch"));
        assert!(!g("light.*", "switch.porch"));
        assert!(g("sensor.*_temperature", "sensor.outside_temperature"));
        assert!(!g("sensor.*_temperature", "sensor.outside_humidity"));
        assert!(g("light.porc?", "light.porch"));
        assert!(g("*", "anything.at_all"));
    }

    #[test]
    fn subsets() {
        let want = serde_json::json!({"domain": "light", "service_data": {"entity_id": "light.a"}});
        let Value::Object(want) = want else {
            unreachable!()
        };
        assert!(subset(
            &want,
            &serde_json::json!({"domain": "light", "service": "turn_on", "service_data": {"entity_id": "light.a", "brightness": 3}})
        ));
        assert!(!subset(&want, &serde_json::json!({"domain": "switch"})));
    }
}
