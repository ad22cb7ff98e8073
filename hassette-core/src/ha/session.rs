//! The one task that owns the socket (mini-redis style).
//!
//! It `select!`s over incoming frames, requests from [`super::Client`] handles, the heartbeat
//! and shutdown. It never awaits a consumer: events go to bounded queues with `try_send`.
//! On loss it reconnects with backoff, waits for `RUNNING`, restores every subscription,
//! re-reads all states and reports which entities changed meanwhile.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{ClientOptions, ConnectionEvent, ConnectionState};
use super::connection::Connection;
use super::error::HaError;
use super::protocol::{self, Command, ErrorInfo, Incoming};
use super::types::{Event, HaConfig, State, StateChanged};

/// What a [`super::Client`] asks of the session.
pub(crate) enum Request {
    Command {
        cmd: Command,
        reply: oneshot::Sender<Result<Box<RawValue>, HaError>>,
    },
    Subscribe {
        key: u64,
        cmd: Command,
        sink: Box<dyn Sink>,
        reply: oneshot::Sender<Result<(), HaError>>,
    },
    Unsubscribe {
        key: u64,
    },
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Command { cmd, .. } => write!(f, "Command({})", cmd.kind),
            Self::Subscribe { key, cmd, .. } => write!(f, "Subscribe({key}, {})", cmd.kind),
            Self::Unsubscribe { key } => write!(f, "Unsubscribe({key})"),
        }
    }
}

/// Where a subscription's events go.
pub(crate) trait Sink: Send + Sync {
    /// Decodes and queues one event without waiting.
    fn deliver(&mut self, raw: &RawValue) -> Delivery;
}

pub(crate) enum Delivery {
    Sent,
    Full,
    Closed,
    Undecodable(serde_json::Error),
}

/// A sink that decodes into `T` and `try_send`s into a bounded queue.
pub(crate) struct TypedSink<T> {
    pub(crate) tx: mpsc::Sender<T>,
    pub(crate) dropped: Arc<AtomicU64>,
    /// Items queued so far; a reader compares it with what it has handled to know it is
    /// caught up.
    pub(crate) queued: Arc<AtomicU64>,
}

impl<T: DeserializeOwned + Send> Sink for TypedSink<T> {
    fn deliver(&mut self, raw: &RawValue) -> Delivery {
        if self.tx.is_closed() {
            return Delivery::Closed;
        }
        let item = match serde_json::from_str::<T>(raw.get()) {
            Ok(item) => item,
            Err(e) => return Delivery::Undecodable(e),
        };
        match self.tx.try_send(item) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::Release);
                Delivery::Sent
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Delivery::Full
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Closed,
        }
    }
}

/// The key of the session's own `state_changed` subscription (client keys start at 1).
const MIRROR_KEY: u64 = 0;
/// At most one "queue full" warning per subscription in this interval.
const DROP_WARN_EVERY: Duration = Duration::from_secs(10);

enum SinkKind {
    User(Box<dyn Sink>),
    /// Feeds the state snapshot.
    Mirror,
}

struct SubEntry {
    cmd: Command,
    sink: SinkKind,
    /// The id of the subscribing command on the current connection.
    ha_id: Option<u64>,
    last_warn: Option<Instant>,
    dropped_since_warn: u64,
}

enum Pending {
    Command(oneshot::Sender<Result<Box<RawValue>, HaError>>),
    Subscribe {
        key: u64,
        reply: Option<oneshot::Sender<Result<(), HaError>>>,
    },
    Unsubscribe,
    Heartbeat,
}

enum Exit {
    Shutdown,
    Lost(String),
}

enum Step {
    Frame(Result<Option<tokio_tungstenite::tungstenite::Utf8Bytes>, HaError>),
    Request(Option<Request>),
    Beat,
    PongOverdue,
    Shutdown,
}

