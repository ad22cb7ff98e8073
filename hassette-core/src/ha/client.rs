//! The cloneable [`Client`] handle, its options, subscriptions and connection status.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::connection::Connection;
use super::error::HaError;
use super::protocol::Command;
use super::session::{Request, Session, Sink, TypedSink};
use super::types::{
    Context, Event, HaConfig, ServiceResponse, State, StateChanged, TemplateRender, TriggerEvent,
};
use crate::config::Secret;

/// How to reach Home Assistant and how patient to be. Plain values, no config file coupling.
///
/// # Examples
///
/// ```
/// use hassette_core::config::Secret;
/// use hassette_core::ha::ClientOptions;
/// use std::time::Duration;
///
/// let url = "http://homeassistant.local:8123".parse()?;
/// let mut opts = ClientOptions::new(url, Secret::new("token"));
/// opts.command_timeout = Duration::from_secs(5);
/// # Ok::<(), url::ParseError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Home Assistant's base URL (`http(s)://host:8123`); see [`super::websocket_url`].
    pub base_url: Url,
    /// The long-lived access token.
    pub token: Secret,
    /// Check the TLS certificate. `false` accepts self-signed certificates, with a warning.
    pub verify_ssl: bool,
    /// How long a command may wait for its result (default 10 s).
    pub command_timeout: Duration,
    /// How often to send a heartbeat `ping` (default 30 s).
    pub heartbeat_interval: Duration,
    /// How long to wait for the heartbeat's `pong` before the connection counts as dead
    /// (default 10 s).
    pub heartbeat_timeout: Duration,
    /// The first reconnect delay (default 1 s); it doubles after each failed attempt.
    pub reconnect_initial: Duration,
    /// The largest reconnect delay (default 60 s).
    pub reconnect_max: Duration,
    /// How often to ask `get_config` whether a restarting Home Assistant is `RUNNING` yet
    /// (default 1 s).
    pub startup_poll: Duration,
    /// How many undelivered events a subscription holds before it drops new ones
    /// (default 1024).
    pub subscriber_capacity: usize,
    /// The largest websocket message accepted (default 64 MiB; `None` for no limit). Far above
    /// what a real `get_states` or `get_services` sends.
    pub max_message_size: Option<usize>,
    /// Keep a snapshot of all states, to report which entities changed during a disconnection
    /// (default `true`). Costs one internal `state_changed` subscription.
    pub track_states: bool,
}

impl ClientOptions {
    /// Options with the defaults documented on each field.
    #[must_use]
    pub fn new(base_url: Url, token: Secret) -> Self {
        Self {
            base_url,
            token,
            verify_ssl: true,
            command_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(10),
            reconnect_initial: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            startup_poll: Duration::from_secs(1),
            subscriber_capacity: 1024,
            max_message_size: Some(64 << 20),
            track_states: true,
        }
    }
}

/// Where the connection stands now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Authenticated, subscriptions in place; commands are sent.
    Connected,
    /// Lost; the session is reconnecting. Commands fail with [`HaError::Disconnected`].
    Reconnecting,
    /// Home Assistant rejected the token during a reconnect. Final.
    AuthFailed,
    /// Shut down. Final.
    Closed,
}

/// Something that happened to the connection, for the runtime to react to.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The connection was lost; reconnecting.
    Disconnected {
        /// Why, in words.
        reason: String,
    },
    /// Connected again: Home Assistant is `RUNNING`, every subscription is restored and all
    /// states were read again.
    Reconnected {
        /// The entities whose state differs from before the disconnection: `old_state` is the
        /// last state seen before, `new_state` the state read after (`None` for an entity that
        /// was added or removed meanwhile).
        changed: Arc<[StateChanged]>,
    },
    /// The token was rejected during a reconnect; the client stopped for good.
    AuthFailed {
        /// Home Assistant's message.
        message: String,
    },
    /// The session shut down.
    Closed,
}

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
    subscriber_capacity: usize,
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
                subscriber_capacity: opts.subscriber_capacity.max(1),
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

    /// Connection events (disconnected, reconnected with the changed entities, auth failed,
    /// closed) from now on.
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
        let mut sub = self.subscribe::<TemplateRender>(cmd, 1).await?;
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
        self.subscribe(cmd, self.inner.subscriber_capacity).await
    }

    /// Subscribes to events of one type (`None`: every event; prefer a type, HA sends a lot).
    ///
    /// The subscription survives reconnects. Its queue holds
    /// [`ClientOptions::subscriber_capacity`] events; when full, new events are dropped,
    /// counted ([`Subscription::dropped`]) and logged, so a slow consumer never stalls others.
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
        self.subscribe(cmd, self.inner.subscriber_capacity).await
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
        self.subscribe(cmd, self.inner.subscriber_capacity).await
    }

    async fn subscribe<T>(&self, cmd: Command, capacity: usize) -> Result<Subscription<T>, HaError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.ensure_connected()?;
        let key = self.inner.next_sub_key.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let queued = Arc::new(AtomicU64::new(0));
        let sink: Box<dyn Sink> = Box::new(TypedSink {
            tx,
            dropped: dropped.clone(),
            queued: queued.clone(),
        });
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
        let sub = Subscription {
            rx,
            key,
            requests: self.inner.requests.clone(),
            dropped,
            queued,
            _kind: PhantomData,
        };
        // From here on, dropping `sub` (on an error or a timeout) cancels the subscription.
        match tokio::time::timeout(self.inner.command_timeout, reply_rx).await {
            Ok(Ok(Ok(()))) => Ok(sub),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(HaError::Disconnected),
            Err(_) => Err(HaError::Timeout(self.inner.command_timeout)),
        }
    }
}

/// A live subscription: a bounded queue of `T` fed by the session task.
///
/// Dropping it (or calling [`Subscription::unsubscribe`]) sends `unsubscribe_events`.
/// [`Subscription::recv`] returns `None` once the client has stopped for good (shutdown, or a
/// rejected token).
#[derive(Debug)]
pub struct Subscription<T> {
    rx: mpsc::Receiver<T>,
    key: u64,
    requests: mpsc::UnboundedSender<Request>,
    dropped: Arc<AtomicU64>,
    queued: Arc<AtomicU64>,
    _kind: PhantomData<fn() -> T>,
}

impl<T> Subscription<T> {
    /// The next item; `None` when the client has stopped for good.
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await
    }

    /// The next item if one is queued.
    pub fn try_recv(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// Whether nothing is queued right now.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// How many items were dropped because this subscription's queue was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A counter of the items queued so far (the session adds to it as it queues them):
    /// a reader that counts what it has handled is caught up when the two are equal.
    #[must_use]
    pub fn queued_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.queued)
    }

    /// Ends the subscription now (same as dropping it).
    pub fn unsubscribe(self) {}
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        // The session may be gone already; then there is nothing to unsubscribe from.
        let _ = self.requests.send(Request::Unsubscribe { key: self.key });
    }
}
