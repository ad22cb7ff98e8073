//! Logging: human-readable lines on the console, and a persistent store under
//! `<data_dir>/logs/` that `hassette log` reads directly, whether or not `hassette run` is
//! running.
//!
//! Every record logged inside an app instance's span carries the app key, class and instance;
//! framework records carry their component (`ha`, `bus`, `scheduler`, `cache`, `runtime`).
//! The store is written by its own thread from a bounded queue, so a slow disk never blocks
//! an app: when the queue is full, records are dropped from the store (never from the
//! console) and counted.
//!
//! # Examples
//!
//! ```
//! use hassette_core::logging::{LogOptions, LogQuery, Matcher};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let options = LogOptions::new(dir.path().join("logs"), "debug");
//! let (layer, guard) = hassette_core::logging::store_layer(&options).unwrap();
//! let subscriber = tracing_subscriber::layer::SubscriberExt::with(
//!     tracing_subscriber::registry(),
//!     layer,
//! );
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("app", app = "porch", class = "MotionLight", instance = "front");
//!     span.in_scope(|| tracing::info!(entity = "light.porch", "light on"));
//! });
//! guard.flush();
//!
//! let mut query = LogQuery::default();
//! query.app = Some("porch".into());
//! let (matches, _) = Matcher::new(query).unwrap().run(&dir.path().join("logs")).unwrap();
//! assert_eq!(matches[0].record.msg, "light on");
//! assert_eq!(matches[0].record.instance.as_deref(), Some("front"));
//! ```

mod console;
mod layer;
mod levels;
mod query;
mod record;
mod since;
mod store;

use std::io::IsTerminal;
use std::path::PathBuf;

use jiff::SignedDuration;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use layer::StoreLayer;
pub use query::{Cursor, LogQuery, MAX_LINE, Match, Matcher};
pub use record::Record;
pub use since::{ACCEPTED_FORMS, parse_when};

pub(crate) use levels::app_level;

use crate::config::Secret;

/// The default retention of the store, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 7;
/// The default total size cap of the store (200 MiB).
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 200 * 1024 * 1024;

/// How to log.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LogOptions {
    /// The store's directory, `<data_dir>/logs`.
    pub dir: PathBuf,
    /// The filter: a level or `tracing` directives (`info,hassette_core::ha=debug`).
    pub filter: String,
    /// Whether to print to the console (stderr) too.
    pub console: bool,
    /// Files whose records are all older than this many days are deleted.
    pub retention_days: u32,
    /// The oldest files are deleted while the store is larger than this.
    pub max_total_bytes: u64,
    /// A new file starts when the current one is this large (and every hour).
    pub max_file_bytes: u64,
    /// Records that may wait for the store's writer before new ones are dropped.
    pub queue: usize,
    /// The access token, replaced by `***` should it ever appear in a record.
    pub secret: Option<Secret>,
    /// Per-app levels (`log_level` in `[hassette.apps.<key>]`): app key and level. They
    /// apply to everything logged inside the app's instances, above or below `filter`.
    pub app_levels: Vec<(String, String)>,
}

impl LogOptions {
    /// Options with the defaults: console on, 7 days, 200 MiB, 16 MiB files.
    #[must_use]
    pub fn new(dir: PathBuf, filter: &str) -> Self {
        Self {
            dir,
            filter: filter.to_owned(),
            console: true,
            retention_days: DEFAULT_RETENTION_DAYS,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            max_file_bytes: 16 * 1024 * 1024,
            queue: 65_536,
            secret: None,
            app_levels: Vec::new(),
        }
    }
}

/// Keeps the store's writer running; flushes and stops it when dropped (at shutdown, after
/// everything else has logged its last words).
#[derive(Debug)]
pub struct LogGuard {
    sender: store::StoreSender,
}

impl LogGuard {
    /// Waits until every record logged so far is in the store's files.
    pub fn flush(&self) {
        self.sender.flush();
    }

    /// Records the store dropped because its writer fell behind.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.sender.dropped()
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // The layer keeps its own sender (a global subscriber lives as long as the process),
        // so the writer thread outlives the guard: flushing is what makes shutdown lossless.
        self.flush();
    }
}

/// The store layer alone, for composing with other layers (and for tests).
///
/// # Errors
///
/// The store's directory cannot be created, or its writer thread cannot start.
pub fn store_layer(options: &LogOptions) -> std::io::Result<(StoreLayer, LogGuard)> {
    let store_options = store::StoreOptions {
        dir: options.dir.clone(),
        retention: SignedDuration::from_hours(i64::from(options.retention_days) * 24),
        max_total_bytes: options.max_total_bytes,
        max_file_bytes: options.max_file_bytes,
        queue: options.queue,
    };
    let sender = store::start(store_options)?;
    let secret = options.secret.as_ref().map(|s| s.expose().to_owned());
    let layer = StoreLayer::new(sender.clone(), secret);
    Ok((layer, LogGuard { sender }))
}

/// Installs the console and store layers as the process's global subscriber.
///
/// # Errors
///
/// A bad filter (named in the message), or the store cannot start; also if a global
/// subscriber is already installed.
pub fn init(options: &LogOptions) -> Result<LogGuard, String> {
    let global = EnvFilter::try_new(levels::normalize(&options.filter))
        .map_err(|e| format!("log level {:?}: {e}", options.filter))?;
    let mut apps = std::collections::HashMap::new();
    for (app, level) in &options.app_levels {
        let level = levels::app_level(level).map_err(|e| format!("app `{app}`: log_level: {e}"))?;
        apps.insert(app.clone(), level);
    }
    let filter = levels::Levels::new(global, apps);
    let (store, guard) = store_layer(options).map_err(|e| {
        format!(
            "cannot start the log store in {}: {e}{}",
            options.dir.display(),
            crate::private_files::permission_advice(&options.dir, &e)
        )
    })?;
    let console = options.console.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .event_format(console::Console::new())
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(console)
        .with(store)
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(guard)
}
