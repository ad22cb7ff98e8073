//! [`Api`]: what apps call Home Assistant with.

use serde_json::{Value, json};

use super::{CallBuilder, Client, Context, HaError};

/// Service calls, events and templates, for apps: a cheap clone of the runtime's connection.
///
/// Calls made while Home Assistant is unreachable fail at once with
/// [`HaError::Disconnected`]; they are not queued (a light switched an hour late is worse than
/// a logged error).
#[derive(Clone, Debug)]
pub struct Api {
    client: Client,
    /// The runtime's states view: typed calls made through this `Api` resolve once it shows
    /// the changes they caused.
    view: Option<crate::state::States>,
}

impl Api {
    /// An `Api` on a connected client.
    #[must_use]
    pub fn new(client: Client) -> Self {
        Self { client, view: None }
    }

    /// The same, with the states view its typed calls wait for.
    pub(crate) fn with_view(mut self, states: crate::state::States) -> Self {
        self.view = Some(states);
        self
    }

    /// The states view typed calls wait for, when the runtime gave one.
    pub(crate) fn view(&self) -> Option<&crate::state::States> {
        self.view.as_ref()
    }

    /// The underlying client, for commands `Api` does not wrap.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A call of a service (`"light.turn_on"`): add a target and data, then `.await` it.
    ///
    /// ```no_run
    /// # async fn f(api: &hassette_core::ha::Api) -> Result<(), hassette_core::ha::HaError> {
    /// use serde_json::json;
    /// api.call("light.turn_on").target("light.porch").data(json!({"brightness": 200})).await?;
    /// let forecast = api
    ///     .call("weather.get_forecasts")
    ///     .target("weather.home")
    ///     .data(json!({"type": "daily"}))
    ///     .with_response()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// Awaiting fails with Home Assistant's error (`not_found` for an unknown service, ...), a
    /// timeout, [`HaError::Disconnected`], or [`HaError::BadCall`] for a name without a
    /// domain or data that is not an object.
    pub fn call(&self, service: &str) -> CallBuilder<'_> {
        CallBuilder::new(self, service)
    }

    /// `<domain>.turn_on` for the entity; chain `.data(..)` for service data.
    pub fn turn_on(&self, entity_id: &str) -> CallBuilder<'_> {
        self.entity_service(entity_id, "turn_on")
    }

    /// `<domain>.turn_off` for the entity.
    pub fn turn_off(&self, entity_id: &str) -> CallBuilder<'_> {
        self.entity_service(entity_id, "turn_off")
    }

    /// `<domain>.toggle` for the entity.
    pub fn toggle(&self, entity_id: &str) -> CallBuilder<'_> {
        self.entity_service(entity_id, "toggle")
    }

    /// Sets the value of an `input_number`, `number`, `input_text` or `text` entity, or picks
    /// the option of an `input_select` or `select`.
    pub fn set_value(&self, entity_id: &str, value: impl Into<Value>) -> CallBuilder<'_> {
        let value = value.into();
        match domain_of(entity_id) {
            "input_select" | "select" => self
                .entity_service(entity_id, "select_option")
                .data(json!({ "option": value })),
            _ => self
                .entity_service(entity_id, "set_value")
                .data(json!({ "value": value })),
        }
    }

    /// The states an entity took from `start` to `end`; see [`Client::history`].
    ///
    /// # Errors
    ///
    /// As [`Client::history`].
    pub async fn history(
        &self,
        entity_id: &str,
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> Result<Vec<super::HistoryState>, HaError> {
        self.client.history(entity_id, start, end).await
    }

    /// Logbook entries of these entities (empty: all) from `start` to `end`; see
    /// [`Client::logbook`].
    ///
    /// # Errors
    ///
    /// As [`Client::logbook`].
    pub async fn logbook(
        &self,
        entity_ids: &[&str],
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> Result<Vec<super::LogbookEntry>, HaError> {
        self.client.logbook(entity_ids, start, end).await
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

    fn entity_service(&self, entity_id: &str, service: &str) -> CallBuilder<'_> {
        self.call(&format!("{}.{service}", domain_of(entity_id)))
            .target(entity_id)
    }
}

/// `light.porch` → `light`.
fn domain_of(entity_id: &str) -> &str {
    entity_id.split_once('.').map_or(entity_id, |(d, _)| d)
}
