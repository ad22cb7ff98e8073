//! [`EntityId<D>`] (a typed, `const`-able entity id) and [`Entity<D>`] (one bound to the
//! connection, reading live state and calling services).

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::StateValue;
use super::call::ServiceCall;
use crate::app::IntoEntities;
use crate::ha::{Api, State};
use crate::state::States;

/// A Home Assistant domain (`light`, `climate`, ...): its name and the type of its state.
///
/// The core implements it for the common domains ([`Light`](super::Light), ...);
/// `hassette codegen` implements it for every other domain it finds.
pub trait Domain: Send + Sync + 'static {
    /// The domain's name, the part of an entity id before the dot.
    const DOMAIN: &'static str;
    /// The typed state of its entities.
    type State: StateValue;
}

/// What an [`EntityId`] binds to: a connection's [`Api`] and [`States`] view.
pub trait Connected {
    /// The Home Assistant API.
    fn api(&self) -> &Api;
    /// The states view.
    fn states(&self) -> &States;
}

impl Connected for (&Api, &States) {
    fn api(&self) -> &Api {
        self.0
    }
    fn states(&self) -> &States {
        self.1
    }
}

/// The id of an entity of domain `D`: `EntityId<Light>` can only name a light.
///
/// `const`, so generated modules list entities as constants; a removed entity is then a
/// compile error where it is used. Deserializes from a string, checking the domain, so an app's
/// config can hold `light: EntityId<Light>` and a `switch.x` there fails at startup.
///
/// ```
/// use hassette_core::domain::{EntityId, Light};
///
/// const KITCHEN: EntityId<Light> = EntityId::from_static("light.kitchen");
/// assert_eq!(KITCHEN.as_str(), "light.kitchen");
/// assert!(EntityId::<Light>::new("switch.kitchen").is_err());
/// ```
pub struct EntityId<D> {
    id: Cow<'static, str>,
    domain: PhantomData<fn() -> D>,
}

/// An entity id that does not belong to the expected domain, or has no object id.
#[derive(Debug, thiserror::Error)]
#[error("`{id}` is not a {expected} entity id (expected `{expected}.<name>`)")]
pub struct EntityIdError {
    /// The id given.
    pub id: String,
    /// The domain expected.
    pub expected: &'static str,
}

impl<D> EntityId<D> {
    /// An id known at compile time (generated code). The domain is not checked here; use
    /// [`EntityId::new`] for ids from users.
    #[must_use]
    pub const fn from_static(id: &'static str) -> Self {
        Self {
            id: Cow::Borrowed(id),
            domain: PhantomData,
        }
    }

    /// The entity id (`light.kitchen`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The part after the dot (`kitchen`).
    #[must_use]
    pub fn object_id(&self) -> &str {
        self.id.split_once('.').map_or(&*self.id, |(_, o)| o)
    }
}

impl<D: Domain> EntityId<D> {
    /// An id from a string, checked to be `<D::DOMAIN>.<object_id>`.
    ///
    /// # Errors
    ///
    /// [`EntityIdError`] when the domain differs or the object id is empty.
    pub fn new(id: impl Into<String>) -> Result<Self, EntityIdError> {
        let id = id.into();
        match id.split_once('.') {
            Some((domain, object)) if domain == D::DOMAIN && !object.is_empty() => Ok(Self {
                id: Cow::Owned(id),
                domain: PhantomData,
            }),
            _ => Err(EntityIdError {
                id,
                expected: D::DOMAIN,
            }),
        }
    }

    /// Binds the id to the connection: the handle that reads state and calls services.
    /// `ctx` is an app's [`AppContext`](crate::app::AppContext) (or the test harness, or
    /// `(&api, &states)`).
    ///
    /// ```ignore
    /// let kitchen = ha::light::KITCHEN.bind(ctx);
    /// kitchen.turn_on().brightness_pct(60).await?;
    /// ```
    #[must_use]
    pub fn bind(&self, ctx: &impl Connected) -> Entity<D> {
        Entity::new(self.clone(), ctx.api().clone(), ctx.states().clone())
    }
}

impl<D> Clone for EntityId<D> {
    fn clone(&self) -> Self {
        Self {
            id: self.id.clone(),
            domain: PhantomData,
        }
    }
}

impl<D> PartialEq for EntityId<D> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<D> Eq for EntityId<D> {}

impl<D> std::hash::Hash for EntityId<D> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl<D> std::fmt::Debug for EntityId<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EntityId({})", self.id)
    }
}

impl<D> std::fmt::Display for EntityId<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

impl<D> serde::Serialize for EntityId<D> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.id)
    }
}

