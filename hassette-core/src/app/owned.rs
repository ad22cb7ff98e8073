//! Entities an app owns: sensors and binary sensors it publishes in Home Assistant, kept in its
//! cache and published again after every reconnect (Home Assistant forgets such states when it
//! restarts).

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cache::{AppCache, CacheError};
use crate::ha::{Client, HaError, State};

/// The cache key an owned entity's last published state is kept under.
fn cache_key(entity_id: &str) -> String {
    format!("hassette:entity:{entity_id}")
}

/// What is stored per owned entity.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Published {
    state: String,
    attributes: Map<String, Value>,
}

/// Why publishing an owned entity failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntityError {
    /// The entity id is not `domain.object_id` in lower case.
    #[error(
        "{0:?} is not a valid entity id: use `sensor.name` or `binary_sensor.name` (lower case letters, digits, `_`)"
    )]
    InvalidId(String),
    /// No state was given for a new entity.
    #[error("entity {0}: a first publish needs a state")]
    NoState(String),
    /// The app's cache, where the entity is kept, failed.
    #[error("entity {entity_id}: cannot keep it in the cache")]
    Cache {
        /// The entity.
        entity_id: String,
        /// What the cache said.
        #[source]
        source: CacheError,
    },
    /// Home Assistant refused the state, or is not connected (the entity is kept and published
    /// on the next reconnect).
    #[error("entity {entity_id}: Home Assistant did not take the state")]
    Ha {
        /// The entity.
        entity_id: String,
        /// What went wrong.
        #[source]
        source: HaError,
    },
}

/// Every owned entity of the runtime, by entity id, with the cache it lives in.
#[derive(Clone, Debug, Default)]
pub(crate) struct OwnedEntities {
    inner: Arc<Mutex<BTreeMap<String, AppCache>>>,
}

impl OwnedEntities {
    fn insert(&self, entity_id: &str, cache: &AppCache) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(entity_id.to_owned(), cache.clone());
    }

    /// Publishes every owned entity again, from its app's cache (after a reconnect: a
    /// restarted Home Assistant has lost them). Returns how many went out.
    pub(crate) async fn republish(&self, client: &Client) -> usize {
        let owned: Vec<(String, AppCache)> = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, cache)| (id.clone(), cache.clone()))
            .collect();
        let mut sent = 0;
        for (entity_id, cache) in owned {
            let published = match cache.get::<Published>(&cache_key(&entity_id)) {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(entity = %entity_id, error = %e, "cannot read an owned entity from the cache");
                    continue;
                }
            };
            match client
                .set_state(&entity_id, &published.state, &published.attributes)
                .await
            {
                Ok(_) => sent += 1,
                Err(e) => {
                    tracing::error!(entity = %entity_id, error = %e, "cannot publish an owned entity again");
                }
            }
        }
        sent
    }
}

/// An owned entity's update, being built; `.await` it to publish.
///
/// Made by [`crate::app::AppContext::entity`]. Attributes, unit and device class given once
/// stay until changed: an update can give only the state.
#[must_use = "an entity is published only when awaited"]
#[derive(Debug)]
pub struct EntityUpdate<'a> {
    pub(crate) client: &'a Client,
    pub(crate) cache: &'a AppCache,
    pub(crate) owned: &'a OwnedEntities,
    pub(crate) entity_id: String,
    pub(crate) state: Option<String>,
    pub(crate) attributes: Map<String, Value>,
}

impl EntityUpdate<'_> {
    /// The state (`21.5`, `"on"`): anything that displays.
    pub fn state(mut self, state: impl std::fmt::Display) -> Self {
        self.state = Some(state.to_string());
        self
    }

    /// The unit (`"°C"`): the `unit_of_measurement` attribute.
    pub fn unit(self, unit: &str) -> Self {
        self.attribute("unit_of_measurement", unit)
    }

    /// The device class (`"temperature"`, `"motion"`).
    pub fn device_class(self, class: &str) -> Self {
        self.attribute("device_class", class)
    }

    /// The name Home Assistant shows.
    pub fn friendly_name(self, name: &str) -> Self {
        self.attribute("friendly_name", name)
    }

    /// Any attribute.
    pub fn attribute(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.attributes.insert(name.to_owned(), value.into());
        self
    }

    async fn publish(self) -> Result<State, EntityError> {
        let id = self.entity_id;
        if !valid_entity_id(&id) {
            return Err(EntityError::InvalidId(id));
        }
        let key = cache_key(&id);
        let cache_err = |source| EntityError::Cache {
            entity_id: id.clone(),
            source,
        };
        let mut published: Published = self.cache.get(&key).map_err(cache_err)?.unwrap_or_default();
        match self.state {
            Some(s) => published.state = s,
            None if published.state.is_empty() => return Err(EntityError::NoState(id)),
            None => {}
        }
        published.attributes.extend(self.attributes);
        // Kept first, so that a publish that fails now still goes out on the next reconnect.
        self.cache.set(&key, &published).map_err(cache_err)?;
        self.owned.insert(&id, self.cache);
        tracing::debug!(entity = %id, state = %published.state, "publishing an owned entity");
        self.client
            .set_state(&id, &published.state, &published.attributes)
            .await
            .map_err(|source| EntityError::Ha {
                entity_id: id.clone(),
                source,
            })
    }
}

impl<'a> IntoFuture for EntityUpdate<'a> {
    type Output = Result<State, EntityError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.publish())
    }
}

/// `domain.object_id`, lower case letters, digits and `_`, as Home Assistant requires.
pub(crate) fn valid_entity_id(id: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('_')
            && !s.ends_with('_')
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    id.split_once('.').is_some_and(|(d, o)| ok(d) && ok(o))
}

#[cfg(test)]
mod tests {
    use super::valid_entity_id;

    #[test]
    fn entity_ids() {
        assert!(valid_entity_id("sensor.outside_summary"));
        assert!(valid_entity_id("binary_sensor.someone_home"));
        assert!(!valid_entity_id("sensor"));
        assert!(!valid_entity_id("Sensor.x"));
        assert!(!valid_entity_id("sensor.a.b"));
        assert!(!valid_entity_id("sensor._x"));
    }
}
