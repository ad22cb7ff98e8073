//! What the status API shows of the bus: one app instance's subscriptions and drop count.

use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use super::{Bus, Changed, Entities, Matcher, OwnerId};

/// One subscription, described for people.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SubscriptionInfo {
    /// The subscription's id (also in the bus's debug logs).
    pub id: u64,
    /// `state` or `event`.
    pub kind: &'static str,
    /// What it matches and how it is timed, e.g. `binary_sensor.porch to "on" for 5m`.
    pub description: String,
    /// Deliveries dropped because the app's mailbox was full.
    pub dropped: u64,
}

impl Bus {
    /// Counts a message dropped for `owner` (its mailbox was full).
    pub(crate) fn note_dropped(&self, owner: OwnerId) {
        *self
            .inner
            .dropped_by_owner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(owner)
            .or_default() += 1;
    }

    /// Messages dropped for `owner` so far.
    pub(crate) fn dropped_of(&self, owner: OwnerId) -> u64 {
        self.inner
            .dropped_by_owner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&owner)
            .copied()
            .unwrap_or(0)
    }

    /// The live subscriptions of `owner`, in the order they were made.
    pub(crate) fn subscriptions_of(&self, owner: OwnerId) -> Vec<SubscriptionInfo> {
        let mut subs: Vec<SubscriptionInfo> = self
            .read()
            .values()
            .filter(|s| s.owner == owner)
            .map(|s| {
                let (kind, mut description) = match &s.matcher {
                    Matcher::State(f) => {
                        let mut d = match &f.entities {
                            Entities::Exact(ids) | Entities::Glob(ids) => ids.join(", "),
                        };
                        for (word, states) in [
                            ("from", &f.from),
                            ("to", &f.to),
                            ("not from", &f.not_from),
                            ("not to", &f.not_to),
                        ] {
                            match states.as_slice() {
                                [] => {}
                                [one] => d.push_str(&format!(" {word} {one:?}")),
                                many => d.push_str(&format!(" {word} any of {many:?}")),
                            }
                        }
                        if f.ignore_unavailable {
                            d.push_str(" (ignoring unavailable/unknown)");
                        }
                        for (name, value) in &f.attributes {
                            d.push_str(&format!(" where {name} = {value}"));
                        }
                        if f.predicate.is_some() {
                            d.push_str(" when ..");
                        }
                        match &f.changed {
                            Changed::State => {}
                            Changed::Any => d.push_str(" (any change)"),
                            Changed::Attribute(a) => d.push_str(&format!(" (attribute {a})")),
                        }
                        ("state", d)
                    }
                    Matcher::Event(f) => {
                        let mut d = f.event_type.clone();
                        if !f.data.is_empty() {
                            d.push_str(&format!(
                                " where {}",
                                serde_json::Value::Object(f.data.clone())
                            ));
                        }
                        ("event", d)
                    }
                };
                let t = &s.timing;
                for (word, value) in [
                    ("for", t.duration),
                    ("debounce", t.debounce),
                    ("throttle", t.throttle),
                ] {
                    if let Some(v) = value {
                        description.push_str(&format!(" {word} {}", human_duration(v)));
                    }
                }
                if t.once {
                    description.push_str(" once");
                }
                SubscriptionInfo {
                    id: s.id,
                    kind,
                    description,
                    dropped: s.dropped.load(Ordering::Relaxed),
                }
            })
            .collect();
        subs.sort_by_key(|s| s.id);
        subs
    }
}

/// `90s` → `1m30s`; whole milliseconds below a second.
pub(crate) fn human_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}
