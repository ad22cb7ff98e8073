//! The event bus: app subscriptions to state changes and Home Assistant events, matched and
//! delivered into app mailboxes.
//!
//! Events arrive from the runtime's feed; [`Bus::dispatch`] tests every subscription and puts
//! a message into the owning app's mailbox, which is bounded by a memory budget. It never
//! waits: a mailbox over its budget drops the message (the mailbox counts it and warns), so a
//! slow app never stalls the socket or another app. Changes that happened during a
//! disconnection come through [`Bus::replay`], marked [`StateChanged::replayed`]. Timed filters ("on for 5 minutes", debounce) run on the [`Scheduler`], so they
//! follow the runtime's clock (a manual one in tests).

mod builder;
mod filter;
mod listing;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

pub(crate) use builder::Target;
pub use builder::{EventSubscriptionBuilder, StateSubscriptionBuilder};
pub use filter::Changed;
pub(crate) use filter::{Entities, EventFilter, StateFilter};
pub use listing::SubscriptionInfo;
pub(crate) use listing::human_duration;

use crate::clock::Clock;
use crate::ha::{Event, EventData, StateChanged};
use crate::scheduler::{JobHandle, Scheduler, Trigger};

/// Identifies the app instance that owns subscriptions, so they all go when it stops.
pub(crate) type OwnerId = u64;

/// What a delivery attempt did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    Sent,
    /// The mailbox was full: dropped and counted.
    Full,
    /// The app is gone: the subscription can go too.
    Closed,
}

/// Puts a state change or an event into an app's mailbox, as the app's own message, with the
/// bytes it keeps alive there (its size on the wire), which count against the app's budget.
pub(crate) enum Deliver {
    State(Box<dyn Fn(Arc<StateChanged>, usize) -> Delivery + Send + Sync>),
    Event(Box<dyn Fn(Event, usize) -> Delivery + Send + Sync>),
}

/// Timing options of a subscription.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timing {
    /// Deliver only after the condition held this long (cancelled if it stops holding).
    pub(crate) duration: Option<Duration>,
    /// Deliver the last of a burst, once it has been quiet this long.
    pub(crate) debounce: Option<Duration>,
    /// Deliver at most once per this long; the rest are skipped.
    pub(crate) throttle: Option<Duration>,
    /// Deliver once, then cancel.
    pub(crate) once: bool,
    /// At subscription time, deliver for every entity whose current state already satisfies
    /// the filter (after the rest of `duration`, counted from its `last_changed`).
    pub(crate) immediate: bool,
}

pub(crate) enum Matcher {
    State(StateFilter),
    Event(EventFilter),
}

struct Subscription {
    id: u64,
    owner: OwnerId,
    /// The app key, for warnings that name the app.
    owner_name: String,
    matcher: Matcher,
    timing: Timing,
    deliver: Arc<Deliver>,
    /// Pending duration/debounce timers, per entity (events: one, under "").
    pending: Mutex<HashMap<String, JobHandle>>,
    last_delivered: Mutex<Option<jiff::Timestamp>>,
    dropped: AtomicU64,
}

/// A subscription made by an app; cancel it with [`SubscriptionHandle::cancel`]. Dropping the
/// handle does not cancel: subscriptions live until cancelled or until their app stops.
#[derive(Clone, Debug)]
pub struct SubscriptionHandle {
    pub(crate) id: u64,
    bus: Bus,
}

impl SubscriptionHandle {
    /// Cancels the subscription, and any delivery it has waiting on a timer.
    pub fn cancel(&self) {
        self.bus.remove(self.id);
    }

    /// Whether the subscription is still active.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.bus.read().contains_key(&self.id)
    }
}

/// The runtime's event bus. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("subscriptions", &self.read().len())
            .finish_non_exhaustive()
    }
}

struct Inner {
    subs: RwLock<HashMap<u64, Arc<Subscription>>>,
    next_id: AtomicU64,
    scheduler: Scheduler,
    clock: Clock,
    /// Event types some subscription needs; the runtime subscribes to each at Home Assistant.
    event_types: Mutex<HashSet<String>>,
    type_requests: mpsc::UnboundedSender<String>,
    dispatched: AtomicU64,
    dropped: AtomicU64,
    /// Drops per app instance, for the status API (touched only when a mailbox is full).
    dropped_by_owner: Mutex<HashMap<OwnerId, u64>>,
}