pub(crate) struct Session {
    opts: ClientOptions,
    requests: mpsc::UnboundedReceiver<Request>,
    state_tx: watch::Sender<ConnectionState>,
    events_tx: broadcast::Sender<ConnectionEvent>,
    cancel: CancellationToken,
    dropped_total: Arc<AtomicU64>,
    /// Ordered, so subscriptions are restored in the order they were made.
    subs: BTreeMap<u64, SubEntry>,
    /// Subscription id on this connection → subscription key.
    routes: HashMap<u64, u64>,
    pending: HashMap<u64, Pending>,
    /// All states, kept current by the mirror subscription; `None` while disconnected.
    mirror: Option<HashMap<String, State>>,
    /// The mirror as it was when the connection was lost.
    snapshot: Option<HashMap<String, State>>,
    pong_deadline: Option<(u64, Instant)>,
}

impl Session {
    pub(crate) fn new(
        opts: ClientOptions,
        requests: mpsc::UnboundedReceiver<Request>,
        state_tx: watch::Sender<ConnectionState>,
        events_tx: broadcast::Sender<ConnectionEvent>,
        cancel: CancellationToken,
        dropped_total: Arc<AtomicU64>,
    ) -> Self {
        let mut subs = BTreeMap::new();
        if opts.track_states {
            subs.insert(
                MIRROR_KEY,
                SubEntry {
                    cmd: Command::new("subscribe_events").with("event_type", "state_changed"),
                    sink: SinkKind::Mirror,
                    ha_id: None,
                    last_warn: None,
                    dropped_since_warn: 0,
                },
            );
        }
        Self {
            opts,
            requests,
            state_tx,
            events_tx,
            cancel,
            dropped_total,
            subs,
            routes: HashMap::new(),
            pending: HashMap::new(),
            mirror: None,
            snapshot: None,
            pong_deadline: None,
        }
    }

    /// Runs until shutdown or a final auth failure.
    pub(crate) async fn run(mut self, mut conn: Connection) {
        loop {
            match self.serve(&mut conn).await {
                Exit::Shutdown => {
                    conn.close().await;
                    self.finish(ConnectionState::Closed, ConnectionEvent::Closed);
                    return;
                }
                Exit::Lost(reason) => {
                    tracing::warn!(%reason, "lost the connection to Home Assistant");
                    self.on_lost(reason);
                }
            }
            drop(conn);
            match self.reconnect().await {
                Some(c) => conn = c,
                None => return,
            }
        }
    }

    async fn serve(&mut self, conn: &mut Connection) -> Exit {
        let period = self.opts.heartbeat_interval;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.pong_deadline = None;
        loop {
            let deadline = self.pong_deadline.map(|(_, d)| d);
            let step = tokio::select! {
                biased;
                () = self.cancel.cancelled() => Step::Shutdown,
                () = sleep_until_opt(deadline), if deadline.is_some() => Step::PongOverdue,
                frame = conn.read_text() => Step::Frame(frame),
                req = self.requests.recv() => Step::Request(req),
                _ = heartbeat.tick() => Step::Beat,
            };
            let out = match step {
                Step::Shutdown | Step::Request(None) => return Exit::Shutdown,
                Step::PongOverdue => {
                    return Exit::Lost(format!(
                        "no pong within {:?}: the connection is dead",
                        self.opts.heartbeat_timeout
                    ));
                }
                Step::Frame(Ok(Some(text))) => {
                    if let Err(e) = self.handle_frame(&text) {
                        return Exit::Lost(format!("malformed frame: {e}"));
                    }
                    continue;
                }
                Step::Frame(Ok(None)) => return Exit::Lost("closed by Home Assistant".into()),
                Step::Frame(Err(e)) => return Exit::Lost(error_chain(&e)),
                Step::Request(Some(req)) => match self.accept_request(req, conn) {
                    Some(text) => text,
                    None => continue,
                },
                Step::Beat => {
                    let id = conn.next_id();
                    self.pending.insert(id, Pending::Heartbeat);
                    if self.pong_deadline.is_none() {
                        self.pong_deadline =
                            Some((id, Instant::now() + self.opts.heartbeat_timeout));
                    }
                    Command::new("ping").to_text(id)
                }
            };
            if let Err(e) = self.send(conn, out).await {
                return Exit::Lost(error_chain(&e));
            }
        }
    }

    /// Sends one frame; a peer that does not take it within the heartbeat timeout is dead.
    async fn send(&self, conn: &mut Connection, text: String) -> Result<(), HaError> {
        tracing::debug!(frame = %text, "ha send");
        tokio::time::timeout(self.opts.heartbeat_timeout, conn.send_text(text))
            .await
            .map_err(|_| HaError::Timeout(self.opts.heartbeat_timeout))?
    }

