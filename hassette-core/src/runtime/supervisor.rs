//! One task per app instance: initialize, then handle messages one at a time, then shut down.
//! A handler's error is logged and the app carries on. A panic, or an `initialize` that fails
//! or times out, stops that instance; its restart policy ([`RestartPolicy`]) may start it
//! again after a backoff, each time logged at ERROR with the cause. The runtime learns through
//! [`Alive`] when no instance is left that can run.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::mailbox::{Envelope, Inbox, Mailbox, Shared, mailbox};
use crate::app::{App, AppContext};
use crate::config::{MAX_RESTART_DELAY, Restart, RestartPolicy};
use crate::ha::StateChanged;

/// Everything needed to start one instance.
pub(crate) struct Launch {
    pub(crate) key: String,
    pub(crate) instance: String,
    pub(crate) config: toml::Table,
    pub(crate) shared: Shared,
    pub(crate) cancel: CancellationToken,
    pub(crate) startup_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    /// The mailbox's budget in bytes.
    pub(crate) mailbox_budget: usize,
    pub(crate) cache_size: u64,
    pub(crate) restart: RestartPolicy,
    pub(crate) alive: Alive,
    /// Where the instance reports its state and counters (the status API reads it).
    pub(crate) tracker: Arc<super::status::Tracker>,
}

/// A started instance: whether it initialized, its task, and how to tell it about reconnects.
pub(crate) struct Launched {
    pub(crate) ready: oneshot::Receiver<Result<(), String>>,
    pub(crate) task: JoinHandle<()>,
    pub(crate) reconnected: ReconnectHook,
}

/// Tells one instance which entities changed while the connection was away.
pub(crate) type ReconnectHook = Box<dyn Fn(Arc<[StateChanged]>) + Send + Sync>;

/// How many instances can still run: launched, and not stopped for good by a failure. An
/// instance stopped by shutdown still counts (it did not fail).
#[derive(Clone, Debug)]
pub(crate) struct Alive(Arc<watch::Sender<usize>>);

impl Alive {
    pub(crate) fn new() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }

    fn enter(&self) {
        self.0.send_modify(|n| *n += 1);
    }

    fn gone(&self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Instances that can still run.
    pub(crate) fn count(&self) -> usize {
        *self.0.borrow()
    }

    /// Completes once no instance can run (at once when none was launched).
    pub(crate) fn none_left(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|n| *n == 0).await;
        }
    }
}

static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// Starts an instance of `A` (the registry keeps a pointer to this per app class).
pub(crate) fn launch<A: App>(launch: Launch) -> Launched {
    let (tx, rx) = mailbox(
        format!("{}/{}", launch.key, launch.instance),
        launch.mailbox_budget,
        Arc::clone(&launch.shared.activity),
    );
    let (ready_tx, ready) = oneshot::channel();
    let span = tracing::info_span!("app", app = %launch.key, class = A::class_name(), instance = %launch.instance);
    let reconnect_tx = tx.clone();
    let reconnected = Box::new(move |changed: Arc<[StateChanged]>| {
        // Over the budget, the report is dropped like any message (and warned about): the
        // states view is current anyway.
        let _ = reconnect_tx.deliver_envelope(Envelope::Reconnected(changed), 0);
    });
    launch.alive.enter();
    let task = tokio::spawn(supervise::<A>(launch, tx, rx, ready_tx).instrument(span));
    Launched {
        ready,
        task,
        reconnected,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".to_owned())
}

/// Runs the instance, and runs it again after a failure while its policy allows.
async fn supervise<A: App>(
    launch: Launch,
    tx: Mailbox<A::Message>,
    mut rx: Inbox<A::Message>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    let mut restarts = Restarts::new(launch.restart);
    let tracker = Arc::clone(&launch.tracker);
    // How the instance ends, for the status API (a clean stop unless it failed for good).
    let mut end = super::status::InstanceState::Stopped;
    loop {
        let owner = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
        let ctx = AppContext::<A>::new(
            launch.key.clone(),
            launch.instance.clone(),
            owner,
            launch.shared.clone(),
            tx.clone(),
            launch.cache_size,
        );
        let jobs_of = ctx.clone();
        tracker.starting(owner, Box::new(move || jobs_of.pending_jobs()));
        let Err(cause) = run_once::<A>(&launch, ctx, &mut rx, &mut ready).await else {
            break;
        };
        tracker.failed(cause.clone());
        // What was queued for the failed run is for subscriptions that are gone.
        rx.discard_queued();
        match restarts.next() {
            Ok((delay, restart)) => {
                tracing::error!(
                    cause = %cause,
                    "the instance failed; restarting in {delay:?} (restart {restart} of at most {} within {:?})",
                    launch.restart.max_restarts,
                    launch.restart.window,
                );
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(format!("{cause}; restarting in {delay:?}")));
                }
                tokio::select! {
                    () = launch.cancel.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
                rx.discard_queued();
            }
            Err(why) => {
                tracing::error!(cause = %cause, "the instance failed; {why}");
                launch.alive.gone();
                end = super::status::InstanceState::Failed;
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(format!("{cause}; {why}")));
                }
                break;
            }
        }
    }
    tracker.ended(end);
    rx.close_and_drain();
}

