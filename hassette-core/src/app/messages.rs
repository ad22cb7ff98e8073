//! Messages between apps, in-process: to one instance of a known app class
//! ([`AppContext::send_to`](super::AppContext::send_to)), or on a topic that any number of
//! instances subscribe to ([`AppBus::on_topic`](super::AppBus::on_topic),
//! [`AppContext::publish`](super::AppContext::publish)). Both go through the receivers'
//! mailboxes, so the receiving handler runs on its own task with `&mut self`, like any other.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::bus::{Delivery, OwnerId};

/// Why a message to another app was not delivered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// No running instance of that class has that name.
    #[error("no running instance {instance:?} of app class {class}")]
    NoSuchInstance {
        /// The receiving class.
        class: &'static str,
        /// The instance name asked for.
        instance: String,
    },
    /// The receiver's mailbox is full (it is far behind); the message was dropped.
    #[error("the mailbox of {class}/{instance} is full: the message was dropped")]
    Full {
        /// The receiving class.
        class: &'static str,
        /// The instance.
        instance: String,
    },
}

type AnyArc = Arc<dyn Any + Send + Sync>;

/// A typed way into one mailbox: `Arc<dyn Fn(M) -> Delivery>` behind `Any`.
pub(crate) type Inbox<M> = Arc<dyn Fn(M) -> Delivery + Send + Sync>;

struct TopicSub {
    owner: OwnerId,
    type_id: TypeId,
    /// An `Inbox<T>` for the topic's type `T`.
    inbox: AnyArc,
}

#[derive(Default)]
struct Inner {
    /// (app type, instance name) → `Inbox<A::Message>`.
    instances: HashMap<(TypeId, String), (OwnerId, AnyArc)>,
    topics: HashMap<String, Vec<TopicSub>>,
}

/// Every running instance's inbox, and every topic subscription. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Directory {
    inner: Arc<RwLock<Inner>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

impl Directory {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers an instance of app type `app` under its name.
    pub(crate) fn register<M: 'static>(
        &self,
        app: TypeId,
        instance: &str,
        owner: OwnerId,
        inbox: Inbox<M>,
    ) {
        self.write()
            .instances
            .insert((app, instance.to_owned()), (owner, Arc::new(inbox)));
    }

    /// Removes everything of a stopped instance.
    pub(crate) fn remove_owner(&self, owner: OwnerId) {
        let mut inner = self.write();
        inner.instances.retain(|_, (o, _)| *o != owner);
        for subs in inner.topics.values_mut() {
            subs.retain(|s| s.owner != owner);
        }
        inner.topics.retain(|_, subs| !subs.is_empty());
    }

    /// Delivers to one instance.
    pub(crate) fn send<M: 'static>(
        &self,
        app: TypeId,
        class: &'static str,
        instance: &str,
        message: M,
    ) -> Result<(), SendError> {
        let inbox = self
            .read()
            .instances
            .get(&(app, instance.to_owned()))
            .and_then(|(_, any)| Arc::clone(any).downcast::<Inbox<M>>().ok());
        let missing = || SendError::NoSuchInstance {
            class,
            instance: instance.to_owned(),
        };
        let inbox = inbox.ok_or_else(missing)?;
        match inbox(message) {
            Delivery::Sent => Ok(()),
            Delivery::Full => Err(SendError::Full {
                class,
                instance: instance.to_owned(),
            }),
            Delivery::Closed => Err(missing()),
        }
    }

    pub(crate) fn subscribe<T: 'static>(&self, topic: &str, owner: OwnerId, inbox: Inbox<T>) {
        self.write()
            .topics
            .entry(topic.to_owned())
            .or_default()
            .push(TopicSub {
                owner,
                type_id: TypeId::of::<T>(),
                inbox: Arc::new(inbox),
            });
    }

    /// Delivers a clone to every subscriber of `topic` that takes a `T`; returns how many
    /// took it.
    pub(crate) fn publish<T: Clone + 'static>(&self, topic: &str, message: &T) -> usize {
        let inboxes: Vec<Arc<Inbox<T>>> = self
            .read()
            .topics
            .get(topic)
            .into_iter()
            .flatten()
            .filter(|s| s.type_id == TypeId::of::<T>())
            .filter_map(|s| Arc::clone(&s.inbox).downcast::<Inbox<T>>().ok())
            .collect();
        inboxes
            .iter()
            .filter(|inbox| inbox(message.clone()) == Delivery::Sent)
            .count()
    }
}