    /// Registers a request under a fresh id; returns the frame to send, if any.
    fn accept_request(&mut self, req: Request, conn: &mut Connection) -> Option<String> {
        match req {
            Request::Command { cmd, reply } => {
                let id = conn.next_id();
                self.pending.insert(id, Pending::Command(reply));
                Some(cmd.to_text(id))
            }
            Request::Subscribe {
                key,
                cmd,
                sink,
                reply,
            } => {
                let id = conn.next_id();
                let text = cmd.to_text(id);
                self.subs.insert(
                    key,
                    SubEntry {
                        cmd,
                        sink: SinkKind::User(sink),
                        ha_id: Some(id),
                        last_warn: None,
                        dropped_since_warn: 0,
                    },
                );
                self.routes.insert(id, key);
                self.pending.insert(
                    id,
                    Pending::Subscribe {
                        key,
                        reply: Some(reply),
                    },
                );
                Some(text)
            }
            Request::Unsubscribe { key } => {
                let ha_id = self.subs.remove(&key)?.ha_id?;
                self.routes.remove(&ha_id);
                let id = conn.next_id();
                self.pending.insert(id, Pending::Unsubscribe);
                Some(
                    Command::new("unsubscribe_events")
                        .with("subscription", ha_id)
                        .to_text(id),
                )
            }
        }
    }

    /// Handles a request while there is no connection: commands fail fast.
    fn refuse_request(&mut self, req: Request) {
        match req {
            Request::Command { reply, .. } => {
                let _ = reply.send(Err(HaError::Disconnected));
            }
            Request::Subscribe { reply, .. } => {
                let _ = reply.send(Err(HaError::Disconnected));
            }
            Request::Unsubscribe { key } => {
                self.subs.remove(&key);
            }
        }
    }

    fn handle_frame(&mut self, text: &str) -> Result<(), String> {
        tracing::trace!(frame = %truncate(text, 2000), "ha recv");
        protocol::parse_frame(text, |msg| self.dispatch(msg))
    }

    fn dispatch(&mut self, msg: Incoming<'_>) {
        match msg {
            Incoming::Result { id, outcome } => self.on_result(id, outcome),
            Incoming::Pong { id } => match self.pending.remove(&id) {
                Some(Pending::Heartbeat) => {
                    if self.pong_deadline.is_some_and(|(pid, _)| pid <= id) {
                        self.pong_deadline = None;
                    }
                }
                Some(Pending::Command(tx)) => {
                    let _ = tx.send(Ok(null_raw()));
                }
                _ => tracing::debug!(id, "pong for an unknown id"),
            },
            Incoming::Event { id, event } => self.on_event(id, event),
            Incoming::Unknown { kind } => {
                // Forward compatibility: a newer HA may send message types we do not know.
                tracing::debug!(%kind, "ignoring a message of unknown type");
            }
            Incoming::AuthRequired | Incoming::AuthOk { .. } | Incoming::AuthInvalid { .. } => {
                tracing::debug!("ignoring an auth message after authentication");
            }
        }
    }

    fn on_result(&mut self, id: u64, outcome: Result<Option<&RawValue>, ErrorInfo>) {
        let outcome = outcome
            .map(|r| r.map_or_else(null_raw, RawValue::to_owned))
            .map_err(|e| HaError::Command {
                code: e.code,
                message: e.message,
                translation_key: e.translation_key,
            });
        match self.pending.remove(&id) {
            Some(Pending::Command(tx)) => {
                let _ = tx.send(outcome);
            }
            Some(Pending::Subscribe { key, reply }) => {
                let failed = outcome.is_err();
                if failed {
                    self.routes.remove(&id);
                    // Dropping the entry closes the subscriber's queue.
                    self.subs.remove(&key);
                }
                match reply {
                    Some(tx) => {
                        let _ = tx.send(outcome.map(drop));
                    }
                    None if failed => tracing::warn!(
                        key,
                        error = %outcome.err().map(|e| e.to_string()).unwrap_or_default(),
                        "Home Assistant refused to restore a subscription; it is closed"
                    ),
                    None => {}
                }
            }
            Some(Pending::Unsubscribe | Pending::Heartbeat) => {}
            None => tracing::debug!(id, "result for an unknown id"),
        }
    }

