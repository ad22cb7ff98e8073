//! App mailboxes: what the runtime hands each app instance ([`Shared`]), what arrives in its
//! mailbox ([`Envelope`]), and the mailbox itself, bounded by a memory budget.
//!
//! A mailbox counts what its messages keep alive (the message, and the event it was made
//! from, at its size on the wire) against the instance's budget (`mailbox_budget`, default
//! [`crate::config::DEFAULT_MAILBOX_BUDGET`]). A burst of tens of thousands of events fits;
//! an app that stays behind past its budget loses the new ones: one WARN names it when it
//! starts losing, and one more, with the count, when it has caught up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::mpsc;

use crate::bus::{Bus, Delivery};
use crate::cache::CacheRegistry;
use crate::ha::{Api, StateChanged};
use crate::scheduler::Scheduler;
use crate::state::States;

/// What arrives in an app instance's mailbox.
pub(crate) enum Envelope<M> {
    /// The app's own message, from a subscription, a timer or `send`.
    Message(M),
    /// The connection came back; these entities changed while it was away.
    Reconnected(Arc<[StateChanged]>),
}

/// Counts of messages put into mailboxes and handled, across the runtime: equal counts mean
/// every app is idle (the test harness waits for that).
#[derive(Debug, Default)]
pub(crate) struct Activity {
    pub(crate) enqueued: AtomicU64,
    pub(crate) handled: AtomicU64,
}

/// The runtime's shared parts an app instance is given.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub(crate) api: Api,
    pub(crate) states: States,
    pub(crate) bus: Bus,
    pub(crate) scheduler: Scheduler,
    pub(crate) caches: CacheRegistry,
    pub(crate) activity: Arc<Activity>,
    pub(crate) owned: crate::app::OwnedEntities,
    pub(crate) directory: crate::app::Directory,
}

/// What one queued message costs besides its payload: the envelope and the queue's own
/// bookkeeping (a block slot of tokio's channel, rounded up).
fn overhead<M>() -> usize {
    size_of::<(Envelope<M>, usize)>() + 16
}

/// While dropping, a WARN with the running count every this many losses, so an app that
/// never catches up is still reported.
const WARN_EVERY: u64 = 10_000;

#[derive(Debug)]
struct Budget {
    /// `app/instance`, for the warnings.
    name: String,
    limit: usize,
    bytes: AtomicUsize,
    /// Losses since the instance fell behind.
    lost: AtomicU64,
    behind: AtomicBool,
    activity: Arc<Activity>,
}

/// The sending side of one app instance's mailbox. Cheap to clone; never waits.
pub(crate) struct Mailbox<M> {
    tx: mpsc::UnboundedSender<(Envelope<M>, usize)>,
    budget: Arc<Budget>,
}

impl<M> Clone for Mailbox<M> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            budget: Arc::clone(&self.budget),
        }
    }
}

