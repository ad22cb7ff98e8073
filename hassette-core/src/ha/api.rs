//! [`Api`]: what apps call Home Assistant with.

use serde_json::{Value, json};

use super::{Client, Context, HaError, ServiceResponse};

/// Service calls, events and templates, for apps: a cheap clone of the runtime's connection.
///
/// Calls made while Home Assistant is unreachable fail at once with
/// [`HaError::Disconnected`]; they are not queued (a light switched an hour late is worse than
/// a logged error).
#[derive(Clone, Debug)]
pub struct Api {
    client: Client,
}

impl Api {
    /// An `Api` on a connected client.
    #[must_use]
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The underlying client, for commands `Api` does not wrap.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Calls `domain.service` with service data and a target (`{"entity_id": ...}`).
    ///
    /// # Errors
    ///
    /// Home Assistant's error (`not_found` for an unknown service, ...), a timeout, or
    /// [`HaError::Disconnected`].
    pub async fn call_service(
        &self,
        domain: &str,
        service: &str,
        data: Option<Value>,
        target: Option<Value>,
    ) -> Result<Context, HaError> {
        tracing::debug!(domain, service, "call_service");
        Ok(self
            .client
            .call_service(domain, service, data, target, false)
            .await?
            .context)
    }

    /// Calls a service that answers, and returns its answer (`return_response`).
    ///
    /// # Errors
    ///
    /// As [`Api::call_service`].
    pub async fn call_service_with_response(
        &self,
        domain: &str,
        service: &str,
        data: Option<Value>,
        target: Option<Value>,
    ) -> Result<ServiceResponse, HaError> {
        self.client
            .call_service(domain, service, data, target, true)
            .await
    }

    /// `<domain>.turn_on` for the entity, with optional service data (`{"brightness": 200}`).
    ///
    /// # Errors
    ///
    /// As [`Api::call_service`].
    pub async fn turn_on(&self, entity_id: &str, data: Option<Value>) -> Result<Context, HaError> {
        self.entity_service(entity_id, "turn_on", data).await
    }

    /// `<domain>.turn_off` for the entity.
    ///
    /// # Errors
    ///
    /// As [`Api::call_service`].
    pub async fn turn_off(&self, entity_id: &str) -> Result<Context, HaError> {
        self.entity_service(entity_id, "turn_off", None).await
    }

    /// `<domain>.toggle` for the entity.
    ///
    /// # Errors
    ///
    /// As [`Api::call_service`].
    pub async fn toggle(&self, entity_id: &str) -> Result<Context, HaError> {
        self.entity_service(entity_id, "toggle", None).await
    }

    /// Sets the value of an `input_number`, `number`, `input_text` or `text` entity, or picks
    /// the option of an `input_select` or `select`.
    ///
    /// # Errors
    ///
    /// As [`Api::call_service`].
    pub async fn set_value(
        &self,
        entity_id: &str,
        value: impl Into<Value>,
    ) -> Result<Context, HaError> {
        let value = value.into();
        let (service, data) = match domain_of(entity_id) {
            "input_select" | "select" => ("select_option", json!({ "option": value })),
            _ => ("set_value", json!({ "value": value })),
        };
        self.entity_service(entity_id, service, Some(data)).await
    }

    /// Fires an event on Home Assistant's bus.
    ///
    /// # Errors
    ///
    /// As [`Api::call_service`].
    pub async fn fire_event(
        &self,
        event_type: &str,
        data: Option<Value>,
    ) -> Result<Context, HaError> {
        self.client.fire_event(event_type, data).await
    }

    /// Renders a template once (`"{{ states('sensor.outside_temperature') }}"`).
    ///
    /// # Errors
    ///
    /// `template_error` for a broken template, and as [`Api::call_service`].
    pub async fn render_template(
        &self,
        template: &str,
        variables: Option<Value>,
    ) -> Result<String, HaError> {
        self.client.render_template(template, variables).await
    }

    async fn entity_service(
        &self,
        entity_id: &str,
        service: &str,
        data: Option<Value>,
    ) -> Result<Context, HaError> {
        let domain = domain_of(entity_id);
        self.call_service(
            domain,
            service,
            data,
            Some(json!({ "entity_id": entity_id })),
        )
        .await
    }
}

/// `light.porch` → `light`.
fn domain_of(entity_id: &str) -> &str {
    entity_id.split_once('.').map_or(entity_id, |(d, _)| d)
}