    fn on_event(&mut self, id: u64, raw: &RawValue) {
        let Some(&key) = self.routes.get(&id) else {
            tracing::debug!(id, "event for an unknown subscription");
            return;
        };
        let Some(entry) = self.subs.get_mut(&key) else {
            return;
        };
        let delivery = match &mut entry.sink {
            SinkKind::Mirror => {
                apply_to_mirror(self.mirror.as_mut(), raw);
                return;
            }
            SinkKind::User(sink) => sink.deliver(raw),
        };
        match delivery {
            Delivery::Sent => {}
            Delivery::Full => {
                self.dropped_total.fetch_add(1, Ordering::Relaxed);
                entry.dropped_since_warn += 1;
                let now = Instant::now();
                if entry
                    .last_warn
                    .is_none_or(|t| now.duration_since(t) >= DROP_WARN_EVERY)
                {
                    tracing::warn!(
                        subscription = key,
                        dropped = entry.dropped_since_warn,
                        "a subscriber is not keeping up: its queue is full, events dropped"
                    );
                    entry.last_warn = Some(now);
                    entry.dropped_since_warn = 0;
                }
            }
            Delivery::Undecodable(e) => {
                tracing::warn!(subscription = key, error = %e, "dropping an undecodable event");
            }
            Delivery::Closed => {
                // The receiver is gone; its Drop has queued an Unsubscribe as well.
                tracing::debug!(subscription = key, "subscriber gone");
            }
        }
    }

    fn on_lost(&mut self, reason: String) {
        for (_, p) in self.pending.drain() {
            match p {
                Pending::Command(tx) => {
                    let _ = tx.send(Err(HaError::Disconnected));
                }
                Pending::Subscribe { key, reply } => {
                    if let Some(tx) = reply {
                        // Never confirmed: the caller gets an error, so forget it.
                        self.subs.remove(&key);
                        let _ = tx.send(Err(HaError::Disconnected));
                    }
                }
                Pending::Unsubscribe | Pending::Heartbeat => {}
            }
        }
        self.routes.clear();
        for entry in self.subs.values_mut() {
            entry.ha_id = None;
        }
        if self.snapshot.is_none() {
            self.snapshot = self.mirror.take();
        }
        self.mirror = None;
        let _ = self.state_tx.send(ConnectionState::Reconnecting);
        let _ = self
            .events_tx
            .send(ConnectionEvent::Disconnected { reason });
    }

    fn finish(&mut self, state: ConnectionState, event: ConnectionEvent) {
        while let Ok(req) = self.requests.try_recv() {
            self.refuse_request(req);
        }
        self.on_lost_quietly();
        // Dropping the sinks ends every subscriber's `recv` with `None`.
        self.subs.clear();
        let _ = self.state_tx.send(state);
        let _ = self.events_tx.send(event);
    }

    fn on_lost_quietly(&mut self) {
        for (_, p) in self.pending.drain() {
            match p {
                Pending::Command(tx) => {
                    let _ = tx.send(Err(HaError::Disconnected));
                }
                Pending::Subscribe {
                    reply: Some(tx), ..
                } => {
                    let _ = tx.send(Err(HaError::Disconnected));
                }
                _ => {}
            }
        }
    }

