//! The cloneable [`Client`] handle: typed commands and subscriptions, sent to the session task.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::connection::Connection;
use super::error::HaError;
use super::options::ClientOptions;
use super::protocol::Command;
use super::session::Session;
use super::status::{ConnectionEvent, ConnectionState};
use super::subscription::{self, Request, Subscription};
use super::types::{
    Context, Event, HaConfig, ServiceResponse, State, TemplateRender, TriggerEvent,
};

/// A cheap, cloneable handle to the Home Assistant connection.
///
/// Every command is sent by the one session task that owns the socket; many may be in flight
/// at once. Each waits at most [`ClientOptions::command_timeout`].
///
/// **While disconnected, commands fail fast** with [`HaError::Disconnected`] instead of
/// waiting: an automation should not act on a stale world minutes later. Subscriptions are
/// kept and restored after a reconnect.
///
/// # Examples
///
/// ```no_run
/// use hassette_core::config::Secret;
/// use hassette_core::ha::{Client, ClientOptions};
/// use tokio_util::sync::CancellationToken;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let opts = ClientOptions::new("http://localhost:8123".parse()?, Secret::new("token"));
/// let shutdown = CancellationToken::new();
/// let (client, session) = Client::connect(opts, shutdown.clone()).await?;
/// let mut motion = client.subscribe_events(Some("state_changed")).await?;
/// while let Some(event) = motion.recv().await {
///     if let Some(change) = event.state_changed() {
///         println!("{} changed", change.entity_id);
///     }
/// }
/// shutdown.cancel();
/// session.closed().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    requests: mpsc::UnboundedSender<Request>,
    state: watch::Receiver<ConnectionState>,
    events: broadcast::Sender<ConnectionEvent>,
    command_timeout: Duration,
    subscription_budget: usize,
    next_sub_key: AtomicU64,
    dropped: Arc<AtomicU64>,
    ha_version: Option<String>,
    rest: super::rest::Rest,
}

/// The running session task. Await [`SessionHandle::closed`] after cancelling the shutdown
/// token to know that the websocket Close was sent. Dropping it detaches the task.
#[derive(Debug)]
#[must_use = "await closed() after shutdown to let the session send its websocket Close"]
pub struct SessionHandle {
    task: tokio::task::JoinHandle<()>,
}

impl SessionHandle {
    /// Waits until the session task has ended.
    pub async fn closed(self) {
        if let Err(e) = self.task.await
            && e.is_panic()
        {
            tracing::error!("the Home Assistant session task panicked");
        }
    }
}

impl Client {
    /// Connects to Home Assistant, authenticates, waits until it is `RUNNING` and starts the
    /// session task, which reconnects forever on loss until `shutdown` is cancelled.
    ///
    /// # Errors
    ///
    /// Any failure of this first connection is returned, with no retry:
    /// [`HaError::AuthInvalid`] for a rejected token (never retried, to avoid a ban),
    /// [`HaError::Connect`], [`HaError::InvalidUrl`], [`HaError::Timeout`] and so on.
    pub async fn connect(
        opts: ClientOptions,
        shutdown: CancellationToken,
    ) -> Result<(Client, SessionHandle), HaError> {
        let mut conn = Connection::open(&opts).await?;
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(ConnectionState::Connected);
        let (events_tx, _) = broadcast::channel(64);
        let dropped = Arc::new(AtomicU64::new(0));
        let ha_version = conn.ha_version.clone();
        let mut session = Session::new(
            opts.clone(),
            req_rx,
            state_tx,
            events_tx.clone(),
            shutdown,
            dropped.clone(),
        );
        session.setup(&mut conn).await?;
        tracing::debug!(
            version = ha_version.as_deref().unwrap_or("?"),
            "authenticated"
        );
        let task = tokio::spawn(session.run(conn));
        let client = Client {
            inner: Arc::new(Inner {
                requests: req_tx,
                state: state_rx,
                events: events_tx,
                command_timeout: opts.command_timeout,
                subscription_budget: opts.subscription_budget,
                next_sub_key: AtomicU64::new(1),
                dropped,
                ha_version,
                rest: super::rest::Rest {
                    base_url: opts.base_url.clone(),
                    token: opts.token.clone(),
                    verify_ssl: opts.verify_ssl,
                    timeout: opts.command_timeout,
                },
            }),
        };
        Ok((client, SessionHandle { task }))
    }

    /// The connection state now.
    #[must_use]
    pub fn state(&self) -> ConnectionState {
        *self.inner.state.borrow()
    }

