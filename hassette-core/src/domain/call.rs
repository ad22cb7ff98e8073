//! [`ServiceCall`]: a service call being built; awaiting it sends it (through
//! [`Api::call`]) and waits for Home Assistant's result.

use std::borrow::Cow;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::app::IntoEntities;
use crate::ha::{Api, Context, HaError, Target};
use crate::state::States;

/// The longest a call waits for the states view to show its changes.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(2);

/// What awaiting a [`ServiceCall`] gives: the call's [`Context`], or (for [`Response<T>`])
/// the service's response as `T`.
pub trait CallOutput: Send + 'static {
    /// The awaited value.
    type Output: Send + 'static;
    /// Whether the call asks Home Assistant for the service's response.
    const RETURN_RESPONSE: bool;
    /// The output of a call made without `return_response`.
    ///
    /// # Errors
    ///
    /// [`HaError::Decode`] when this output needs a response.
    fn from_context(context: Context) -> Result<Self::Output, HaError>;
    /// The output of a call made with `return_response`.
    ///
    /// # Errors
    ///
    /// [`HaError::Decode`] when the response does not fit.
    fn from_response(response: Value) -> Result<Self::Output, HaError>;
}

impl CallOutput for Context {
    type Output = Context;
    const RETURN_RESPONSE: bool = false;
    fn from_context(context: Context) -> Result<Context, HaError> {
        Ok(context)
    }
    fn from_response(response: Value) -> Result<Context, HaError> {
        Context::deserialize(response).map_err(HaError::Decode)
    }
}

/// Marks a call that returns the service's response data, decoded as `T`
/// (`weather.get_forecasts`).
#[derive(Debug)]
pub struct Response<T>(PhantomData<fn() -> T>);

impl<T: DeserializeOwned + Send + 'static> CallOutput for Response<T> {
    type Output = T;
    const RETURN_RESPONSE: bool = true;
    fn from_context(_: Context) -> Result<T, HaError> {
        T::deserialize(Value::Null).map_err(HaError::Decode)
    }
    fn from_response(response: Value) -> Result<T, HaError> {
        T::deserialize(response).map_err(HaError::Decode)
    }
}

/// A service call being built: set its data and target, then `.await` it. It is sent when
/// awaited and resolves once Home Assistant has run the service (or refused it). Unlike
/// [`CallBuilder`](crate::ha::CallBuilder), which it sends through, it owns its connection,
/// so typed handles and generated code return it without lifetimes.
///
/// ```no_run
/// # async fn demo(api: hassette_core::ha::Api) -> Result<(), hassette_core::ha::HaError> {
/// use hassette_core::domain::ServiceCall;
///
/// ServiceCall::new(api, "light", "turn_on")
///     .entity("light.kitchen")
///     .data("brightness_pct", 60)
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a service call is sent only when awaited"]
pub struct ServiceCall<R = Context> {
    api: Api,
    domain: Cow<'static, str>,
    service: Cow<'static, str>,
    data: Map<String, Value>,
    target: Target,
    /// The view to bring up to date before the call resolves (typed handles set it).
    states: Option<States>,
    output: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for ServiceCall<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCall")
            .field("service", &format_args!("{}.{}", self.domain, self.service))
            .field("data", &self.data)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl ServiceCall {
    /// A call of `domain.service`, with no data and no target yet.
    pub fn new(
        api: Api,
        domain: impl Into<Cow<'static, str>>,
        service: impl Into<Cow<'static, str>>,
    ) -> Self {
        // A call through the runtime's Api resolves once its changes are in the view, as a
        // call from a handle does: the caller reads typed states right after `.await`.
        let states = api.view().cloned();
        Self {
            api,
            domain: domain.into(),
            service: service.into(),
            data: Map::new(),
            target: Target::default(),
            states,
            output: PhantomData,
        }
    }
}

impl<R: CallOutput> ServiceCall<R> {
    /// Sets one field of the service data.
    pub fn data(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    /// Sets every field of a JSON object as service data (anything else is ignored).
    pub fn data_json(mut self, data: Value) -> Self {
        if let Value::Object(map) = data {
            self.data.extend(map);
        }
        self
    }

    /// A duration field, in seconds (`transition`).
    pub fn seconds(self, key: &str, duration: Duration) -> Self {
        self.data(key, duration.as_secs_f64())
    }

    /// A field holding entity ids: a list when `multiple`, else the first id as a string.
    pub fn entity_field(self, key: &str, entities: impl IntoEntities, multiple: bool) -> Self {
        let mut ids = entities.into_entities();
        if multiple || ids.len() != 1 {
            self.data(key, ids)
        } else {
            let id = ids.pop().unwrap_or_default();
            self.data(key, id)
        }
    }

    /// Adds entities to the target (an id, an [`EntityId`](super::EntityId), an
    /// [`Entity`](super::Entity), or a list).
    pub fn entity(mut self, entities: impl IntoEntities) -> Self {
        self.target = self.target.and_entities(entities);
        self
    }

    /// Adds an area to the target (`"kitchen"`).
    pub fn area(mut self, area_id: &str) -> Self {
        self.target = self.target.and_area(area_id);
        self
    }

    /// Adds a device to the target.
    pub fn device(mut self, device_id: &str) -> Self {
        self.target = self.target.and_device(device_id);
        self
    }

    /// Asks for the service's response, decoded as `T` (for services that return data).
    pub fn returning<T: DeserializeOwned + Send + 'static>(self) -> ServiceCall<Response<T>> {
        ServiceCall {
            api: self.api,
            domain: self.domain,
            service: self.service,
            data: self.data,
            target: self.target,
            states: self.states,
            output: PhantomData,
        }
    }

