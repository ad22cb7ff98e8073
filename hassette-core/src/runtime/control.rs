//! The runtime's app instances as slots that can be stopped, started and restarted one at a
//! time, and a reload of `hassette.toml` that applies app changes without a process restart.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::status::{ClassCache, InstanceState, Tracker};
use super::supervisor::{self, Alive, ReconnectHook};
use crate::app::{AppClass, AppRegistry};
use crate::config::{Config, RestartPolicy};
use crate::ha::StateChanged;

/// Tells whether an instance's `initialize` succeeded, and why not.
pub(crate) type Ready = oneshot::Receiver<Result<(), String>>;

/// Reads the configuration again (the CLI layers file, environment and flags as at startup).
#[derive(Clone)]
pub struct ConfigReloader(Arc<dyn Fn() -> Result<Config, String> + Send + Sync>);

impl ConfigReloader {
    /// A reloader calling `load`, which returns the new configuration or the errors as text.
    pub fn new(load: impl Fn() -> Result<Config, String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(load))
    }
}

impl std::fmt::Debug for ConfigReloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigReloader")
    }
}

/// Why an action on an instance did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No such app key or instance.
    #[error("no app instance {app}/{instance}; configured instances: {known}")]
    UnknownInstance {
        /// The app key asked for.
        app: String,
        /// The instance asked for.
        instance: String,
        /// What exists, comma-separated.
        known: String,
    },
    /// Start asked of a running instance.
    #[error("{0} is already running")]
    AlreadyRunning(String),
    /// Stop asked of an instance that is not running.
    #[error("{0} is not running")]
    NotRunning(String),
    /// It was started but `initialize` failed.
    #[error("{name} did not start: {reason}")]
    StartFailed {
        /// `app/instance`.
        name: String,
        /// Why.
        reason: String,
    },
    /// The runtime has no way to read the configuration again.
    #[error("this runtime was started without a configuration file to reload")]
    NoReload,
    /// The configuration file has errors; nothing was changed.
    #[error("the configuration was not reloaded (nothing changed): {0}")]
    Reload(String),
    /// The runtime is shutting down.
    #[error("hassette is shutting down")]
    ShuttingDown,
}

/// What a reload did.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct ReloadReport {
    /// Instances restarted with changed settings.
    pub restarted: Vec<String>,
    /// Instances started (new, or enabled now).
    pub started: Vec<String>,
    /// Instances stopped (removed, or disabled now).
    pub stopped: Vec<String>,
    /// Instances that did not start, with why.
    pub failed: Vec<String>,
    /// Instances left as they were.
    pub unchanged: usize,
    /// Settings that changed but apply only when hassette restarts.
    pub needs_process_restart: Vec<String>,
}

/// One instance a configuration asks for.
#[derive(Clone)]
struct Wanted {
    key: String,
    instance: String,
    class: AppClass,
    config: toml::Table,
    cache_size: u64,
    mailbox_budget: usize,
    restart: RestartPolicy,
    enabled: bool,
}

struct SlotRun {
    config: toml::Table,
    restart: RestartPolicy,
    cache_size: u64,
    mailbox_budget: usize,
    enabled: bool,
    removed: bool,
    cancel: Option<CancellationToken>,
    task: Option<JoinHandle<()>>,
    reconnect: Option<Arc<ReconnectHook>>,
}

/// One configured app instance, running or not.
pub(crate) struct Slot {
    pub(crate) key: String,
    pub(crate) instance: String,
    pub(crate) class: AppClass,
    pub(crate) tracker: Arc<Tracker>,
    run: Mutex<SlotRun>,
    /// Serializes start, stop and restart of this instance.
    op: tokio::sync::Mutex<()>,
}

impl Slot {
    fn name(&self) -> String {
        format!("{}/{}", self.key, self.instance)
    }

    fn run(&self) -> std::sync::MutexGuard<'_, SlotRun> {
        self.run.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn enabled(&self) -> bool {
        let run = self.run();
        run.enabled && !run.removed
    }

    fn is_running(&self) -> bool {
        self.run().task.as_ref().is_some_and(|t| !t.is_finished())
    }
}

/// Everything the slots need to launch instances.
pub(crate) struct Control {
    slots: RwLock<Vec<Arc<Slot>>>,
    shared: Shared,
    registry: AppRegistry,
    cancel_apps: CancellationToken,
    startup_timeout: Duration,
    shutdown_timeout: Duration,
    timed: bool,
    only_apps: Vec<String>,
    alive: Alive,
    config: Mutex<Config>,
    reloader: Option<ConfigReloader>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("instances", &self.slots().len())
            .finish_non_exhaustive()
    }
}

