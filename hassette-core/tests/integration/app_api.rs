//! The app API of issue 15: filters, Home Assistant's registries, history, logbook, triggers,
//! templates and service responses, owned entities, messages between apps, the scheduler's
//! named jobs, jitter and dawn/dusk, and the harness (several apps, a restart).

mod apps;
mod filters;
mod homeassistant;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

static SEEN: Mutex<Option<HashMap<String, Vec<String>>>> = Mutex::new(None);

/// Notes what an app saw under its tag.
pub(crate) fn record(tag: &str, what: impl Into<String>) {
    let mut seen = SEEN.lock().unwrap();
    seen.get_or_insert_with(HashMap::new)
        .entry(tag.to_owned())
        .or_default()
        .push(what.into());
}

/// What the apps with this tag saw so far.
pub(crate) fn seen(tag: &str) -> Vec<String> {
    let seen = SEEN.lock().unwrap();
    seen.as_ref()
        .and_then(|m| m.get(tag))
        .cloned()
        .unwrap_or_default()
}

/// Waits (bounded) until `tag` has seen `n` records: for deliveries that come over their own
/// Home Assistant subscription (triggers, templates) rather than the state feed.
pub(crate) async fn wait_seen(tag: &str, n: usize) -> Vec<String> {
    for _ in 0..1000 {
        let s = seen(tag);
        if s.len() >= n {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seen(tag)
}

/// A unique tag per test.
pub(crate) fn tag(name: &str) -> String {
    format!("{name}-{:x}", fastrand::u64(..))
}