    /// A receiver that sees every change of [`Client::state`].
    #[must_use]
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.inner.state.clone()
    }

    /// Connection events (disconnected, reconnected, auth failed, closed) from now on.
    #[must_use]
    pub fn connection_events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.inner.events.subscribe()
    }

    /// Events dropped so far because a subscriber's queue was full, over all subscriptions.
    #[must_use]
    pub fn dropped_events(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// The Home Assistant version reported at the first connection.
    #[must_use]
    pub fn ha_version(&self) -> Option<&str> {
        self.inner.ha_version.as_deref()
    }

    fn ensure_connected(&self) -> Result<(), HaError> {
        if self.state() == ConnectionState::Connected {
            Ok(())
        } else {
            Err(HaError::Disconnected)
        }
    }

    async fn request_raw(&self, cmd: Command) -> Result<Box<RawValue>, HaError> {
        self.ensure_connected()?;
        let (tx, rx) = oneshot::channel();
        self.inner
            .requests
            .send(Request::Command { cmd, reply: tx })
            .map_err(|_| HaError::Disconnected)?;
        match tokio::time::timeout(self.inner.command_timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(HaError::Disconnected),
            Err(_) => Err(HaError::Timeout(self.inner.command_timeout)),
        }
    }

    /// A typed command, for the other modules of `ha`.
    pub(super) async fn command<T: DeserializeOwned>(&self, cmd: Command) -> Result<T, HaError> {
        self.request(cmd).await
    }

    async fn request<T: DeserializeOwned>(&self, cmd: Command) -> Result<T, HaError> {
        let raw = self.request_raw(cmd).await?;
        serde_json::from_str(raw.get()).map_err(HaError::Decode)
    }

    /// Sends any command (an object with `type` and its fields; `id` is added) and returns its
    /// `result`. For commands without a typed method.
    ///
    /// # Errors
    ///
    /// As every command: [`HaError::Command`], [`HaError::Timeout`], [`HaError::Disconnected`];
    /// [`HaError::Protocol`] when `command` is not an object with a string `type`.
    pub async fn send_command(&self, command: Value) -> Result<Value, HaError> {
        let Value::Object(mut fields) = command else {
            return Err(HaError::Protocol("a command must be a JSON object".into()));
        };
        fields.remove("id");
        let Some(Value::String(kind)) = fields.remove("type") else {
            return Err(HaError::Protocol("a command needs a string `type`".into()));
        };
        self.request(Command {
            kind: kind.into(),
            fields,
        })
        .await
    }

    /// Calls a service, e.g. `light.turn_on`. Returns when Home Assistant has run it.
    ///
    /// `data` is the service data, `target` the `{entity_id, device_id, area_id, ...}` target.
    /// With `return_response`, services that answer put it in [`ServiceResponse::response`].
    ///
    /// # Errors
    ///
    /// [`HaError::Command`] with code `not_found` for an unknown service, and HA's own codes
    /// (`invalid_format`, `service_validation_error`, `home_assistant_error`) otherwise.
    pub async fn call_service(
        &self,
        domain: &str,
        service: &str,
        data: Option<Value>,
        target: Option<Value>,
        return_response: bool,
    ) -> Result<ServiceResponse, HaError> {
        let mut cmd = Command::new("call_service")
            .with("domain", domain)
            .with("service", service)
            .with_opt("service_data", data)
            .with_opt("target", target);
        if return_response {
            cmd = cmd.with("return_response", true);
        }
        self.request(cmd).await
    }

    /// Creates or sets an entity's state in Home Assistant (`POST /api/states/<entity_id>`:
    /// the websocket API has no command for it). Such a state is not kept by Home Assistant
    /// across its restarts; the runtime publishes an app's own entities again after a
    /// reconnect.
    ///
    /// # Errors
    ///
    /// [`HaError::Command`] with code `http_<status>` when Home Assistant refuses
    /// (`http_400` for a malformed entity id, `http_401` for a bad token),
    /// [`HaError::Connect`], [`HaError::Timeout`].
    pub async fn set_state(
        &self,
        entity_id: &str,
        state: &str,
        attributes: &serde_json::Map<String, Value>,
    ) -> Result<State, HaError> {
        self.ensure_connected()?;
        let body = serde_json::json!({ "state": state, "attributes": attributes });
        self.inner.rest.set_state(entity_id, &body).await
    }

    /// Every entity's state.
    ///
    /// # Errors
    ///
    /// As every command.
    pub async fn get_states(&self) -> Result<Vec<State>, HaError> {
        self.request(Command::new("get_states")).await
    }

    /// The core configuration (time zone, location, core state).
    ///
    /// # Errors
    ///
    /// As every command.
    pub async fn get_config(&self) -> Result<HaConfig, HaError> {
        self.request(Command::new("get_config")).await
    }

    /// Every service, by domain, with its fields, as Home Assistant describes them.
    ///
    /// # Errors
    ///
    /// As every command.
    pub async fn get_services(&self) -> Result<Value, HaError> {
        self.request(Command::new("get_services")).await
    }

    /// Fires an event on Home Assistant's bus; returns its context.
    ///
    /// # Errors
    ///
    /// As every command; `unauthorized` for a non-admin token.
    pub async fn fire_event(
        &self,
        event_type: &str,
        data: Option<Value>,
    ) -> Result<Context, HaError> {
        #[derive(serde::Deserialize)]
        struct Fired {
            context: Context,
        }
        let cmd = Command::new("fire_event")
            .with("event_type", event_type)
            .with_opt("event_data", data);
        Ok(self.request::<Fired>(cmd).await?.context)
    }

    /// Sends the JSON `ping` command and waits for the `pong`.
    ///
    /// # Errors
    ///
    /// As every command.
    pub async fn ping(&self) -> Result<(), HaError> {
        self.request_raw(Command::new("ping")).await.map(drop)
    }

    /// Renders a Jinja template on Home Assistant once: subscribes, takes the first rendering
    /// and unsubscribes. A non-string result is returned as its JSON text.
    ///
    /// # Errors
    ///
    /// [`HaError::Command`] with code `template_error` for a broken template, and as every
    /// command.
    pub async fn render_template(
        &self,
        template: &str,
        variables: Option<Value>,
    ) -> Result<String, HaError> {
        let cmd = Command::new("render_template")
            .with("template", template)
            .with_opt("variables", variables);
        let mut sub = self.subscribe::<TemplateRender>(cmd).await?;
        let first = tokio::time::timeout(self.inner.command_timeout, sub.recv())
            .await
            .map_err(|_| HaError::Timeout(self.inner.command_timeout))?
            .ok_or(HaError::Disconnected)?;
        sub.unsubscribe();
        Ok(match first.result {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }

    /// A live template: every rendering, the first at once and then one each time the
    /// result changes (Home Assistant follows the entities the template reads). Survives
    /// reconnects.
    ///
    /// # Errors
    ///
    /// `template_error` for a broken template, and as every command.
    pub async fn subscribe_template(
        &self,
        template: &str,
        variables: Option<Value>,
    ) -> Result<Subscription<TemplateRender>, HaError> {
        let cmd = Command::new("render_template")
            .with("template", template)
            .with_opt("variables", variables);
        self.subscribe(cmd).await
    }

    /// Subscribes to events of one type (`None`: every event; prefer a type, HA sends a lot).
    ///
    /// The subscription survives reconnects. Its queue holds
    /// [`ClientOptions::subscription_budget`] bytes of events; past that, new events are
    /// dropped, counted ([`Subscription::dropped`]) and logged, so a slow consumer never stalls
    /// the socket.
    ///
    /// # Errors
    ///
    /// As every command.
    pub async fn subscribe_events(
        &self,
        event_type: Option<&str>,
    ) -> Result<Subscription<Event>, HaError> {
        let cmd = Command::new("subscribe_events").with_opt(
            "event_type",
            event_type.map(|t| Value::String(t.to_owned())),
        );
        self.subscribe(cmd).await
    }

    /// Subscribes to an HA-side trigger (automation syntax), e.g.
    /// `{"platform": "state", "entity_id": "binary_sensor.door", "to": "on"}`.
    ///
    /// # Errors
    ///
    /// As every command; `invalid_format` for a trigger HA does not accept.
    pub async fn subscribe_trigger(
        &self,
        trigger: Value,
    ) -> Result<Subscription<TriggerEvent>, HaError> {
        let cmd = Command::new("subscribe_trigger").with("trigger", trigger);
        self.subscribe(cmd).await
    }

    async fn subscribe<T>(&self, cmd: Command) -> Result<Subscription<T>, HaError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.ensure_connected()?;
        let key = self.inner.next_sub_key.fetch_add(1, Ordering::Relaxed);
        let (sink, sub) = subscription::channel::<T>(
            key,
            self.inner.requests.clone(),
            self.inner.subscription_budget,
        );
        let (reply_tx, reply_rx) = oneshot::channel();
        self.inner
            .requests
            .send(Request::Subscribe {
                key,
                cmd,
                sink,
                reply: reply_tx,
            })
            .map_err(|_| HaError::Disconnected)?;
        // From here on, dropping `sub` (on an error or a timeout) cancels the subscription.
        match tokio::time::timeout(self.inner.command_timeout, reply_rx).await {
            Ok(Ok(Ok(()))) => Ok(sub),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(HaError::Disconnected),
            Err(_) => Err(HaError::Timeout(self.inner.command_timeout)),
        }
    }
}