/// What a [`Control`] is built from.
pub(crate) struct ControlOptions {
    pub(crate) startup_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) timed: bool,
    pub(crate) only_apps: Vec<String>,
    pub(crate) reloader: Option<ConfigReloader>,
    pub(crate) alive: Alive,
}

impl Control {
    /// One slot per configured instance of a registered class; none is started yet.
    pub(crate) fn new(
        config: &Config,
        registry: &AppRegistry,
        shared: Shared,
        options: ControlOptions,
    ) -> Self {
        let control = Self {
            slots: RwLock::new(Vec::new()),
            shared,
            registry: registry.clone(),
            cancel_apps: CancellationToken::new(),
            startup_timeout: options.startup_timeout,
            shutdown_timeout: options.shutdown_timeout,
            timed: options.timed,
            only_apps: options.only_apps,
            alive: options.alive,
            config: Mutex::new(config.clone()),
            reloader: options.reloader,
        };
        for wanted in control.wanted(config) {
            control.add(wanted);
        }
        control
    }

    /// Every instance `config` asks for.
    fn wanted(&self, config: &Config) -> Vec<Wanted> {
        let mut out = Vec::new();
        for app in &config.apps {
            let Some(class) = self.registry.get(&app.class_name) else {
                continue;
            };
            let selected = self.only_apps.is_empty() || self.only_apps.contains(&app.key);
            for instance in &app.instances {
                out.push(Wanted {
                    key: app.key.clone(),
                    instance: instance.name.clone(),
                    class: class.clone(),
                    config: instance.config.clone(),
                    cache_size: config.cache_size(app),
                    mailbox_budget: usize::try_from(config.mailbox_budget(app))
                        .unwrap_or(usize::MAX),
                    restart: app.restart,
                    enabled: app.enabled && selected,
                });
            }
        }
        out
    }

