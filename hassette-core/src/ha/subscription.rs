//! Subscriptions: what a [`super::Client`] asks of the session, where a subscription's events
//! go, and the [`Subscription`] handle its owner reads them from.
//!
//! A subscription's queue is bounded by bytes, not by a count: a burst of tens of thousands
//! of small events fits, a runaway stream of huge ones does not. The session never waits on a
//! queue; what does not fit is dropped and counted.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use super::error::HaError;
use super::protocol::Command;

/// What a [`super::Client`] asks of the session.
pub(crate) enum Request {
    /// A command; the reply carries its raw `result`.
    Command {
        cmd: Command,
        reply: oneshot::Sender<Result<Box<RawValue>, HaError>>,
    },
    /// A subscribing command, kept and restored after every reconnect.
    Subscribe {
        key: u64,
        cmd: Command,
        sink: Box<dyn Sink>,
        reply: oneshot::Sender<Result<(), HaError>>,
    },
    /// The subscription's owner let go of it.
    Unsubscribe { key: u64 },
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

/// What [`Sink::deliver`] did with an event.
pub(crate) enum Delivery {
    Sent,
    /// Over the subscription's budget: dropped and counted.
    Full,
    /// The owner is gone.
    Closed,
    Undecodable(serde_json::Error),
}

/// The byte count of one subscription's queue, shared by its sink and its handle.
#[derive(Debug)]
struct Queue {
    bytes: AtomicUsize,
    budget: usize,
    dropped: AtomicU64,
    /// Items queued so far; a reader that counts what it has handled is caught up when the
    /// two are equal.
    queued: Arc<AtomicU64>,
}

/// A sink that decodes into `T` and queues it with what it costs.
struct TypedSink<T> {
    tx: mpsc::UnboundedSender<(T, usize)>,
    queue: Arc<Queue>,
}

impl<T: DeserializeOwned + Send> Sink for TypedSink<T> {
    fn deliver(&mut self, raw: &RawValue) -> Delivery {
        if self.tx.is_closed() {
            return Delivery::Closed;
        }
        // The wire size stands in for the decoded size: close enough, and known for free.
        let cost = raw.get().len() + size_of::<T>();
        if self.queue.bytes.load(Ordering::Relaxed) + cost > self.queue.budget {
            self.queue.dropped.fetch_add(1, Ordering::Relaxed);
            return Delivery::Full;
        }
        let item = match serde_json::from_str::<T>(raw.get()) {
            Ok(item) => item,
            Err(e) => return Delivery::Undecodable(e),
        };
        self.queue.bytes.fetch_add(cost, Ordering::Relaxed);
        match self.tx.send((item, cost)) {
            Ok(()) => {
                self.queue.queued.fetch_add(1, Ordering::Release);
                Delivery::Sent
            }
            Err(_) => Delivery::Closed,
        }
    }
}

/// A new subscription's two ends: the sink for the session and the handle for its owner.
pub(crate) fn channel<T: DeserializeOwned + Send + 'static>(
    key: u64,
    requests: mpsc::UnboundedSender<Request>,
    budget: usize,
) -> (Box<dyn Sink>, Subscription<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queue = Arc::new(Queue {
        bytes: AtomicUsize::new(0),
        budget: budget.max(1),
        dropped: AtomicU64::new(0),
        queued: Arc::new(AtomicU64::new(0)),
    });
    let sink = Box::new(TypedSink {
        tx,
        queue: Arc::clone(&queue),
    });
    let sub = Subscription {
        rx,
        key,
        requests,
        queue,
        _kind: PhantomData,
    };
    (sink, sub)
}

/// A live subscription: a queue of `T` fed by the session task, bounded by
/// [`super::ClientOptions::subscription_budget`] bytes.
///
/// Dropping it (or calling [`Subscription::unsubscribe`]) sends `unsubscribe_events`.
/// [`Subscription::recv`] returns `None` once the client has stopped for good (shutdown, or a
/// rejected token).
#[derive(Debug)]
pub struct Subscription<T> {
    rx: mpsc::UnboundedReceiver<(T, usize)>,
    key: u64,
    requests: mpsc::UnboundedSender<Request>,
    queue: Arc<Queue>,
    _kind: PhantomData<fn() -> T>,
}

impl<T> Subscription<T> {
    /// The next item; `None` when the client has stopped for good.
    pub async fn recv(&mut self) -> Option<T> {
        self.recv_sized().await.map(|(item, _)| item)
    }

    /// The next item with its size on the wire in bytes; `None` when the client has stopped
    /// for good.
    pub async fn recv_sized(&mut self) -> Option<(T, usize)> {
        std::future::poll_fn(|cx| self.poll_recv_sized(cx)).await
    }

    /// Polls for the next item with its size on the wire, for owners that wait on several
    /// subscriptions at once.
    pub fn poll_recv_sized(&mut self, cx: &mut Context<'_>) -> Poll<Option<(T, usize)>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some((_, cost))) = &polled {
            self.queue.bytes.fetch_sub(*cost, Ordering::Relaxed);
        }
        polled
    }

    /// The next item if one is queued.
    pub fn try_recv(&mut self) -> Option<T> {
        self.try_recv_sized().map(|(item, _)| item)
    }

    /// The next item with its size on the wire, if one is queued.
    pub fn try_recv_sized(&mut self) -> Option<(T, usize)> {
        let (item, cost) = self.rx.try_recv().ok()?;
        self.queue.bytes.fetch_sub(cost, Ordering::Relaxed);
        Some((item, cost))
    }

    /// Whether nothing is queued right now.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The bytes (as sent on the wire) of the items queued now.
    #[must_use]
    pub fn queued_bytes(&self) -> usize {
        self.queue.bytes.load(Ordering::Relaxed)
    }

    /// How many items were dropped because this subscription's queue was over its budget.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.queue.dropped.load(Ordering::Relaxed)
    }

    /// A counter of the items queued so far (the session adds to it as it queues them):
    /// a reader that counts what it has handled is caught up when the two are equal.
    #[must_use]
    pub fn queued_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.queue.queued)
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
