//! The feed: the one owner of what comes from Home Assistant.
//!
//! It holds the runtime's subscriptions at Home Assistant (`state_changed`, and each further
//! event type an app asks for), keeps the [`States`] view current, dispatches every event to
//! the [`Bus`], and is the only reader of the connection's events. After a reconnect it reads
//! every state again, replays to the apps each entity whose state or attributes changed while
//! away (once, marked [`crate::ha::StateChanged::replayed`]), tells every app's
//! `on_reconnect` the same list, and logs the reconnect in one line with one count.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::task::Poll;

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::RuntimeError;
use crate::bus::Bus;
use crate::ha::{Client, ConnectionEvent, Event, StateChanged, Subscription};
use crate::state::States;

/// The feed's parts; [`Feed::run`] is its task.
pub(crate) struct Feed {
    pub(crate) client: Client,
    pub(crate) states: States,
    pub(crate) bus: Bus,
    /// The `state_changed` subscription, made before the states were first read.
    pub(crate) state_events: Subscription<Event>,
    /// Further event types apps need, from the bus.
    pub(crate) type_requests: mpsc::UnboundedReceiver<String>,
    pub(crate) connection: broadcast::Receiver<ConnectionEvent>,
    /// The app instances, each told what changed after a reconnect.
    pub(crate) control: Arc<super::control::Control>,
    pub(crate) fatal: mpsc::Sender<RuntimeError>,
    /// The apps' own entities, published again after each reconnect.
    pub(crate) owned: crate::app::OwnedEntities,
}

enum Step {
    Stop,
    Connection(Result<ConnectionEvent, broadcast::error::RecvError>),
    /// One of the `state_changed` subscription's events (the states view counts them).
    State(Option<(Event, usize)>),
    Event(Option<(Event, usize)>),
    Type(Option<String>),
}

impl Feed {
    /// Runs until `cancel`, or until the client stops for good.
    pub(crate) async fn run(mut self, cancel: CancellationToken) {
        let mut others: Vec<Subscription<Event>> = Vec::new();
        // Types asked for while Home Assistant could not be reached: subscribed on reconnect.
        let mut unsubscribed = BTreeSet::new();
        self.states.follow(self.state_events.queued_counter());
        loop {
            let step = tokio::select! {
                () = cancel.cancelled() => Step::Stop,
                ev = self.connection.recv() => Step::Connection(ev),
                ev = self.state_events.recv_sized() => Step::State(ev),
                ev = next_of(&mut others) => Step::Event(Some(ev)),
                t = self.type_requests.recv() => Step::Type(t),
            };
            match step {
                Step::Stop => break,
                Step::State(None) | Step::Event(None) => {
                    // The client stopped for good; its last connection event says why.
                    self.last_words().await;
                    break;
                }
                Step::State(Some((event, size))) => self.deliver_state(event, size),
                Step::Event(Some((event, size))) => self.deliver(event, size),
                Step::Type(Some(event_type)) => {
                    unsubscribed.insert(event_type);
                    self.subscribe_types(&mut unsubscribed, &mut others).await;
                }
                Step::Type(None) => {}
                Step::Connection(Ok(ConnectionEvent::Reconnected { .. })) => {
                    self.subscribe_types(&mut unsubscribed, &mut others).await;
                    self.catch_up().await;
                }
                Step::Connection(Ok(ConnectionEvent::AuthFailed { message })) => {
                    let _ = self.fatal.send(RuntimeError::AuthFailed(message)).await;
                    break;
                }
                Step::Connection(Ok(ConnectionEvent::Closed)) => break,
                Step::Connection(Ok(_)) => {}
                Step::Connection(Err(broadcast::error::RecvError::Lagged(n))) => {
                    tracing::warn!(missed = n, "missed connection events");
                }
                Step::Connection(Err(broadcast::error::RecvError::Closed)) => break,
            }
        }
    }

    /// Waits for the client's final connection event and passes a rejected token on.
    async fn last_words(&mut self) {
        loop {
            match self.connection.recv().await {
                Ok(ConnectionEvent::AuthFailed { message }) => {
                    let _ = self.fatal.send(RuntimeError::AuthFailed(message)).await;
                    return;
                }
                Ok(ConnectionEvent::Closed) | Err(broadcast::error::RecvError::Closed) => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            }
        }
    }

    /// One event of the `state_changed` subscription: delivered, then counted as applied, so
    /// a typed call waiting for the view ([`States::caught_up`]) sees it.
    fn deliver_state(&self, event: Event, size: usize) {
        self.deliver(event, size);
        self.states.mark_applied();
    }

    /// One event: the states view first (so handlers see the new state), then the bus.
    fn deliver(&self, event: Event, size: usize) {
        if let Some(change) = event.state_changed() {
            self.states.apply(change);
        }
        self.bus.dispatch(event, size);
    }

    async fn subscribe_types(
        &self,
        types: &mut BTreeSet<String>,
        others: &mut Vec<Subscription<Event>>,
    ) {
        while let Some(event_type) = types.first().cloned() {
            match self.client.subscribe_events(Some(&event_type)).await {
                Ok(sub) => {
                    tracing::debug!(event_type, "subscribed at Home Assistant");
                    others.push(sub);
                    types.remove(&event_type);
                }
                Err(e) => {
                    tracing::warn!(event_type, error = %e, "cannot subscribe to an event type apps need yet; trying again after the next reconnect");
                    return;
                }
            }
        }
    }

    /// After a reconnect: events queued from before are delivered first, then every state is
    /// read again and what changed meanwhile is replayed and reported.
    async fn catch_up(&mut self) {
        while let Some((event, size)) = self.state_events.try_recv_sized() {
            self.deliver_state(event, size);
        }
        let fresh = match self.client.get_states().await {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::error!(error = %e, "reconnected to Home Assistant, but cannot read the states again: changes made while away are not known");
                return;
            }
        };
        let changed: Arc<[StateChanged]> = self.states.replace_and_diff(fresh).into();
        // Off the feed's task (they are round trips, one over HTTP): a restarted Home
        // Assistant has lost the apps' own entities, and its registries may have changed.
        let (client, states, owned) =
            (self.client.clone(), self.states.clone(), self.owned.clone());
        tokio::spawn(async move {
            states.set_registries(crate::state::load_registries(&client).await);
            let republished = owned.republish(&client).await;
            if republished > 0 {
                tracing::info!(
                    entities = republished,
                    "published the apps' own entities again"
                );
            }
        });
        tracing::info!(
            changed = changed.len(),
            "reconnected to Home Assistant; replaying the entities that changed while away"
        );
        super::unknown_entities::warn_unknown(&self.bus, &self.states);
        for change in changed.iter() {
            let size = serde_json::to_vec(change).map_or(0, |v| v.len());
            self.bus.replay(Arc::new(change.clone()), size);
        }
        self.control.reconnected(&changed);
    }
}

/// The next event of any of `subs`; pending while there is none (or no subscription).
async fn next_of(subs: &mut [Subscription<Event>]) -> (Event, usize) {
    std::future::poll_fn(|cx| {
        for sub in subs.iter_mut() {
            if let Poll::Ready(Some(item)) = sub.poll_recv_sized(cx) {
                return Poll::Ready(item);
            }
        }
        Poll::Pending
    })
    .await
}
