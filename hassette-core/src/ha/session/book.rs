//! The session's bookkeeping, apart from its I/O: which command ids wait for what, which
//! subscriptions exist and under which id they run on the current connection.
//!
//! Nothing here touches the socket: methods take ids and return the frames to send, so the
//! I/O loop in [`super`] stays a plain `select!`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::ha::error::HaError;
use crate::ha::protocol::{self, Command, ErrorInfo, Incoming};
use crate::ha::subscription::{Delivery, Request, Sink};

/// At most one "queue full" warning per subscription in this interval.
const DROP_WARN_EVERY: Duration = Duration::from_secs(10);

/// A command's reply channel.
pub(super) type Reply = oneshot::Sender<Result<Box<RawValue>, HaError>>;

struct SubEntry {
    cmd: Command,
    sink: Box<dyn Sink>,
    /// The id of the subscribing command on the current connection.
    ha_id: Option<u64>,
    last_warn: Option<Instant>,
    dropped_since_warn: u64,
}

enum Pending {
    Command(Reply),
    Subscribe {
        key: u64,
        reply: Option<oneshot::Sender<Result<(), HaError>>>,
    },
    Unsubscribe,
    Heartbeat,
}

/// Commands in flight and subscriptions, for one session across its connections.
pub(super) struct Book {
    /// Ordered, so subscriptions are restored in the order they were made.
    subs: BTreeMap<u64, SubEntry>,
    /// Subscription id on this connection → subscription key.
    routes: HashMap<u64, u64>,
    pending: HashMap<u64, Pending>,
    dropped_total: Arc<AtomicU64>,
    /// The highest heartbeat id answered since the last [`Book::take_pong`].
    pong: Option<u64>,
}

impl Book {
    pub(super) fn new(dropped_total: Arc<AtomicU64>) -> Self {
        Self {
            subs: BTreeMap::new(),
            routes: HashMap::new(),
            pending: HashMap::new(),
            dropped_total,
            pong: None,
        }
    }

    /// Registers a command sent under `id`.
    pub(super) fn command(&mut self, id: u64, reply: Reply) {
        self.pending.insert(id, Pending::Command(reply));
    }

    /// Registers a heartbeat `ping` sent under `id`.
    pub(super) fn heartbeat(&mut self, id: u64) {
        self.pending.insert(id, Pending::Heartbeat);
    }

    /// The highest heartbeat id answered since the last call.
    pub(super) fn take_pong(&mut self) -> Option<u64> {
        self.pong.take()
    }

    /// Registers a request under a fresh id from `next_id`; returns the frame to send, if any.
    pub(super) fn accept(&mut self, req: Request, next_id: impl FnOnce() -> u64) -> Option<String> {
        match req {
            Request::Command { cmd, reply } => {
                let id = next_id();
                self.command(id, reply);
                Some(cmd.to_text(id))
            }
            Request::Subscribe {
                key,
                cmd,
                sink,
                reply,
            } => {
                let id = next_id();
                let text = cmd.to_text(id);
                self.subs.insert(
                    key,
                    SubEntry {
                        cmd,
                        sink,
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
                let id = next_id();
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
    pub(super) fn refuse(&mut self, req: Request) {
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

    /// The subscribing commands to send on a new connection, each under an id from `next_id`.
    pub(super) fn restore(&mut self, mut next_id: impl FnMut() -> u64) -> Vec<String> {
        let mut frames = Vec::with_capacity(self.subs.len());
        for (&key, entry) in &mut self.subs {
            let id = next_id();
            entry.ha_id = Some(id);
            self.routes.insert(id, key);
            self.pending
                .insert(id, Pending::Subscribe { key, reply: None });
            frames.push(entry.cmd.to_text(id));
        }
        frames
    }

    /// Handles one incoming text frame.
    pub(super) fn on_frame(&mut self, text: &str) -> Result<(), String> {
        tracing::trace!(frame = %truncate(text, 2000), "ha recv");
        protocol::parse_frame(text, |msg| self.dispatch(msg))
    }

    fn dispatch(&mut self, msg: Incoming<'_>) {
        match msg {
            Incoming::Result { id, outcome } => self.on_result(id, outcome),
            Incoming::Pong { id } => match self.pending.remove(&id) {
                Some(Pending::Heartbeat) => self.pong = self.pong.max(Some(id)),
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
        match entry.sink.deliver(raw) {
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
                        "a subscriber is not keeping up: its queue is over its budget, events dropped"
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

    /// The connection is gone: every command in flight fails, subscriptions wait for the next.
    pub(super) fn lose(&mut self) {
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
        self.pong = None;
        for entry in self.subs.values_mut() {
            entry.ha_id = None;
        }
    }

    /// The session ends: as [`Book::lose`], and every subscription is dropped, which ends
    /// each subscriber's `recv` with `None`.
    pub(super) fn close(&mut self) {
        self.lose();
        self.subs.clear();
    }
}

pub(super) fn null_raw() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable_null())
}

#[cold]
fn unreachable_null() -> Box<RawValue> {
    // "null" is always valid JSON; this only satisfies the no-unwrap rule.
    serde_json::value::to_raw_value(&Value::Null).unwrap_or_default()
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