    /// Reconnects with backoff. `None` when it must stop (shutdown, token rejected).
    async fn reconnect(&mut self) -> Option<Connection> {
        let mut backoff = Backoff::new(self.opts.reconnect_initial, self.opts.reconnect_max);
        let mut attempt: u32 = 0;
        let mut delay = backoff.next_delay();
        tracing::warn!(next_attempt_in = ?delay, "reconnecting to Home Assistant");
        loop {
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = self.cancel.cancelled() => {
                        self.finish(ConnectionState::Closed, ConnectionEvent::Closed);
                        return None;
                    }
                    () = &mut sleep => break,
                    req = self.requests.recv() => match req {
                        Some(req) => self.refuse_request(req),
                        None => {
                            self.finish(ConnectionState::Closed, ConnectionEvent::Closed);
                            return None;
                        }
                    },
                }
            }
            attempt += 1;
            let cancel = self.cancel.clone();
            let result = tokio::select! {
                () = cancel.cancelled() => {
                    self.finish(ConnectionState::Closed, ConnectionEvent::Closed);
                    return None;
                }
                r = self.open_and_setup() => r,
            };
            match result {
                Ok((conn, changed)) => {
                    tracing::info!(
                        attempt,
                        changed = changed.len(),
                        "reconnected to Home Assistant"
                    );
                    let _ = self.state_tx.send(ConnectionState::Connected);
                    let _ = self.events_tx.send(ConnectionEvent::Reconnected {
                        changed: changed.into(),
                    });
                    return Some(conn);
                }
                Err(HaError::AuthInvalid { message }) => {
                    tracing::error!(
                        %message,
                        "the access token was rejected by Home Assistant; not retrying (retries \
                         would get this address banned). Fix the token and restart"
                    );
                    self.finish(
                        ConnectionState::AuthFailed,
                        ConnectionEvent::AuthFailed { message },
                    );
                    return None;
                }
                Err(e) => {
                    self.on_lost_quietly();
                    self.routes.clear();
                    self.mirror = None;
                    delay = backoff.next_delay();
                    tracing::warn!(
                        attempt,
                        error = %error_chain(&e),
                        next_attempt_in = ?delay,
                        "reconnecting to Home Assistant failed"
                    );
                }
            }
        }
    }

    async fn open_and_setup(&mut self) -> Result<(Connection, Vec<StateChanged>), HaError> {
        let mut conn = Connection::open(&self.opts).await?;
        let changed = self.setup(&mut conn).await?;
        Ok((conn, changed))
    }

    /// After authenticating: wait for `RUNNING`, (re)subscribe, read all states. Returns the
    /// entities that changed since the connection was lost.
    pub(crate) async fn setup(
        &mut self,
        conn: &mut Connection,
    ) -> Result<Vec<StateChanged>, HaError> {
        loop {
            let raw = self.call(conn, &Command::new("get_config")).await?;
            let config: HaConfig = serde_json::from_str(raw.get()).map_err(HaError::Decode)?;
            if config.is_running() {
                break;
            }
            tracing::info!(state = %config.state, "waiting for Home Assistant to finish starting");
            tokio::select! {
                () = self.cancel.cancelled() => return Err(HaError::Disconnected),
                () = tokio::time::sleep(self.opts.startup_poll) => {}
            }
        }
        let keys: Vec<u64> = self.subs.keys().copied().collect();
        for key in keys {
            let Some(entry) = self.subs.get_mut(&key) else {
                continue;
            };
            let id = conn.next_id();
            entry.ha_id = Some(id);
            let text = entry.cmd.to_text(id);
            self.routes.insert(id, key);
            self.pending
                .insert(id, Pending::Subscribe { key, reply: None });
            self.send(conn, text).await?;
        }
        if !self.opts.track_states {
            // The owner keeps its own view of the states and reads them itself.
            return Ok(Vec::new());
        }
        let raw = self.call(conn, &Command::new("get_states")).await?;
        let states: Vec<State> = serde_json::from_str(raw.get()).map_err(HaError::Decode)?;
        let fresh: HashMap<String, State> = states
            .into_iter()
            .map(|s| (s.entity_id.clone(), s))
            .collect();
        let changed = match self.snapshot.take() {
            Some(old) => diff_states(&old, &fresh),
            None => Vec::new(),
        };
        if self.opts.track_states {
            self.mirror = Some(fresh);
        }
        Ok(changed)
    }

    /// One command during setup: send it and read frames (dispatching everything else) until
    /// its result arrives.
    async fn call(
        &mut self,
        conn: &mut Connection,
        cmd: &Command,
    ) -> Result<Box<RawValue>, HaError> {
        let (tx, mut rx) = oneshot::channel();
        let id = conn.next_id();
        self.pending.insert(id, Pending::Command(tx));
        self.send(conn, cmd.to_text(id)).await?;
        let deadline = Instant::now() + self.opts.command_timeout;
        loop {
            match rx.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => return Err(HaError::Disconnected),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let frame = tokio::select! {
                () = self.cancel.cancelled() => return Err(HaError::Disconnected),
                f = tokio::time::timeout_at(deadline, conn.read_text()) => f,
            };
            match frame {
                Err(_) => return Err(HaError::Timeout(self.opts.command_timeout)),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(None)) => return Err(HaError::Disconnected),
                Ok(Ok(Some(text))) => self.handle_frame(&text).map_err(HaError::Protocol)?,
            }
        }
    }
}

