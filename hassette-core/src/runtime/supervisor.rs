//! One task per app instance: initialize, then handle messages one at a time, then shut down.
//! Errors are logged and the app carries on; a panic stops that instance only.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::app::{App, AppContext, Envelope, Shared, deliver_envelope};
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
    pub(crate) mailbox: usize,
    pub(crate) cache_size: u64,
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

static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

/// Starts an instance of `A` (the registry keeps a pointer to this per app class).
pub(crate) fn launch<A: App>(launch: Launch) -> Launched {
    let (tx, rx) = mpsc::channel(launch.mailbox);
    let (ready_tx, ready) = oneshot::channel();
    let span = tracing::info_span!("app", app = %launch.key, class = A::class_name(), instance = %launch.instance);
    let owner = NEXT_OWNER.fetch_add(1, Ordering::Relaxed);
    let activity = Arc::clone(&launch.shared.activity);
    let reconnect_tx = tx.clone();
    let reconnected = Box::new(move |changed: Arc<[StateChanged]>| {
        // A full mailbox drops the report like any message: the states view is current anyway.
        let _ = deliver_envelope(&reconnect_tx, &activity, Envelope::Reconnected(changed));
    });
    let ctx = AppContext::<A>::new(
        launch.key.clone(),
        launch.instance.clone(),
        owner,
        launch.shared.clone(),
        tx,
        launch.cache_size,
    );
    let jobs_of = ctx.clone();
    launch
        .tracker
        .starting(owner, Box::new(move || jobs_of.pending_jobs()));
    let task = tokio::spawn(run::<A>(launch, ctx, rx, ready_tx).instrument(span));
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

async fn run<A: App>(
    launch: Launch,
    ctx: AppContext<A>,
    mut rx: mpsc::Receiver<Envelope<A::Message>>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let activity = Arc::clone(&launch.shared.activity);
    let tracker = Arc::clone(&launch.tracker);
    let config: A::Config = match toml::Value::Table(launch.config).try_into() {
        Ok(c) => c,
        Err(e) => {
            // Validated at startup, so this is unexpected; still never a panic.
            tracker.failed(format!("invalid config: {e}"));
            let _ = ready.send(Err(format!("invalid config: {e}")));
            return;
        }
    };
    let init = tokio::time::timeout(
        launch.startup_timeout,
        AssertUnwindSafe(A::initialize(config, ctx.clone())).catch_unwind(),
    )
    .await;
    let mut app = match init {
        Ok(Ok(Ok(app))) => app,
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "initialize failed; the instance does not start");
            ctx.stop();
            tracker.failed(format!("initialize failed: {e}"));
            let _ = ready.send(Err(format!("initialize failed: {e}")));
            return;
        }
        Ok(Err(panic)) => {
            let message = panic_message(&*panic);
            tracing::error!(panic = %message, "initialize panicked; the instance does not start");
            ctx.stop();
            tracker.failed(format!("initialize panicked: {message}"));
            let _ = ready.send(Err(format!("initialize panicked: {message}")));
            return;
        }
        Err(_) => {
            tracing::error!(timeout = ?launch.startup_timeout, "initialize timed out; the instance does not start");
            ctx.stop();
            let why = format!("initialize timed out after {:?}", launch.startup_timeout);
            tracker.failed(why.clone());
            let _ = ready.send(Err(why));
            return;
        }
    };
    tracker.running();
    let _ = ready.send(Ok(()));
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
        let began = tracker.timed().then(std::time::Instant::now);
        let outcome = match envelope {
            Envelope::Message(m) => AssertUnwindSafe(app.handle(m)).catch_unwind().await,
            Envelope::Reconnected(changed) => {
                AssertUnwindSafe(app.on_reconnect(changed))
                    .catch_unwind()
                    .await
            }
        };
        tracker.handled(began.map(|b| b.elapsed()));
        activity.handled.fetch_add(1, Ordering::SeqCst);
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracker.error(format!("handler failed: {e}"));
                tracing::error!(error = %e, "handler failed; the app carries on");
            }
            Err(panic) => {
                let message = panic_message(&*panic);
                tracing::error!(panic = %message, "handler panicked; this instance is stopped, other apps carry on");
                tracker.failed(format!("handler panicked: {message}"));
                ctx.stop();
                drain(&mut rx, &activity);
                return;
            }
        }
    }
    ctx.stop();
    match tokio::time::timeout(
        launch.shutdown_timeout,
        AssertUnwindSafe(app.shutdown()).catch_unwind(),
    )
    .await
    {
        Ok(Ok(Ok(()))) => tracing::info!("stopped"),
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "shutdown failed"),
        Ok(Err(panic)) => tracing::error!(panic = %panic_message(&*panic), "shutdown panicked"),
        Err(_) => tracing::error!(timeout = ?launch.shutdown_timeout, "shutdown timed out"),
    }
    tracker.ended(super::status::InstanceState::Stopped);
    drain(&mut rx, &activity);
}

/// Messages left in a stopped instance's mailbox will never be handled: count them as done so
/// that the runtime's idle check stays true.
fn drain<M>(rx: &mut mpsc::Receiver<Envelope<M>>, activity: &crate::app::Activity) {
    rx.close();
    while rx.try_recv().is_ok() {
        activity.handled.fetch_add(1, Ordering::SeqCst);
    }
}
