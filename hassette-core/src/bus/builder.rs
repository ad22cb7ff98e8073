//! The builders apps subscribe with: `self.bus().on_state_change("light.*").to("on").send(Msg::LightOn)`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{
    Bus, Changed, Deliver, Delivery, Entities, EventFilter, Matcher, OwnerId, StateFilter,
    SubscriptionHandle, Timing,
};
use crate::ha::{Event, StateChanged};

/// Where a subscription's messages go: the owning app's mailbox, with the bytes each keeps
/// alive there.
pub(crate) type Sink<M> = Arc<dyn Fn(M, usize) -> Delivery + Send + Sync>;

/// Who subscribes, and where to.
pub(crate) struct Target<M> {
    pub(crate) bus: Bus,
    pub(crate) owner: OwnerId,
    pub(crate) owner_name: String,
    pub(crate) sink: Sink<M>,
}

impl<M> Target<M> {
    fn subscribe(self, matcher: Matcher, timing: Timing, deliver: Deliver) -> SubscriptionHandle {
        self.bus
            .add(self.owner, self.owner_name, matcher, timing, deliver)
    }
}

/// The timing setters both builders share: debounce, throttle, once.
macro_rules! timing_setters {
    ($what:literal) => {
        #[doc = concat!("Fire once a burst of ", $what, " has been quiet this long, with the last one.")]
        pub fn debounce(mut self, quiet: Duration) -> Self {
            self.timing.debounce = Some(quiet);
            self
        }

        #[doc = concat!("Fire at most once per `period`; ", $what, " in between are skipped.")]
        pub fn throttle(mut self, period: Duration) -> Self {
            self.timing.throttle = Some(period);
            self
        }

        /// Fire once, then cancel.
        pub fn once(mut self) -> Self {
            self.timing.once = true;
            self
        }
    };
}

/// A subscription to state changes, being built. Finish it with [`send`](Self::send) or
/// [`send_with`](Self::send_with).
///
/// By default it fires when the state string of a matching entity changes; attribute-only
/// updates are ignored unless [`any_change`](Self::any_change) or
/// [`attribute`](Self::attribute) says otherwise.
#[must_use = "a subscription does nothing until `send` or `send_with` is called"]
pub struct StateSubscriptionBuilder<M> {
    target: Target<M>,
    filter: StateFilter,
    timing: Timing,
}

impl<M> std::fmt::Debug for StateSubscriptionBuilder<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSubscriptionBuilder")
            .field("filter", &self.filter)
            .field("timing", &self.timing)
            .finish()
    }
}

impl<M: Send + 'static> StateSubscriptionBuilder<M> {
    pub(crate) fn new(target: Target<M>, entities: Vec<String>) -> Self {
        Self {
            target,
            filter: StateFilter {
                entities: Entities::new(entities),
                from: None,
                to: None,
                changed: Changed::State,
                replayed: true,
            },
            timing: Timing::default(),
        }
    }

    /// Only changes to this state (`"on"`).
    pub fn to(mut self, state: impl Into<String>) -> Self {
        self.filter.to = Some(state.into());
        self
    }

    /// Only changes from this state.
    pub fn from(mut self, state: impl Into<String>) -> Self {
        self.filter.from = Some(state.into());
        self
    }

    /// Fire on attribute-only changes too.
    pub fn any_change(mut self) -> Self {
        self.filter.changed = Changed::Any;
        self
    }

    /// Fire when this attribute's value changes (`"brightness"`), whatever the state does.
    pub fn attribute(mut self, name: impl Into<String>) -> Self {
        self.filter.changed = Changed::Attribute(name.into());
        self
    }

    /// Fire only once the entity has stayed matching this long ("on for 5 minutes"); a change
    /// away from the `to` state in between cancels it.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.timing.duration = Some(duration);
        self
    }

    /// Only changes seen as they happened: a change made while hassette was disconnected,
    /// delivered after the reconnect with [`StateChanged::replayed`] set, is skipped. By
    /// default such changes are delivered once (an app that turns a light off when a door
    /// closes should hear of a door closed during an outage).
    pub fn live_only(mut self) -> Self {
        self.filter.replayed = false;
        self
    }

    timing_setters!("changes");

    /// Delivers `message` (cloned) for every matching change.
    pub fn send(self, message: M) -> SubscriptionHandle
    where
        M: Clone + Sync,
    {
        self.send_with(move |_| message.clone())
    }

    /// Delivers `make(change)` for every matching change; a tuple variant works as is:
    /// `.send_with(Msg::DoorChanged)`. The change is shared (an `Arc`) by every subscription
    /// it goes to, so delivering it to many apps copies nothing.
    pub fn send_with(
        self,
        make: impl Fn(Arc<StateChanged>) -> M + Send + Sync + 'static,
    ) -> SubscriptionHandle {
        let sink = Arc::clone(&self.target.sink);
        let deliver = Deliver::State(Box::new(move |change, size| sink(make(change), size)));
        self.target
            .subscribe(Matcher::State(self.filter), self.timing, deliver)
    }
}

/// A subscription to Home Assistant events of one type, being built.
#[must_use = "a subscription does nothing until `send` or `send_with` is called"]
pub struct EventSubscriptionBuilder<M> {
    target: Target<M>,
    filter: EventFilter,
    timing: Timing,
}

impl<M> std::fmt::Debug for EventSubscriptionBuilder<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSubscriptionBuilder")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl<M: Send + 'static> EventSubscriptionBuilder<M> {
    pub(crate) fn new(target: Target<M>, event_type: String, data: Map<String, Value>) -> Self {
        Self {
            target,
            filter: EventFilter { event_type, data },
            timing: Timing::default(),
        }
    }

    /// Only events whose data contains this (a subset match: `{"domain": "light"}`).
    ///
    /// A non-object value matches nothing but an event with no data filter (it is ignored).
    pub fn data(mut self, subset: Value) -> Self {
        if let Value::Object(map) = subset {
            self.filter.data.extend(map);
        }
        self
    }

    timing_setters!("events");

    /// Delivers `message` (cloned) for every matching event.
    pub fn send(self, message: M) -> SubscriptionHandle
    where
        M: Clone + Sync,
    {
        self.send_with(move |_| message.clone())
    }

    /// Delivers `make(event)` for every matching event.
    pub fn send_with(
        self,
        make: impl Fn(Event) -> M + Send + Sync + 'static,
    ) -> SubscriptionHandle {
        let sink = Arc::clone(&self.target.sink);
        let deliver = Deliver::Event(Box::new(move |event, size| sink(make(event), size)));
        self.target
            .subscribe(Matcher::Event(self.filter), self.timing, deliver)
    }
}
