//! A faithful fake Home Assistant: a real websocket server on `127.0.0.1`, stateful, built
//! from the real protocol transcripts.
//!
//! It speaks the auth exchange (a wrong token gets `auth_invalid` and a close), coalesced
//! array frames (switchable), `get_config`, `get_states`, `get_services`, `subscribe_events`
//! (per type and all), `unsubscribe_events`, `subscribe_trigger` (state triggers),
//! `subscribe_entities`, `fire_event`, `render_template` (a tiny subset), `ping`, and the
//! errors `id_reuse`, `unknown_command`, `invalid_format`, `not_found` with HA's messages.
//! `call_service` is recorded and implements `turn_on`/`turn_off`/`toggle` for light, switch,
//! input_boolean and fan, `set_value` for input_number and input_text, and
//! `homeassistant.turn_on/off/toggle`; its `state_changed` events go out before its result,
//! as in real Home Assistant.
//!
//! # Examples
//!
//! ```
//! use hassette_core::ha::Client;
//! use hassette_core::testing::FakeHomeAssistant;
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fake = FakeHomeAssistant::start().await?;
//! let (client, _session) = Client::connect(fake.client_options(), CancellationToken::new()).await?;
//! client
//!     .call_service("light", "turn_on", None, Some(serde_json::json!({"entity_id": "light.porch"})), false)
//!     .await?;
//! assert_eq!(fake.state("light.porch").unwrap().state, "on");
//! assert_eq!(fake.service_calls()[0].service, "turn_on");
//! # Ok(()) }
//! ```

mod demo;
mod records;
mod rest;
mod server;
mod world;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::{CancellationToken, DropGuard};
use url::Url;

pub use world::ServiceCall;

use crate::clock::Clock;
use crate::config::Secret;
use crate::ha::{ClientOptions, State};
use world::{BusEvent, World};

/// Options for [`FakeHomeAssistant::start_with`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FakeOptions {
    /// The version reported in `auth_required`/`auth_ok`/`get_config` (default `2025.4.4`).
    /// Before `2024.4`, states carry no `last_reported`, as in real Home Assistant.
    pub ha_version: String,
    /// The token the fake accepts.
    pub token: Secret,
    /// `get_config`'s `time_zone` (default `Europe/Amsterdam`).
    pub time_zone: String,
    /// The initial states (default: the demo house).
    pub states: Vec<State>,
    /// Send several messages as one JSON-array frame when the client enabled
    /// `coalesce_messages` (default `true`).
    pub coalesce: bool,
    /// The clock state changes are stamped with (`last_changed`, `last_updated`); default
    /// the system's. The app harness shares its manual clock.
    pub clock: Clock,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            ha_version: "2025.4.4".into(),
            token: Secret::new(format!("fake-token-{:016x}", fastrand::u64(..))),
            time_zone: "Europe/Amsterdam".into(),
            states: demo::states(),
            coalesce: true,
            clock: Clock::system(),
        }
    }
}

/// What goes over the fake's internal bus to every connection.
#[derive(Clone, Debug)]
pub(crate) enum Bus {
    Event(Arc<BusEvent>),
    DropAll,
    Raw(Arc<str>),
    WsPing,
}

pub(crate) struct Shared {
    world: Mutex<World>,
    bus: broadcast::Sender<Bus>,
    /// `false` while the fake is "down" (connections refused).
    up: watch::Sender<bool>,
    port: u16,
    token: Mutex<Secret>,
    /// The `type` of every command received after authentication, in order.
    commands: Mutex<Vec<String>>,
    /// The `event_type` of every `subscribe_events` (`*` for all), in order.
    event_subscriptions: Mutex<Vec<String>>,
    cancel: CancellationToken,
    connections: AtomicUsize,
    auth_attempts: AtomicUsize,
    ws_pongs: AtomicUsize,
    silent: AtomicBool,
    coalesce: AtomicBool,
    slow_reader: Mutex<Option<Duration>>,
}

impl Shared {
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn publish(&self, ev: BusEvent) {
        // No receivers (no client connected) is fine: the event is simply not seen.
        let _ = self.bus.send(Bus::Event(Arc::new(ev)));
    }
}