impl<'de, D: Domain> serde::Deserialize<'de> for EntityId<D> {
    fn deserialize<De: serde::Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl<D> IntoEntities for EntityId<D> {
    fn into_entities(self) -> Vec<String> {
        vec![self.id.into_owned()]
    }
}

impl<D> IntoEntities for &EntityId<D> {
    fn into_entities(self) -> Vec<String> {
        vec![self.id.to_string()]
    }
}

impl<D> IntoEntities for &[EntityId<D>] {
    fn into_entities(self) -> Vec<String> {
        self.iter().map(|e| e.id.to_string()).collect()
    }
}

impl<D, const N: usize> IntoEntities for [EntityId<D>; N] {
    fn into_entities(self) -> Vec<String> {
        self.iter().map(|e| e.id.to_string()).collect()
    }
}

/// Entities of domain `D`, as a service's target: generated services whose target is one
/// domain take `impl Targets<Light>`, so a switch there is a compile error.
pub trait Targets<D>: IntoEntities {}
impl<D> Targets<D> for EntityId<D> {}
impl<D> Targets<D> for &EntityId<D> {}
impl<D> Targets<D> for &[EntityId<D>] {}
impl<D, const N: usize> Targets<D> for [EntityId<D>; N] {}
impl<D> Targets<D> for &Entity<D> {}

/// One entity, bound to the connection: its live typed state, its attributes, and its
/// services. Cheap to clone; keep it in the app struct.
///
/// A subscription takes it too: `bus.on_state_change(&kitchen).to(OnOff::On)`.
pub struct Entity<D> {
    id: EntityId<D>,
    api: Api,
    states: States,
}

impl<D> Clone for Entity<D> {
    fn clone(&self) -> Self {
        Self {
            id: self.id.clone(),
            api: self.api.clone(),
            states: self.states.clone(),
        }
    }
}

impl<D> std::fmt::Debug for Entity<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Entity").field(&self.id.as_str()).finish()
    }
}

impl<D> IntoEntities for &Entity<D> {
    fn into_entities(self) -> Vec<String> {
        vec![self.id.id.to_string()]
    }
}

impl<D: Domain> Entity<D> {
    /// A handle on `id` that calls through `api` and reads `states`.
    #[must_use]
    pub fn new(id: EntityId<D>, api: Api, states: States) -> Self {
        Self { id, api, states }
    }

    /// The typed id.
    #[must_use]
    pub fn id(&self) -> &EntityId<D> {
        &self.id
    }

    /// The entity id (`light.kitchen`).
    #[must_use]
    pub fn entity_id(&self) -> &str {
        self.id.as_str()
    }

    /// The typed state now. An entity that Home Assistant does not have reads as
    /// `Unavailable`.
    #[must_use]
    pub fn state(&self) -> D::State {
        self.raw()
            .map_or_else(D::State::missing, |s| D::State::decode(&s.state))
    }

    /// The full state as Home Assistant sent it (state string, attributes, timestamps), or
    /// `None` when Home Assistant does not have the entity.
    #[must_use]
    pub fn raw(&self) -> Option<Arc<State>> {
        self.states.get(self.id.as_str())
    }

    /// Whether Home Assistant has the entity and it is neither `unavailable` nor `unknown`.
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.raw()
            .is_some_and(|s| s.state != "unavailable" && s.state != "unknown")
    }

    /// One attribute as `T`; `None` when absent, `null`, or of another shape (a value a
    /// later Home Assistant changed is then `None`, not an error).
    #[must_use]
    pub fn attribute<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let state = self.raw()?;
        match state.attributes.get(name)? {
            Value::Null => None,
            v => T::deserialize(v).ok(),
        }
    }

    /// The `friendly_name` attribute.
    #[must_use]
    pub fn friendly_name(&self) -> Option<String> {
        self.attribute("friendly_name")
    }

    /// When the state last changed.
    #[must_use]
    pub fn last_changed(&self) -> Option<jiff::Timestamp> {
        self.raw().map(|s| s.last_changed)
    }

    /// Any service of this entity's domain, targeting it: for services this module has no
    /// typed method for (`entity.call("set_preset_mode").data("preset_mode", "eco")`).
    pub fn call(&self, service: &str) -> ServiceCall {
        ServiceCall::new(self.api.clone(), D::DOMAIN, service.to_owned())
            .entity(self.id.as_str())
            .updating(&self.states)
    }

    /// `<domain>.<service>` targeting this entity.
    pub(crate) fn service(&self, service: &'static str) -> ServiceCall {
        ServiceCall::new(self.api.clone(), D::DOMAIN, service)
            .entity(self.id.as_str())
            .updating(&self.states)
    }

    /// The states view this handle reads.
    pub(crate) fn states(&self) -> &States {
        &self.states
    }

    /// A number attribute (`brightness`, `current_temperature`).
    pub(crate) fn number(&self, name: &str) -> Option<f64> {
        self.attribute::<f64>(name)
    }

    /// The Home Assistant connection this handle calls through.
    #[must_use]
    pub fn api(&self) -> &Api {
        &self.api
    }
}
