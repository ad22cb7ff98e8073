//! Subscriptions to entities Home Assistant does not have (a typo such as
//! `input_boolean.harness_swtich` would otherwise wait silently forever): one WARN each, at
//! startup and after every reconnect, with the closest entity id Home Assistant has.

use std::collections::BTreeSet;

use crate::bus::{Bus, Entities};
use crate::state::States;

/// Warns once per app and unknown entity id (or glob that matches nothing); returns how many
/// warnings were logged.
pub(crate) fn warn_unknown(bus: &Bus, states: &States) -> usize {
    let known = states.entity_ids();
    let mut warned = BTreeSet::new();
    for (app, entities) in bus.watched_entities() {
        match &entities {
            Entities::Exact(ids) => {
                for id in ids {
                    if states.get(id).is_some() || !warned.insert((app.clone(), id.clone())) {
                        continue;
                    }
                    match crate::config::closest(id, known.iter().map(String::as_str)) {
                        Some(close) => tracing::warn!(
                            app = %app,
                            entity = %id,
                            "a subscription names an entity Home Assistant does not have (did you mean `{close}`?)"
                        ),
                        None => tracing::warn!(
                            app = %app,
                            entity = %id,
                            "a subscription names an entity Home Assistant does not have"
                        ),
                    }
                }
            }
            Entities::Glob(globs) => {
                if known.iter().any(|id| entities.matches(id))
                    || !warned.insert((app.clone(), globs.join(" ")))
                {
                    continue;
                }
                tracing::warn!(
                    app = %app,
                    entities = %globs.join(", "),
                    "a subscription's pattern matches no entity Home Assistant has"
                );
            }
        }
    }
    warned.len()
}