/// The control handle of a running fake Home Assistant. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeHomeAssistant {
    shared: Arc<Shared>,
    _stop: DropGuard,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl FakeHomeAssistant {
    /// Starts a fake with the demo house (static: nothing moves on its own).
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(FakeOptions::default()).await
    }

    /// Starts a fake with the given options on `127.0.0.1` and a free port.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start_with(opts: FakeOptions) -> std::io::Result<Self> {
        let listener = server::bind(0)?;
        let port = listener.local_addr()?.port();
        let mut world = World::new(&opts.ha_version, &opts.time_zone, opts.states);
        world.clock = opts.clock;
        if !world.reports_last_reported() {
            for s in world.states.values_mut() {
                s.last_reported = None;
            }
        }
        let cancel = CancellationToken::new();
        let (bus, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            bus,
            up: watch::Sender::new(true),
            port,
            token: Mutex::new(opts.token),
            commands: Mutex::new(Vec::new()),
            event_subscriptions: Mutex::new(Vec::new()),
            cancel: cancel.clone(),
            connections: AtomicUsize::new(0),
            auth_attempts: AtomicUsize::new(0),
            ws_pongs: AtomicUsize::new(0),
            silent: AtomicBool::new(false),
            coalesce: AtomicBool::new(opts.coalesce),
            slow_reader: Mutex::new(None),
        });
        tokio::spawn(server::accept_loop(shared.clone(), Some(listener)));
        Ok(Self {
            shared,
            _stop: cancel.drop_guard(),
        })
    }

    /// Starts the demo scenario: the demo house, with a motion sensor that trips every few
    /// seconds, a door that opens now and then and a drifting temperature sensor.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn demo() -> std::io::Result<Self> {
        let fake = Self::start().await?;
        tokio::spawn(demo::drive(fake.shared.clone()));
        Ok(fake)
    }

    /// The base URL to configure, `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn base_url(&self) -> Url {
        let text = format!("http://127.0.0.1:{}", self.shared.port);
        Url::parse(&text).unwrap_or_else(|_| unreachable!("a loopback URL always parses"))
    }

    /// The websocket URL, `ws://127.0.0.1:PORT/api/websocket`.
    #[must_use]
    pub fn url(&self) -> Url {
        let text = format!("ws://127.0.0.1:{}/api/websocket", self.shared.port);
        Url::parse(&text).unwrap_or_else(|_| unreachable!("a loopback URL always parses"))
    }

    /// The token the fake accepts.
    #[must_use]
    pub fn token(&self) -> Secret {
        self.shared
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes the accepted token (as when the user revokes the old one); connected clients
    /// stay connected until they reconnect.
    pub fn set_token(&self, token: Secret) {
        *self
            .shared
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = token;
    }

    /// The `event_type` of every `subscribe_events` received (`*` for all types), in order,
    /// over all connections.
    #[must_use]
    pub fn event_subscriptions(&self) -> Vec<String> {
        self.shared
            .event_subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The `type` of every command received after authentication, in order, over all
    /// connections (e.g. to check that a reconnecting client read `get_states` again).
    #[must_use]
    pub fn received_commands(&self) -> Vec<String> {
        self.shared
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Client options for this fake, with short timeouts and reconnect delays suited to tests.
    #[must_use]
    pub fn client_options(&self) -> ClientOptions {
        let mut opts = ClientOptions::new(self.base_url(), self.token());
        opts.reconnect_initial = Duration::from_millis(50);
        opts.reconnect_max = Duration::from_millis(500);
        opts.startup_poll = Duration::from_millis(50);
        opts
    }

    /// Sets an entity's state (and attributes, when given as an object), sending
    /// `state_changed` to subscribers if anything changed.
    pub fn set_state(&self, entity_id: &str, state: &str, attributes: Option<Value>) {
        let attributes = attributes.and_then(|a| match a {
            Value::Object(m) => Some(m),
            _ => None,
        });
        let mut world = self.shared.world();
        if let Some(change) = world.set_state(entity_id, state, attributes, None) {
            self.shared.publish(world::state_changed_event(change));
        }
    }

    /// Adds an area to the area registry (`config/area_registry/list`), or renames it. The
    /// demo house has `living_room`, `kitchen` and `bedroom`, as real Home Assistant's demo.
    pub fn add_area(&self, area_id: &str, name: &str) {
        self.shared.world().records.add_area(area_id, name);
    }

    /// Adds a device to the device registry, in an area or none.
    pub fn add_device(&self, device_id: &str, name: &str, area_id: Option<&str>) {
        self.shared
            .world()
            .records
            .add_device(device_id, name, area_id);
    }

    /// Adds a label to the label registry.
    pub fn add_label(&self, label_id: &str, name: &str) {
        self.shared.world().records.add_label(label_id, name);
    }

    /// Sets an entity registry entry's area, device and labels (`None` leaves one as is).
    pub fn set_entity_registry(
        &self,
        entity_id: &str,
        area_id: Option<&str>,
        device_id: Option<&str>,
        labels: Option<&[&str]>,
    ) {
        let mut world = self.shared.world();
        let entry = world.records.ensure_entity(entity_id);
        if let Some(area) = area_id {
            entry["area_id"] = area.into();
        }
        if let Some(device) = device_id {
            entry["device_id"] = device.into();
        }
        if let Some(labels) = labels {
            entry["labels"] = labels.iter().map(|l| Value::from(*l)).collect();
        }
    }

    /// Makes `service` (`"weather.get_forecasts"`) a service that answers with `response`
    /// when called with `return_response` (other services refuse `return_response`, as in
    /// Home Assistant).
    pub fn set_service_response(&self, service: &str, response: Value) {
        self.shared
            .world()
            .records
            .responses
            .insert(service.to_owned(), response);
    }

    /// Removes an entity, sending `state_changed` with `new_state: null`.
    pub fn remove_entity(&self, entity_id: &str) {
        let mut world = self.shared.world();
        if let Some(change) = world.remove_state(entity_id) {
            self.shared.publish(world::state_changed_event(change));
        }
    }

    /// Replaces every state without sending events (as if set while nobody was connected).
    pub fn replace_states(&self, states: Vec<State>) {
        self.shared.world().states = states
            .into_iter()
            .map(|s| (s.entity_id.clone(), s))
            .collect();
    }

    /// One entity's state.
    #[must_use]
    pub fn state(&self, entity_id: &str) -> Option<State> {
        self.shared.world().states.get(entity_id).cloned()
    }

    /// Every state, sorted by entity id.
    #[must_use]
    pub fn states(&self) -> Vec<State> {
        self.shared.world().states.values().cloned().collect()
    }

    /// Fires an arbitrary event to every matching subscription.
    pub fn fire_event(&self, event_type: &str, data: Value) {
        let ctx = self.shared.world().context(None);
        self.shared
            .publish(world::custom_event(event_type, &data, &ctx));
    }

    /// Every `call_service` received so far, in order (unknown services included).
    #[must_use]
    pub fn service_calls(&self) -> Vec<ServiceCall> {
        self.shared.world().calls.clone()
    }

    /// Drops every client connection at once, without a websocket Close (like a network cut).
    pub fn drop_connections(&self) {
        let _ = self.shared.bus.send(Bus::DropAll);
    }

    /// Goes down: drops every connection and refuses new ones until [`Self::come_up`].
    pub fn go_down(&self) {
        self.shared.up.send_replace(false);
        self.drop_connections();
    }

    /// Accepts connections again after [`Self::go_down`].
    pub fn come_up(&self) {
        self.shared.up.send_replace(true);
    }

    /// Simulates a Home Assistant restart: down for `down_for`, then up with `get_config`
    /// reporting `STARTING` for `starting_for`, then `RUNNING`.
    pub fn restart(&self, down_for: Duration, starting_for: Duration) {
        self.go_down();
        self.set_core_state("STARTING");
        let shared = self.shared.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shared.cancel.cancelled() => return,
                () = tokio::time::sleep(down_for) => {}
            }
            shared.up.send_replace(true);
            tokio::select! {
                () = shared.cancel.cancelled() => {}
                () = tokio::time::sleep(starting_for) => {
                    shared.world().core_state = "RUNNING".into();
                }
            }
        });
    }

    /// Sets `get_config`'s `state` (`STARTING`, `RUNNING`, ...).
    pub fn set_core_state(&self, state: &str) {
        self.shared.world().core_state = state.into();
    }

    /// Sets `get_config`'s `time_zone`.
    pub fn set_time_zone(&self, tz: &str) {
        self.shared.world().time_zone = tz.into();
    }

    /// Switches coalesced (JSON-array) frames on or off.
    pub fn set_coalesce(&self, on: bool) {
        self.shared.coalesce.store(on, Ordering::Relaxed);
    }

    /// Sends a raw text frame (malformed JSON, wrong types, huge frames) to every connection.
    pub fn send_raw(&self, text: impl Into<String>) {
        let _ = self.shared.bus.send(Bus::Raw(text.into().into()));
    }

    /// Sends a websocket-protocol Ping (not the JSON `ping`) to every connection, as aiohttp's
    /// heartbeat in Home Assistant does; see [`Self::ws_pongs`].
    pub fn send_ws_ping(&self) {
        let _ = self.shared.bus.send(Bus::WsPing);
    }

    /// How many websocket-protocol Pongs the fake has received.
    #[must_use]
    pub fn ws_pongs(&self) -> usize {
        self.shared.ws_pongs.load(Ordering::Relaxed)
    }

    /// Goes silent: keeps connections open but answers nothing, not even `ping`.
    pub fn set_silent(&self, silent: bool) {
        self.shared.silent.store(silent, Ordering::Relaxed);
    }

    /// Reads each client frame only after `delay` (a slow reader), or at full speed (`None`).
    pub fn set_slow_reader(&self, delay: Option<Duration>) {
        *self
            .shared
            .slow_reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = delay;
    }

    /// How many `auth` messages the fake has received.
    #[must_use]
    pub fn auth_attempts(&self) -> usize {
        self.shared.auth_attempts.load(Ordering::Relaxed)
    }

    /// How many websocket connections the fake has accepted.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }
}
