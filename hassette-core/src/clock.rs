//! A clock that tests can set.
//!
//! Everything in hassette that compares against "now" for persistent data (cache expiry, ages)
//! reads it from a [`Clock`], so that tests can move time without sleeping.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

/// The source of the current time: the system clock, or a manual clock for tests.
///
/// Cloning a manual clock shares it: advancing one clone advances all of them.
///
/// # Examples
///
/// ```
/// use hassette_core::clock::Clock;
/// use jiff::{SignedDuration, Timestamp};
///
/// let clock = Clock::manual(Timestamp::UNIX_EPOCH);
/// clock.advance(SignedDuration::from_secs(90));
/// assert_eq!(clock.now().as_second(), 90);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Clock {
    // A watch channel holds the manual time, so that timers can wait for it to move.
    manual: Option<Arc<watch::Sender<Timestamp>>>,
}

impl Clock {
    /// The system clock.
    #[must_use]
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still at `start` until it is moved with [`Clock::advance`] or
    /// [`Clock::set`].
    #[must_use]
    pub fn manual(start: Timestamp) -> Self {
        Self {
            manual: Some(Arc::new(watch::Sender::new(start))),
        }
    }

    /// The current time.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        match &self.manual {
            None => Timestamp::now(),
            Some(t) => *t.borrow(),
        }
    }

    /// Whether this is a manual clock.
    #[must_use]
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Moves a manual clock forward (or back, with a negative duration). No effect on the
    /// system clock.
    pub fn advance(&self, by: SignedDuration) {
        if let Some(t) = &self.manual {
            t.send_modify(|now| *now = now.checked_add(by).unwrap_or(*now));
        }
    }

    /// Sets a manual clock to `to`. No effect on the system clock.
    pub fn set(&self, to: Timestamp) {
        if let Some(t) = &self.manual {
            t.send_replace(to);
        }
    }

    /// For a manual clock, a receiver that sees every move of it (timers wait on it instead of
    /// sleeping); `None` for the system clock.
    #[must_use]
    pub fn watch(&self) -> Option<watch::Receiver<Timestamp>> {
        self.manual.as_ref().map(|t| t.subscribe())
    }
}
