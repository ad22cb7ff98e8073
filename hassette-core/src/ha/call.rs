//! [`CallBuilder`]: `api.call("light.turn_on").target("light.porch").data(json!({..})).await`.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Api, Context, HaError};
use crate::app::IntoEntities;

/// What a service call acts on: entities, areas, devices, labels (any mix).
///
/// Anything that implements [`IntoEntities`] is a target of entities, so
/// `.target("light.porch")` and `.target(["light.a", "light.b"])` work as they are.
///
/// # Examples
///
/// ```
/// use hassette_core::ha::Target;
///
/// let t = Target::area("kitchen").and_entities("light.porch");
/// assert_eq!(
///     serde_json::to_value(&t).unwrap(),
///     serde_json::json!({"area_id": ["kitchen"], "entity_id": ["light.porch"]})
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Entity ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entity_id: Vec<String>,
    /// Area ids (`kitchen`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub area_id: Vec<String>,
    /// Device ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_id: Vec<String>,
    /// Label ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub label_id: Vec<String>,
}

impl Target {
    /// Every entity of an area.
    #[must_use]
    pub fn area(area_id: impl Into<String>) -> Self {
        Self::default().and_area(area_id)
    }

    /// Every entity of a device.
    #[must_use]
    pub fn device(device_id: impl Into<String>) -> Self {
        Self::default().and_device(device_id)
    }

    /// Every entity with a label.
    #[must_use]
    pub fn label(label_id: impl Into<String>) -> Self {
        Self::default().and_label(label_id)
    }

    /// These entities too.
    #[must_use]
    pub fn and_entities(mut self, entities: impl IntoEntities) -> Self {
        self.entity_id.extend(entities.into_entities());
        self
    }

    /// This area too.
    #[must_use]
    pub fn and_area(mut self, area_id: impl Into<String>) -> Self {
        self.area_id.push(area_id.into());
        self
    }

    /// This device too.
    #[must_use]
    pub fn and_device(mut self, device_id: impl Into<String>) -> Self {
        self.device_id.push(device_id.into());
        self
    }

    /// This label too.
    #[must_use]
    pub fn and_label(mut self, label_id: impl Into<String>) -> Self {
        self.label_id.push(label_id.into());
        self
    }

    fn merge(&mut self, other: Target) {
        self.entity_id.extend(other.entity_id);
        self.area_id.extend(other.area_id);
        self.device_id.extend(other.device_id);
        self.label_id.extend(other.label_id);
    }

    fn is_empty(&self) -> bool {
        self.entity_id.is_empty()
            && self.area_id.is_empty()
            && self.device_id.is_empty()
            && self.label_id.is_empty()
    }
}

/// Anything a service call can target: a [`Target`], or entities ([`IntoEntities`]).
pub trait IntoTarget {
    /// The target.
    fn into_target(self) -> Target;
}

impl IntoTarget for Target {
    fn into_target(self) -> Target {
        self
    }
}

impl<T: IntoEntities> IntoTarget for T {
    fn into_target(self) -> Target {
        Target::default().and_entities(self)
    }
}

/// A service call being built; `.await` it to make the call.
///
/// Made by [`Api::call`]. Awaiting gives the call's [`Context`];
/// [`with_response`](Self::with_response) asks for the service's response data instead.
#[must_use = "a service call is made only when awaited"]
#[derive(Debug)]
pub struct CallBuilder<'a> {
    api: &'a Api,
    service: String,
    target: Target,
    data: Map<String, Value>,
    error: Option<String>,
}

impl<'a> CallBuilder<'a> {
    pub(super) fn new(api: &'a Api, service: &str) -> Self {
        Self {
            api,
            service: service.to_owned(),
            target: Target::default(),
            data: Map::new(),
            error: None,
        }
    }

    /// What the call acts on: `"light.porch"`, a list, or a [`Target`] (areas, devices,
    /// labels). Several calls add up.
    pub fn target(mut self, target: impl IntoTarget) -> Self {
        self.target.merge(target.into_target());
        self
    }

    /// Service data: anything that serializes to a JSON object (`json!({"brightness": 200})`,
    /// or a struct of your own). Several calls add up; a later key wins.
    pub fn data(mut self, data: impl Serialize) -> Self {
        match serde_json::to_value(data) {
            Ok(Value::Object(map)) => self.data.extend(map),
            Ok(Value::Null) => {}
            Ok(other) => {
                self.error = Some(format!(
                    "service data must serialize to a JSON object, not {other}"
                ));
            }
            Err(e) => self.error = Some(format!("service data does not serialize: {e}")),
        }
        self
    }

    /// Asks for the service's response (`return_response`); awaiting gives the response data
    /// (`Value::Null` when the service gave none). Only for services that support responses
    /// (`weather.get_forecasts`, `calendar.get_events`, ...): others fail with Home
    /// Assistant's `service_validation_error`.
    pub fn with_response(self) -> ResponseCall<'a> {
        ResponseCall { call: self }
    }

    async fn send(self, return_response: bool) -> Result<super::ServiceResponse, HaError> {
        let bad = |reason: String| HaError::BadCall {
            service: self.service.clone(),
            reason,
        };
        if let Some(reason) = self.error.clone() {
            return Err(bad(reason));
        }
        let Some((domain, service)) = self
            .service
            .split_once('.')
            .filter(|(d, s)| !d.is_empty() && !s.is_empty() && !s.contains('.'))
        else {
            return Err(bad(
                "a service is named `domain.service`, e.g. `light.turn_on`".to_owned(),
            ));
        };
        let target = (!self.target.is_empty())
            .then(|| serde_json::to_value(&self.target).unwrap_or(Value::Null));
        let data = (!self.data.is_empty()).then(|| Value::Object(self.data.clone()));
        tracing::debug!(domain, service, "call_service");
        self.api
            .client()
            .call_service(domain, service, data, target, return_response)
            .await
    }
}

type CallFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HaError>> + Send + 'a>>;

impl<'a> IntoFuture for CallBuilder<'a> {
    type Output = Result<Context, HaError>;
    type IntoFuture = CallFuture<'a, Context>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { Ok(self.send(false).await?.context) })
    }
}

/// A service call that returns the service's response; `.await` it.
#[must_use = "a service call is made only when awaited"]
#[derive(Debug)]
pub struct ResponseCall<'a> {
    call: CallBuilder<'a>,
}

impl<'a> IntoFuture for ResponseCall<'a> {
    type Output = Result<Value, HaError>;
    type IntoFuture = CallFuture<'a, Value>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { Ok(self.call.send(true).await?.response.unwrap_or(Value::Null)) })
    }
}