    fn add(&self, w: Wanted) -> Arc<Slot> {
        let slot = Arc::new(Slot {
            key: w.key,
            instance: w.instance,
            class: w.class,
            tracker: Arc::new(Tracker::new(self.timed)),
            run: Mutex::new(SlotRun {
                config: w.config,
                restart: w.restart,
                cache_size: w.cache_size,
                mailbox_budget: w.mailbox_budget,
                enabled: w.enabled,
                removed: false,
                cancel: None,
                task: None,
                reconnect: None,
            }),
            op: tokio::sync::Mutex::new(()),
        });
        self.slots
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&slot));
        slot
    }

    /// Every slot still configured.
    pub(crate) fn slots(&self) -> Vec<Arc<Slot>> {
        self.slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|s| !s.run().removed)
            .cloned()
            .collect()
    }

    pub(crate) fn find(&self, app: &str, instance: &str) -> Option<Arc<Slot>> {
        self.slots()
            .into_iter()
            .find(|s| s.key == app && s.instance == instance)
    }

    pub(crate) fn get(&self, app: &str, instance: &str) -> Result<Arc<Slot>, ControlError> {
        self.find(app, instance)
            .ok_or_else(|| ControlError::UnknownInstance {
                app: app.to_owned(),
                instance: instance.to_owned(),
                known: self
                    .slots()
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Starts `slot`'s task now; the receiver tells whether `initialize` succeeded.
    pub(crate) fn launch(&self, slot: &Slot) -> Ready {
        let mut run = slot.run();
        let cancel = self.cancel_apps.child_token();
        let launched = slot.class.launch(supervisor::Launch {
            key: slot.key.clone(),
            instance: slot.instance.clone(),
            config: run.config.clone(),
            shared: self.shared.clone(),
            cancel: cancel.clone(),
            startup_timeout: self.startup_timeout,
            shutdown_timeout: self.shutdown_timeout,
            mailbox_budget: run.mailbox_budget,
            cache_size: run.cache_size,
            restart: run.restart,
            alive: self.alive.clone(),
            tracker: Arc::clone(&slot.tracker),
        });
        run.cancel = Some(cancel);
        run.task = Some(launched.task);
        run.reconnect = Some(Arc::new(launched.reconnected));
        launched.ready
    }

    /// The enabled instances, launched concurrently.
    pub(crate) fn launch_enabled(&self) -> Vec<(Arc<Slot>, Ready)> {
        self.slots()
            .into_iter()
            .filter(|s| s.enabled())
            .map(|s| {
                let ready = self.launch(&s);
                (s, ready)
            })
            .collect()
    }

    pub(crate) async fn start(&self, slot: &Slot) -> Result<InstanceState, ControlError> {
        let _op = slot.op.lock().await;
        self.start_locked(slot).await
    }

    async fn start_locked(&self, slot: &Slot) -> Result<InstanceState, ControlError> {
        if self.cancel_apps.is_cancelled() {
            return Err(ControlError::ShuttingDown);
        }
        if slot.is_running() {
            return Err(ControlError::AlreadyRunning(slot.name()));
        }
        let ready = self.launch(slot);
        match ready.await {
            Ok(Ok(())) => Ok(slot.tracker.state()),
            Ok(Err(reason)) => Err(ControlError::StartFailed {
                name: slot.name(),
                reason,
            }),
            Err(_) => Err(ControlError::StartFailed {
                name: slot.name(),
                reason: "the instance's task ended".to_owned(),
            }),
        }
    }

    pub(crate) async fn stop(&self, slot: &Slot) -> Result<InstanceState, ControlError> {
        let _op = slot.op.lock().await;
        if !slot.is_running() {
            return Err(ControlError::NotRunning(slot.name()));
        }
        self.stop_locked(slot).await;
        Ok(slot.tracker.state())
    }

    /// Cancels the task and waits for its shutdown hook (a stuck handler is abandoned).
    async fn stop_locked(&self, slot: &Slot) {
        let (cancel, task) = {
            let mut run = slot.run();
            run.reconnect = None;
            (run.cancel.take(), run.task.take())
        };
        if let Some(cancel) = cancel {
            cancel.cancel();
        }
        if let Some(mut task) = task
            && tokio::time::timeout(self.shutdown_timeout * 2, &mut task)
                .await
                .is_err()
        {
            tracing::error!(app = %slot.name(), "the app did not stop in time (stuck in a handler?); abandoning it");
            task.abort();
            slot.tracker.ended(InstanceState::Stopped);
        }
        if slot.tracker.state() != InstanceState::Failed {
            slot.tracker.ended(InstanceState::Stopped);
        }
    }

    pub(crate) async fn restart(&self, slot: &Slot) -> Result<InstanceState, ControlError> {
        let _op = slot.op.lock().await;
        tracing::info!(app = %slot.key, instance = %slot.instance, "restarting");
        self.stop_locked(slot).await;
        self.start_locked(slot).await
    }

    /// Tells every running instance which entities changed while the connection was away.
    pub(crate) fn reconnected(&self, changed: &Arc<[StateChanged]>) {
        for slot in self.slots() {
            let hook = slot.run().reconnect.clone();
            if let Some(hook) = hook {
                hook(Arc::clone(changed));
            }
        }
    }

    /// Stops every instance (each runs its shutdown hook) and waits until `deadline`.
    pub(crate) async fn shutdown(&self, deadline: tokio::time::Instant) {
        self.cancel_apps.cancel();
        let slots: Vec<Arc<Slot>> = self
            .slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for slot in slots {
            let task = slot.run().task.take();
            if let Some(mut task) = task
                && tokio::time::timeout_at(deadline, &mut task).await.is_err()
            {
                tracing::error!(app = %slot.name(), "the app did not stop in time (stuck in a handler?); abandoning it");
                task.abort();
                slot.tracker.ended(InstanceState::Stopped);
            }
        }
    }

    pub(crate) fn cache_classes(&self) -> Vec<ClassCache> {
        let config = self.config.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for app in &config.apps {
            if self.registry.get(&app.class_name).is_some() && seen.insert(app.class_name.clone()) {
                out.push(ClassCache {
                    class: app.class_name.clone(),
                    dir: config.cache_dir(&app.class_name),
                    size_limit: config.cache_size(app),
                });
            }
        }
        out
    }

    pub(crate) fn data_dir(&self) -> std::path::PathBuf {
        self.config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .data_dir
            .clone()
    }

    pub(crate) fn logs_dir(&self) -> std::path::PathBuf {
        self.config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .logs_dir()
    }

    pub(crate) async fn reload(&self) -> Result<ReloadReport, ControlError> {
        let reloader = self.reloader.clone().ok_or(ControlError::NoReload)?;
        let new = tokio::task::spawn_blocking(move || (reloader.0)())
            .await
            .map_err(|e| ControlError::Reload(e.to_string()))?
            .map_err(ControlError::Reload)?;
        let mut report = ReloadReport {
            needs_process_restart: process_changes(
                &self.config.lock().unwrap_or_else(PoisonError::into_inner),
                &new,
            ),
            ..ReloadReport::default()
        };
        let wanted = self.wanted(&new);
        let mut kept = BTreeSet::new();
        for w in wanted {
            kept.insert((w.key.clone(), w.instance.clone()));
            let (table, size, budget, restart, enabled) = (
                w.config.clone(),
                w.cache_size,
                w.mailbox_budget,
                w.restart,
                w.enabled,
            );
            // A new slot starts as "was disabled", so that an enabled one is started below.
            let fresh = Wanted {
                enabled: !w.enabled,
                ..w.clone()
            };
            let slot = match self.find(&w.key, &w.instance) {
                Some(slot) if slot.class.name() == w.class.name() => slot,
                Some(old) => {
                    // Another class under the same name: a new instance altogether.
                    self.retire(&old, &mut report).await;
                    self.add(fresh)
                }
                None => self.add(fresh),
            };
            let _op = slot.op.lock().await;
            let (changed, was_enabled) = {
                let mut run = slot.run();
                let changed = run.config != table
                    || run.cache_size != size
                    || run.mailbox_budget != budget
                    || run.restart != restart;
                let was = run.enabled;
                run.config = table;
                run.cache_size = size;
                run.mailbox_budget = budget;
                run.restart = restart;
                run.enabled = enabled;
                (changed, was)
            };
            let name = slot.name();
            let running = slot.is_running();
            let outcome = match (enabled, running) {
                (false, true) => {
                    self.stop_locked(&slot).await;
                    report.stopped.push(name);
                    continue;
                }
                (false, false) => {
                    report.unchanged += 1;
                    continue;
                }
                (true, true) if !changed => {
                    report.unchanged += 1;
                    continue;
                }
                (true, true) => {
                    self.stop_locked(&slot).await;
                    report.restarted.push(name.clone());
                    self.start_locked(&slot).await
                }
                (true, false) if was_enabled && !changed => {
                    // Failed or stopped by hand, and the file did not touch it: leave it.
                    report.unchanged += 1;
                    continue;
                }
                (true, false) => {
                    report.started.push(name.clone());
                    self.start_locked(&slot).await
                }
            };
            if let Err(e) = outcome {
                report.failed.push(e.to_string());
            }
        }
        for slot in self.slots() {
            if !kept.contains(&(slot.key.clone(), slot.instance.clone())) {
                self.retire(&slot, &mut report).await;
            }
        }
        *self.config.lock().unwrap_or_else(PoisonError::into_inner) = new;
        tracing::info!(
            restarted = report.restarted.len(),
            started = report.started.len(),
            stopped = report.stopped.len(),
            failed = report.failed.len(),
            "configuration reloaded"
        );
        Ok(report)
    }

    /// Stops an instance the configuration no longer has, and forgets it.
    async fn retire(&self, slot: &Slot, report: &mut ReloadReport) {
        let _op = slot.op.lock().await;
        if slot.is_running() {
            self.stop_locked(slot).await;
        }
        slot.run().removed = true;
        report.stopped.push(slot.name());
    }
}

/// The `[hassette]` settings that differ and need a process restart to apply.
fn process_changes(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, same: bool| {
        if !same {
            out.push(format!("hassette.{name}"));
        }
    };
    check("base_url", old.base_url == new.base_url);
    check(
        "token",
        old.token.as_ref().map(crate::config::Secret::expose)
            == new.token.as_ref().map(crate::config::Secret::expose),
    );
    check("verify_ssl", old.verify_ssl == new.verify_ssl);
    check("data_dir", old.data_dir == new.data_dir);
    check(
        "cache_flush_interval",
        old.cache_flush_interval == new.cache_flush_interval,
    );
    check("log_level", old.log_level == new.log_level);
    check(
        "log_retention_days",
        old.log_retention_days == new.log_retention_days,
    );
    check("log_max_size", old.log_max_size == new.log_max_size);
    check(
        "command_timeout",
        old.command_timeout == new.command_timeout,
    );
    check(
        "heartbeat_interval",
        old.heartbeat_interval == new.heartbeat_interval,
    );
    check(
        "heartbeat_timeout",
        old.heartbeat_timeout == new.heartbeat_timeout,
    );
    check(
        "reconnect_initial_delay",
        old.reconnect_initial_delay == new.reconnect_initial_delay,
    );
    check(
        "reconnect_max_delay",
        old.reconnect_max_delay == new.reconnect_max_delay,
    );
    check(
        "app_startup_timeout",
        old.app_startup_timeout == new.app_startup_timeout,
    );
    check(
        "app_shutdown_timeout",
        old.app_shutdown_timeout == new.app_shutdown_timeout,
    );
    check("web", old.web == new.web);
    out
}