/// The restarts made within the policy's window.
struct Restarts {
    policy: RestartPolicy,
    times: VecDeque<Instant>,
}

impl Restarts {
    fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            times: VecDeque::new(),
        }
    }

    /// The wait before the next restart and its number in the window, or why there is none.
    fn next(&mut self) -> Result<(Duration, u32), String> {
        let policy = self.policy;
        if policy.restart == Restart::Never {
            return Err("not restarting (restart = \"never\")".to_owned());
        }
        let now = Instant::now();
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= policy.window)
        {
            self.times.pop_front();
        }
        let made = u32::try_from(self.times.len()).unwrap_or(u32::MAX);
        if made >= policy.max_restarts {
            return Err(format!(
                "not restarting: it was restarted {made} times within {:?} (max_restarts = {})",
                policy.window, policy.max_restarts
            ));
        }
        let delay = policy
            .delay
            .saturating_mul(2u32.saturating_pow(made))
            .min(MAX_RESTART_DELAY.max(policy.delay));
        self.times.push_back(now);
        Ok((delay, made + 1))
    }
}

/// One run of the instance: `Ok` when it stopped because the runtime shut down, `Err` with the
/// cause when it failed.
async fn run_once<A: App>(
    launch: &Launch,
    ctx: AppContext<A>,
    rx: &mut Inbox<A::Message>,
    ready: &mut Option<oneshot::Sender<Result<(), String>>>,
) -> Result<(), String> {
    let activity = Arc::clone(&launch.shared.activity);
    let config: A::Config = match toml::Value::Table(launch.config.clone()).try_into() {
        Ok(c) => c,
        Err(e) => {
            // Validated at startup, so this is unexpected; still never a panic.
            ctx.stop();
            return Err(format!("invalid config: {e}"));
        }
    };
    let init = tokio::time::timeout(
        launch.startup_timeout,
        AssertUnwindSafe(A::initialize(config, &ctx)).catch_unwind(),
    )
    .await;
    let mut app = match init {
        Ok(Ok(Ok(app))) => app,
        Ok(Ok(Err(e))) => {
            ctx.stop();
            return Err(format!("initialize failed: {e}"));
        }
        Ok(Err(panic)) => {
            ctx.stop();
            return Err(format!("initialize panicked: {}", panic_message(&*panic)));
        }
        Err(_) => {
            ctx.stop();
            return Err(format!(
                "initialize timed out after {:?}",
                launch.startup_timeout
            ));
        }
    };
    launch.tracker.running();
    if let Some(ready) = ready.take() {
        let _ = ready.send(Ok(()));
    }
    tracing::info!("started");
    loop {
        let envelope = tokio::select! {
            biased;
            () = launch.cancel.cancelled() => break,
            envelope = rx.recv() => match envelope {
                Some(e) => e,
                None => break,
            },
        };
        let began = launch.tracker.timed().then(std::time::Instant::now);
        let outcome = match envelope {
            Envelope::Message(m) => AssertUnwindSafe(app.handle(&ctx, m)).catch_unwind().await,
            Envelope::Reconnected(changed) => {
                AssertUnwindSafe(app.on_reconnect(&ctx, changed))
                    .catch_unwind()
                    .await
            }
        };
        launch.tracker.handled(began.map(|b| b.elapsed()));
        activity.handled.fetch_add(1, Ordering::SeqCst);
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                launch.tracker.error(format!("handler failed: {e}"));
                tracing::error!(error = %e, "handler failed; the app carries on");
            }
            Err(panic) => {
                // Its state may be broken: no shutdown hook; other apps carry on.
                ctx.stop();
                return Err(format!("a handler panicked: {}", panic_message(&*panic)));
            }
        }
    }
    ctx.stop();
    match tokio::time::timeout(
        launch.shutdown_timeout,
        AssertUnwindSafe(app.shutdown(&ctx)).catch_unwind(),
    )
    .await
    {
        Ok(Ok(Ok(()))) => tracing::info!("stopped"),
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "shutdown failed"),
        Ok(Err(panic)) => tracing::error!(panic = %panic_message(&*panic), "shutdown panicked"),
        Err(_) => tracing::error!(timeout = ?launch.shutdown_timeout, "shutdown timed out"),
    }
    Ok(())
}