impl Bus {
    /// A bus whose timed filters run on `scheduler`. New event types that subscriptions need are
    /// sent on `type_requests` for the runtime to subscribe to at Home Assistant.
    pub(crate) fn new(
        scheduler: Scheduler,
        clock: Clock,
        type_requests: mpsc::UnboundedSender<String>,
    ) -> Self {
        let mut types = HashSet::new();
        // The states view always follows state changes.
        types.insert("state_changed".to_owned());
        Self {
            inner: Arc::new(Inner {
                subs: RwLock::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                scheduler,
                clock,
                event_types: Mutex::new(types),
                type_requests,
                dispatched: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                dropped_by_owner: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u64, Arc<Subscription>>> {
        self.inner
            .subs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn add(
        &self,
        owner: OwnerId,
        owner_name: String,
        matcher: Matcher,
        timing: Timing,
        deliver: Deliver,
    ) -> SubscriptionHandle {
        if let Matcher::Event(f) = &matcher {
            let new = self
                .inner
                .event_types
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(f.event_type.clone());
            if new {
                let _ = self.inner.type_requests.send(f.event_type.clone());
            }
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(subscription = id, app = %owner_name, "subscribed");
        let sub = Subscription {
            id,
            owner,
            owner_name,
            matcher,
            timing,
            deliver: Arc::new(deliver),
            pending: Mutex::new(HashMap::new()),
            last_delivered: Mutex::new(None),
            dropped: AtomicU64::new(0),
        };
        self.inner
            .subs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::new(sub));
        SubscriptionHandle {
            id,
            bus: self.clone(),
        }
    }

    fn remove(&self, id: u64) {
        let removed = self
            .inner
            .subs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if let Some(sub) = removed {
            for (_, job) in sub
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drain()
            {
                job.cancel();
            }
        }
    }

    /// Removes every subscription of a stopped app instance.
    pub(crate) fn remove_owner(&self, owner: OwnerId) {
        let ids: Vec<u64> = self
            .read()
            .values()
            .filter(|s| s.owner == owner)
            .map(|s| s.id)
            .collect();
        for id in ids {
            self.remove(id);
        }
    }

    /// Every state subscription's app and entity patterns (ids or globs), for checking them
    /// against the entities Home Assistant has.
    pub(crate) fn watched_entities(&self) -> Vec<(String, Entities)> {
        self.read()
            .values()
            .filter_map(|s| match &s.matcher {
                Matcher::State(f) => Some((s.owner_name.clone(), f.entities.clone())),
                Matcher::Event(_) => None,
            })
            .collect()
    }

    /// Events handed to [`Bus::dispatch`] so far.
    #[must_use]
    pub fn dispatched(&self) -> u64 {
        self.inner.dispatched.load(Ordering::Relaxed)
    }

    /// Messages dropped because an app's mailbox was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Tests one event (`size` bytes on the wire) against every subscription and delivers it
    /// where it matches. Never waits.
    pub(crate) fn dispatch(&self, mut event: Event, size: usize) {
        // Snapshot the subscriptions so that no lock is held while delivering.
        let subs: Vec<Arc<Subscription>> = self.read().values().cloned().collect();
        let wants_events = subs.iter().any(|s| matches!(s.matcher, Matcher::Event(_)));
        // One copy of a state change, shared by every subscription it goes to: moved out of
        // the event unless an event subscription needs the event whole.
        let change: Option<Arc<StateChanged>> = match &event.data {
            EventData::StateChanged(c) if wants_events => Some(Arc::new((**c).clone())),
            EventData::StateChanged(_) => {
                match std::mem::replace(&mut event.data, EventData::Other(Value::Null)) {
                    EventData::StateChanged(c) => Some(Arc::from(c)),
                    EventData::Other(_) => None,
                }
            }
            EventData::Other(_) => None,
        };
        let converted;
        let data: &Value = match &event.data {
            EventData::Other(v) => v,
            EventData::StateChanged(c) => {
                converted = serde_json::to_value(c).unwrap_or(Value::Null);
                &converted
            }
        };
        for sub in subs {
            match (&sub.matcher, &change) {
                (Matcher::State(filter), Some(change)) => self.on_state(&sub, filter, change, size),
                (Matcher::Event(filter), _) => {
                    if filter.matches(&event, data) {
                        self.fire(&sub, "", Payload::Event(event.clone(), size));
                    }
                }
                (Matcher::State(_), None) => {}
            }
        }
        self.inner.dispatched.fetch_add(1, Ordering::Relaxed);
    }

    /// Delivers a change that happened while disconnected (marked
    /// [`StateChanged::replayed`]) to every matching state subscription that takes replays.
    /// Event subscriptions do not see it: Home Assistant never sent it as an event.
    pub(crate) fn replay(&self, change: Arc<StateChanged>, size: usize) {
        let subs: Vec<Arc<Subscription>> = self.read().values().cloned().collect();
        for sub in subs {
            if let Matcher::State(filter) = &sub.matcher
                && filter.replayed
            {
                self.on_state(&sub, filter, &change, size);
            }
        }
        self.inner.dispatched.fetch_add(1, Ordering::Relaxed);
    }

    fn on_state(
        &self,
        sub: &Arc<Subscription>,
        filter: &StateFilter,
        change: &Arc<StateChanged>,
        size: usize,
    ) {
        if !filter.entities.matches(&change.entity_id) {
            return;
        }
        if sub.timing.duration.is_some() && !filter.holds(change) {
            // "on for 5 minutes" is off: the wait is over.
            if let Some(job) = sub
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&change.entity_id)
            {
                job.cancel();
            }
            return;
        }
        if filter.matches(change) {
            self.fire(
                sub,
                &change.entity_id,
                Payload::State(Arc::clone(change), size),
            );
        }
    }

    /// Delivers now, or after the subscription's duration or debounce. A duration counts from
    /// when the entity took its state (`last_changed`), not from when hassette heard of it.
    fn fire(&self, sub: &Arc<Subscription>, key: &str, payload: Payload) {
        let delay = match (&payload, sub.timing.duration) {
            (Payload::State(change, _), Some(duration)) => {
                Some(self.remaining(sub, change, duration))
            }
            (_, duration) => duration.or(sub.timing.debounce),
        };
        let Some(delay) = delay else {
            self.deliver(sub, payload);
            return;
        };
        if sub.timing.duration.is_some() && delay.is_zero() {
            self.deliver(sub, payload);
            return;
        }
        let mut pending = sub.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if sub.timing.duration.is_some() && pending.get(key).is_some_and(JobHandle::is_active) {
            // Already waiting since the first match; a repeat does not restart the wait.
            return;
        }
        if let Some(previous) = pending.remove(key) {
            previous.cancel();
        }
        let bus = self.clone();
        let target = Arc::downgrade(sub);
        let mut payload = Some(payload);
        let job = Box::new(move |_fired: crate::scheduler::FireInfo| {
            let (Some(sub), Some(payload)) = (target.upgrade(), payload.take()) else {
                return false;
            };
            bus.deliver(&sub, payload);
            // A one-shot timer ends by itself; `false` would mean "target gone" (and warn).
            true
        });
        match self.inner.scheduler.schedule(Trigger::In(delay), job) {
            Ok(handle) => {
                pending.insert(key.to_owned(), handle);
            }
            Err(e) => {
                tracing::warn!(subscription = sub.id, error = %e, "cannot start the timer of a timed subscription")
            }
        }
    }

    /// What is left of `duration` since the entity took its state (or, for attribute
    /// subscriptions, since its last update).
    fn remaining(&self, sub: &Subscription, change: &StateChanged, duration: Duration) -> Duration {
        let Some(new) = change.new_state.as_ref() else {
            return duration;
        };
        let since = match &sub.matcher {
            Matcher::State(f) if f.changed == Changed::State => new.last_changed,
            _ => new.last_updated,
        };
        let elapsed = Duration::try_from(self.inner.clock.now().duration_since(since))
            .unwrap_or(Duration::ZERO);
        duration.saturating_sub(elapsed)
    }

    /// At subscription time: the entities whose current state already satisfies the filter of
    /// subscription `id` (an `immediate` one, or a `duration` one whose wait began before
    /// hassette started) get their delivery, or their timer for the rest of the duration.
    pub(crate) fn prime(&self, id: u64, states: &crate::state::States) {
        let Some(sub) = self.read().get(&id).cloned() else {
            return;
        };
        let Matcher::State(filter) = &sub.matcher else {
            return;
        };
        if !sub.timing.immediate && sub.timing.duration.is_none() {
            return;
        }
        for entity_id in filter.entities.resolve(&states.entity_ids()) {
            let Some(state) = states.get(&entity_id) else {
                continue;
            };
            let change = Arc::new(StateChanged {
                entity_id,
                old_state: None,
                new_state: Some((*state).clone()),
                replayed: false,
            });
            if !filter.holds(&change) {
                continue;
            }
            if let Some(duration) = sub.timing.duration
                && !sub.timing.immediate
                && self.remaining(&sub, &change, duration).is_zero()
            {
                // The wait ended before this subscription existed; only `immediate` fires it.
                continue;
            }
            let key = change.entity_id.clone();
            self.fire(&sub, &key, Payload::State(change, 0));
        }
    }

    fn deliver(&self, sub: &Subscription, payload: Payload) {
        if let Some(throttle) = sub.timing.throttle {
            let now = self.inner.clock.now();
            let mut last = sub
                .last_delivered
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let within = last.is_some_and(|l| {
                now.duration_since(l)
                    < jiff::SignedDuration::try_from(throttle).unwrap_or(jiff::SignedDuration::MAX)
            });
            if within {
                return;
            }
            *last = Some(now);
        }
        let result = match (&*sub.deliver, payload) {
            (Deliver::State(f), Payload::State(change, size)) => f(change, size),
            (Deliver::Event(f), Payload::Event(event, size)) => f(event, size),
            _ => Delivery::Sent,
        };
        match result {
            Delivery::Sent => {
                if sub.timing.once {
                    self.remove(sub.id);
                }
            }
            Delivery::Full => {
                // The mailbox warns, naming the app, once per episode with the count.
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                self.note_dropped(sub.owner);
                sub.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Delivery::Closed => self.remove(sub.id),
        }
    }
}

/// What a subscription delivers, with its size on the wire.
enum Payload {
    State(Arc<StateChanged>, usize),
    Event(Event, usize),
}