fn apply_to_mirror(mirror: Option<&mut HashMap<String, State>>, raw: &RawValue) {
    let Some(mirror) = mirror else { return };
    match serde_json::from_str::<Event>(raw.get()) {
        Ok(event) => {
            if let Some(change) = event.state_changed() {
                match &change.new_state {
                    Some(state) => {
                        mirror.insert(change.entity_id.clone(), state.clone());
                    }
                    None => {
                        mirror.remove(&change.entity_id);
                    }
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "undecodable state_changed event"),
    }
}

/// The entities whose state differs between two snapshots, sorted by entity id.
pub(crate) fn diff_states<O: Borrow<State>, N: Borrow<State>>(
    old: &HashMap<String, O>,
    new: &HashMap<String, N>,
) -> Vec<StateChanged> {
    let mut out: Vec<StateChanged> = new
        .iter()
        .filter(|(id, s)| old.get(*id).map(Borrow::borrow) != Some((*s).borrow()))
        .map(|(id, s)| StateChanged {
            entity_id: id.clone(),
            old_state: old.get(id).map(|o| o.borrow().clone()),
            new_state: Some(s.borrow().clone()),
        })
        .collect();
    out.extend(
        old.iter()
            .filter(|(id, _)| !new.contains_key(*id))
            .map(|(id, s)| StateChanged {
                entity_id: id.clone(),
                old_state: Some(s.borrow().clone()),
                new_state: None,
            }),
    );
    out.sort_by(|a, b| a.entity_id.cmp(&b.entity_id));
    out
}

/// Exponential backoff with ±20 % jitter, so that many clients do not reconnect in lockstep.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            next: initial.max(Duration::from_millis(1)),
            max: max.max(initial),
        }
    }

    /// The delay before the next attempt; each call doubles the base, up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        base.mul_f64(0.8 + 0.4 * fastrand::f64()).min(self.max)
    }
}

fn null_raw() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable_null())
}

#[cold]
fn unreachable_null() -> Box<RawValue> {
    // "null" is always valid JSON; this only satisfies the no-unwrap rule.
    serde_json::value::to_raw_value(&Value::Null).unwrap_or_default()
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<f64> = (0..10).map(|_| b.next_delay().as_secs_f64()).collect();
        let bases = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 60.0];
        for (d, base) in delays.iter().zip(bases) {
            assert!(
                *d >= base * 0.8 - 1e-9 && *d <= (base * 1.2).min(60.0) + 1e-9,
                "{d} vs {base}"
            );
        }
    }

    fn st(id: &str, state: &str) -> State {
        serde_json::from_value(serde_json::json!({
            "entity_id": id, "state": state, "attributes": {},
            "last_changed": "2026-01-01T00:00:00+00:00",
            "last_updated": "2026-01-01T00:00:00+00:00",
            "context": {"id": "x"}
        }))
        .unwrap()
    }

    #[test]
    fn diff_reports_changed_added_and_removed() {
        let old: HashMap<_, _> = [st("a.x", "on"), st("a.same", "1"), st("a.gone", "off")]
            .into_iter()
            .map(|s| (s.entity_id.clone(), s))
            .collect();
        let new: HashMap<_, _> = [st("a.x", "off"), st("a.same", "1"), st("a.new", "on")]
            .into_iter()
            .map(|s| (s.entity_id.clone(), s))
            .collect();
        let d = diff_states(&old, &new);
        let ids: Vec<_> = d.iter().map(|c| c.entity_id.as_str()).collect();
        assert_eq!(ids, ["a.gone", "a.new", "a.x"]);
        assert!(d[0].new_state.is_none());
        assert!(d[1].old_state.is_none());
        assert_eq!(d[2].new_state.as_ref().unwrap().state, "off");
    }
}