impl<M> std::fmt::Debug for Mailbox<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("app", &self.budget.name)
            .field("bytes", &self.budget.bytes.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The receiving side: the instance's task reads it.
pub(crate) struct Inbox<M> {
    rx: mpsc::UnboundedReceiver<(Envelope<M>, usize)>,
    budget: Arc<Budget>,
}

/// A new mailbox for the instance `name`, holding at most `limit` bytes.
pub(crate) fn mailbox<M>(
    name: String,
    limit: usize,
    activity: Arc<Activity>,
) -> (Mailbox<M>, Inbox<M>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let budget = Arc::new(Budget {
        name,
        limit: limit.max(1),
        bytes: AtomicUsize::new(0),
        lost: AtomicU64::new(0),
        behind: AtomicBool::new(false),
        activity,
    });
    (
        Mailbox {
            tx,
            budget: Arc::clone(&budget),
        },
        Inbox { rx, budget },
    )
}

impl<M> Mailbox<M> {
    /// Puts the app's own message in, with the `payload` bytes it keeps alive.
    pub(crate) fn deliver(&self, message: M, payload: usize) -> Delivery {
        self.deliver_envelope(Envelope::Message(message), payload)
    }

    /// Puts anything in, counting it for the runtime's idle check.
    pub(crate) fn deliver_envelope(&self, envelope: Envelope<M>, payload: usize) -> Delivery {
        let b = &*self.budget;
        if self.tx.is_closed() {
            return Delivery::Closed;
        }
        let cost = overhead::<M>() + payload;
        if b.bytes.load(Ordering::Relaxed) + cost > b.limit {
            let lost = b.lost.fetch_add(1, Ordering::Relaxed) + 1;
            if !b.behind.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    app = %b.name,
                    budget_bytes = b.limit,
                    "app is behind: its mailbox is over its budget, dropping new events until it catches up (raise mailbox_budget if it handles bursts slowly)"
                );
            } else if lost.is_multiple_of(WARN_EVERY) {
                tracing::warn!(app = %b.name, lost, "app is still behind: events dropped so far");
            }
            return Delivery::Full;
        }
        // Counted before sending, so the harness never sees a handled count ahead of the queue.
        b.activity.enqueued.fetch_add(1, Ordering::SeqCst);
        b.bytes.fetch_add(cost, Ordering::Relaxed);
        match self.tx.send((envelope, cost)) {
            Ok(()) => Delivery::Sent,
            Err(_) => {
                b.activity.enqueued.fetch_sub(1, Ordering::SeqCst);
                b.bytes.fetch_sub(cost, Ordering::Relaxed);
                Delivery::Closed
            }
        }
    }
}

impl<M> Inbox<M> {
    /// The next envelope; `None` when every sender is gone.
    pub(crate) async fn recv(&mut self) -> Option<Envelope<M>> {
        let (envelope, cost) = self.rx.recv().await?;
        let b = &*self.budget;
        let left = b.bytes.fetch_sub(cost, Ordering::Relaxed) - cost;
        // Caught up once half the budget is free again: hysteresis, so one message in and out
        // at the edge does not warn twice.
        if left <= b.limit / 2 && b.behind.swap(false, Ordering::Relaxed) {
            let lost = b.lost.swap(0, Ordering::Relaxed);
            tracing::warn!(app = %b.name, lost, "app caught up with its mailbox; events it lost while behind are gone");
        }
        Some(envelope)
    }

    /// Counts what is queued as handled and drops it, leaving the mailbox open: after a
    /// failed run, what was queued is for subscriptions that are gone.
    pub(crate) fn discard_queued(&mut self) {
        while let Ok((_, cost)) = self.rx.try_recv() {
            self.budget.bytes.fetch_sub(cost, Ordering::Relaxed);
            self.budget.activity.handled.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Closes the mailbox and counts what is left in it as handled: a stopped instance will
    /// never handle it, and the runtime's idle check must stay true.
    pub(crate) fn close_and_drain(&mut self) {
        self.rx.close();
        self.discard_queued();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn over_the_budget_drops_then_recovers() {
        let activity = Arc::new(Activity::default());
        let (tx, mut rx) = mailbox::<u32>("a/b".into(), 10 * (overhead::<u32>() + 100), activity);
        let sent = (0..20)
            .filter(|i| tx.deliver(*i, 100) == Delivery::Sent)
            .count();
        assert_eq!(sent, 10);
        assert!(tx.budget.behind.load(Ordering::Relaxed));
        assert_eq!(tx.budget.lost.load(Ordering::Relaxed), 10);
        for _ in 0..6 {
            assert!(rx.recv().await.is_some());
        }
        assert!(!tx.budget.behind.load(Ordering::Relaxed), "caught up");
        assert_eq!(tx.deliver(99, 100), Delivery::Sent);
        rx.close_and_drain();
        assert_eq!(tx.budget.bytes.load(Ordering::Relaxed), 0);
        assert_eq!(tx.deliver(1, 1), Delivery::Closed);
    }
}