    /// Resolve only once `states` shows the changes the call caused, so the caller can read
    /// them right after `.await`.
    pub fn updating(mut self, states: &States) -> Self {
        self.states = Some(states.clone());
        self
    }

    /// Sends the call and waits for Home Assistant's result.
    ///
    /// # Errors
    ///
    /// Home Assistant's error (`not_found`, `invalid_format`, `service_validation_error`), a
    /// timeout, [`HaError::Disconnected`], or a response that does not fit.
    pub async fn send(self) -> Result<R::Output, HaError> {
        let name = format!("{}.{}", self.domain, self.service);
        let call = self
            .api
            .call(&name)
            .target(self.target)
            .data(Value::Object(self.data));
        let output = if R::RETURN_RESPONSE {
            R::from_response(call.with_response().await?)?
        } else {
            R::from_context(call.await?)?
        };
        if let Some(states) = &self.states {
            // Bounded, in case the view's follower is gone: the call itself has succeeded.
            let _ = tokio::time::timeout(CATCH_UP_LIMIT, states.caught_up()).await;
        }
        Ok(output)
    }
}

impl<R: CallOutput> IntoFuture for ServiceCall<R> {
    type Output = Result<R::Output, HaError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// Declares a typed wrapper around [`ServiceCall`] for one service: setters for its fields,
/// and awaitable like the call itself.
macro_rules! typed_call {
    ($(#[$meta:meta])* $name:ident $(-> $out:ty)?) => {
        $(#[$meta])*
        #[must_use = "a service call is sent only when awaited"]
        #[derive(Debug)]
        pub struct $name(crate::domain::ServiceCall $(<$out>)?);

        impl std::future::IntoFuture for $name {
            type Output = <crate::domain::ServiceCall $(<$out>)? as std::future::IntoFuture>::Output;
            type IntoFuture = <crate::domain::ServiceCall $(<$out>)? as std::future::IntoFuture>::IntoFuture;
            fn into_future(self) -> Self::IntoFuture {
                self.0.into_future()
            }
        }

        impl $name {
            /// Sets any other field of the service data.
            pub fn data(self, key: &str, value: impl Into<serde_json::Value>) -> Self {
                Self(self.0.data(key, value))
            }
        }
    };
}

pub(crate) use typed_call;
