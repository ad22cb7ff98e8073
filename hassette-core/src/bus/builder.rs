//! The builders apps subscribe with: `ctx.bus().on("light.*").to("on").send(Msg::LightOn)`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{
    Bus, Changed, Deliver, Delivery, Entities, EventFilter, Matcher, OwnerId, StateFilter,
    SubscriptionHandle, Timing,
};
use crate::ha::{Event, StateChanged};

/// Where a subscription's messages go: the owning app's mailbox.
pub(crate) type Sink<M> = Arc<dyn Fn(M) -> Delivery + Send + Sync>;

/// Who subscribes, and where to.
pub(crate) struct Target<M> {
    pub(crate) bus: Bus,
    /// For `immediate` and `duration`: the states at subscription time.
    pub(crate) states: crate::state::States,
    pub(crate) owner: OwnerId,
    pub(crate) owner_name: String,
    pub(crate) sink: Sink<M>,
}

impl<M> Target<M> {
    fn subscribe(self, matcher: Matcher, timing: Timing, deliver: Deliver) -> SubscriptionHandle {
        let handle = self
            .bus
            .add(self.owner, self.owner_name, matcher, timing, deliver);
        self.bus.prime(handle.id, &self.states);
        handle
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
                ..StateFilter::default()
            },
            timing: Timing::default(),
        }
    }

    /// Only changes to this state (`"on"`).
    pub fn to(self, state: impl Into<String>) -> Self {
        self.to_any([state.into()])
    }

    /// Only changes to any of these states (`["on", "open"]`).
    pub fn to_any<S: Into<String>>(mut self, states: impl IntoIterator<Item = S>) -> Self {
        self.filter.to.extend(states.into_iter().map(Into::into));
        self
    }

    /// Only changes to a state other than these (`.not_to("unavailable")`).
    pub fn not_to(mut self, state: impl Into<String>) -> Self {
        self.filter.not_to.push(state.into());
        self
    }

    /// Only changes from this state.
    pub fn from(self, state: impl Into<String>) -> Self {
        self.from_any([state.into()])
    }

    /// Only changes from any of these states.
    pub fn from_any<S: Into<String>>(mut self, states: impl IntoIterator<Item = S>) -> Self {
        self.filter.from.extend(states.into_iter().map(Into::into));
        self
    }

    /// Only changes from a state other than this one (`.not_from("unavailable")`: not a
    /// device coming back).
    pub fn not_from(mut self, state: impl Into<String>) -> Self {
        self.filter.not_from.push(state.into());
        self
    }

    /// Skip changes to or from `unavailable` and `unknown` (a device dropping off the network
    /// and coming back is not motion).
    pub fn ignore_unavailable(mut self) -> Self {
        self.filter.ignore_unavailable = true;
        self
    }

    /// Only when the new state's attribute `name` equals `value`
    /// (`.attribute_eq("hvac_action", "heating")`). Unless [`any_change`](Self::any_change)
    /// or [`attribute`](Self::attribute) says otherwise, it fires when that attribute takes
    /// the value.
    pub fn attribute_eq(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        if self.filter.changed == Changed::State && self.filter.to.is_empty() {
            self.filter.changed = Changed::Attribute(name.clone());
        }
        self.filter.attributes.push((name, value.into()));
        self
    }

    /// Only changes this test passes: `.when(|c| c.new_state.as_ref().is_some_and(|s| ..))`.
    /// With [`duration`](Self::duration), a change that fails it cancels the wait.
    pub fn when(mut self, test: impl Fn(&StateChanged) -> bool + Send + Sync + 'static) -> Self {
        let test: Arc<dyn Fn(&StateChanged) -> bool + Send + Sync> = match self.filter.predicate {
            Some(previous) => Arc::new(move |c| previous(c) && test(c)),
            None => Arc::new(test),
        };
        self.filter.predicate = Some(test);
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
    /// that stops it matching cancels the wait.
    ///
    /// The time counts from the entity's `last_changed`, so a wait that began before hassette
    /// started (or restarted) ends on time: "on for 5 minutes" fires 5 minutes after the
    /// sensor turned on, even if hassette restarted after 3.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.timing.duration = Some(duration);
        self
    }

    /// Also fire at subscription time for every entity whose state already satisfies the
    /// filter (with [`duration`](Self::duration): once it has held that long since its
    /// `last_changed`, at once if it already has). The change delivered then has no
    /// `old_state`; `from` tests do not apply to it.
    pub fn immediate(mut self) -> Self {
        self.timing.immediate = true;
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
        let deliver = Deliver::State(Box::new(move |change| sink(make(change))));
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
        let deliver = Deliver::Event(Box::new(move |event| sink(make(event))));
        self.target
            .subscribe(Matcher::Event(self.filter), self.timing, deliver)
    }
}
