//! `hassette.toml`: finding it, layering it with the environment, a `.env` file and flags, and
//! validating all of it, including every app instance's own config, before anything connects.
//!
//! Sources, strongest first: command-line flags, the environment (`HASSETTE__BASE_URL`,
//! `HASSETTE__APPS__<KEY>__CONFIG__<FIELD>`, ...), a `.env` file (beside the config file, then
//! in the working directory), the TOML file, the defaults.
//!
//! # Examples
//!
//! ```
//! use hassette_core::app::{App, AppContext, AppRegistry, BoxError};
//! use hassette_core::config::{LoadOptions, load};
//!
//! #[derive(serde::Deserialize)]
//! struct LightConfig { light: String }
//! struct NightLight { }
//! impl App for NightLight {
//!     type Config = LightConfig;
//!     type Message = ();
//!     async fn initialize(_: LightConfig, _: &AppContext<Self>) -> Result<Self, BoxError> {
//!         Ok(Self {})
//!     }
//! }
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("hassette.toml"), r#"
//! [hassette]
//! base_url = "http://ha.local:8123"
//! data_dir = "data"
//!
//! [hassette.apps.hall]
//! class_name = "NightLight"
//! config = { light = "light.hall" }
//! "#).unwrap();
//!
//! let mut registry = AppRegistry::new();
//! registry.register::<NightLight>();
//! let options = LoadOptions { cwd: Some(dir.path().into()), env: Some(vec![]), ..LoadOptions::default() };
//! let config = load(&options, &registry).unwrap();
//! assert_eq!(config.websocket_url.as_str(), "ws://ha.local:8123/api/websocket");
//! assert_eq!(config.apps[0].instances[0].name, "NightLight.0");
//! assert_eq!(config.cache_dir("NightLight"), dir.path().join("data/NightLight/cache"));
//! ```

// Configuration is loaded once at startup; a large error type costs nothing there, and keeping
// every detail of the problem inline keeps the messages precise.
#![allow(clippy::result_large_err)]

mod error;
mod schema;
mod source;
mod validate;
mod web;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::secret::Secret;
pub(crate) use error::closest;
pub use error::{ConfigError, Origin};
pub(crate) use schema::{duration_from_secs, parse_duration};
pub use source::search_paths;
pub use validate::parse_base_url;
pub use web::{DEFAULT_WEB_LISTEN, WebConfig};

use crate::app::AppRegistry;

/// The default `base_url`.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8123";
/// The default size limit of each app class's cache, in bytes (100 MiB).
pub const DEFAULT_CACHE_SIZE: u64 = 104_857_600;

/// The default per-instance mailbox budget: 32 MiB. A queued `state_changed` costs about its
/// size on the wire (typically 0.5 to 1.5 KiB), so some 20,000 to 60,000 events fit: a burst
/// from a Home Assistant restart or a Zigbee mesh rejoining is delivered whole, while an app
/// that never catches up cannot grow without bound.
pub const DEFAULT_MAILBOX_BUDGET: u64 = 32 << 20;
/// The default log level.
pub const DEFAULT_LOG_LEVEL: &str = "INFO";

/// The whole, validated configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// Home Assistant's address, as given (`http` or `https`).
    pub base_url: url::Url,
    /// The websocket endpoint derived from `base_url` (`ws://.../api/websocket` or `wss://`).
    pub websocket_url: url::Url,
    /// The long-lived access token, if one is configured. Prints as `***`.
    pub token: Option<Secret>,
    /// Whether to verify Home Assistant's TLS certificate.
    pub verify_ssl: bool,
    /// The root of all persistent data: caches and logs.
    pub data_dir: PathBuf,
    /// Where `data_dir` was set; [`Origin::Default`] when it is the platform's default.
    pub data_dir_origin: Origin,
    /// The size limit of each app class's cache, unless the app sets `cache_size`.
    pub default_cache_size: u64,
    /// How many bytes of undelivered messages each app instance's mailbox holds before it
    /// drops new ones (`mailbox_budget`, default 32 MiB), unless the app sets its own.
    pub default_mailbox_budget: u64,
    /// How often cache writes are made durable (a power loss loses at most this much).
    pub cache_flush_interval: Duration,
    /// Bytes of values each app class's cache keeps in memory for disk-free reads.
    pub cache_memory_budget: u64,
    /// The log filter: a level (`INFO`) or directives (`info,hassette_core::ha=debug`).
    pub log_level: String,
    /// Log store files whose records are all older than this many days are deleted.
    pub log_retention_days: u32,
    /// The oldest log store files are deleted while the store is larger than this.
    pub log_max_size: u64,
    /// How long a command to Home Assistant may take before it fails.
    pub command_timeout: Duration,
    /// How often the connection is checked with a `ping`.
    pub heartbeat_interval: Duration,
    /// How long a `pong` may take before the connection is considered dead.
    pub heartbeat_timeout: Duration,
    /// The first delay before reconnecting; it doubles after every failed attempt.
    pub reconnect_initial_delay: Duration,
    /// The longest delay between reconnection attempts.
    pub reconnect_max_delay: Duration,
    /// How long an app's `initialize` may take.
    pub app_startup_timeout: Duration,
    /// How long an app's `shutdown` may take.
    pub app_shutdown_timeout: Duration,
    /// `[hassette.web]`: the status API and web UI.
    pub web: WebConfig,
    /// Every configured app, sorted by key.
    pub apps: Vec<AppConfig>,
    /// Things that are allowed but probably wrong (a world-readable token file, ...).
    pub warnings: Vec<String>,
}

/// One `[hassette.apps.<key>]` table.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AppConfig {
    /// The app key (`porch_light` in `[hassette.apps.porch_light]`).
    pub key: String,
    /// The registered app class it runs.
    pub class_name: String,
    /// Whether `hassette run` starts it.
    pub enabled: bool,
    /// This app's cache size limit, if it overrides `default_cache_size`.
    pub cache_size: Option<u64>,
    /// This app's per-instance mailbox budget, if it overrides `mailbox_budget`.
    pub mailbox_budget: Option<u64>,
    /// The instances: one per `config` table.
    pub instances: Vec<InstanceConfig>,
    /// This app's own log level (`log_level` in its table), if it overrides the global one.
    pub log_level: Option<String>,
    /// What happens when an instance's `initialize` fails or it panics.
    pub restart: RestartPolicy,
}

/// Whether a failed app instance is started again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Restart {
    /// A failed instance stays stopped (`restart = "never"`).
    Never,
    /// A failed `initialize` or a panic restarts the instance, with backoff, within limits
    /// (`restart = "on-failure"`, the default).
    OnFailure,
}

/// An app's restart policy: `restart`, `max_restarts`, `restart_window`, `restart_delay`.
///
/// With the defaults, a failing instance is restarted after 1 s, 2 s, 4 s, 8 s and 16 s; a
/// sixth failure within 10 minutes stops it for good. A handler that returns an error is not a
/// failure (the app carries on); a panic, or a failed or timed-out `initialize`, is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestartPolicy {
    /// Whether to restart at all.
    pub restart: Restart,
    /// At most this many restarts within [`RestartPolicy::window`]; then the instance stays
    /// stopped.
    pub max_restarts: u32,
    /// The window the restarts are counted in.
    pub window: Duration,
    /// The wait before the first restart; it doubles with each restart in the window, up to
    /// [`MAX_RESTART_DELAY`].
    pub delay: Duration,
}

/// The longest wait before a restart.
pub const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            restart: Restart::OnFailure,
            max_restarts: 5,
            window: Duration::from_secs(600),
            delay: Duration::from_secs(1),
        }
    }
}

/// One instance of an app: one `config` table.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InstanceConfig {
    /// Its position in the app's `config` array (0 for a single table).
    pub index: usize,
    /// `instance_name`, or `<ClassName>.<index>`.
    pub name: String,
    /// The app's own settings, without `instance_name`; already checked against the app's
    /// `Config` type.
    pub config: toml::Table,
    /// Where the table is.
    pub origin: Origin,
}

impl Config {
    /// The cache directory of an app class: `<data_dir>/<ClassName>/cache`.
    #[must_use]
    pub fn cache_dir(&self, class_name: &str) -> PathBuf {
        self.data_dir.join(class_name).join("cache")
    }

    /// The log store's directory: `<data_dir>/logs`.
    #[must_use]
    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    /// The cache size limit that applies to `app`.
    #[must_use]
    pub fn cache_size(&self, app: &AppConfig) -> u64 {
        app.cache_size.unwrap_or(self.default_cache_size)
    }

    /// The mailbox budget of each instance of `app`, in bytes.
    #[must_use]
    pub fn mailbox_budget(&self, app: &AppConfig) -> u64 {
        app.mailbox_budget.unwrap_or(self.default_mailbox_budget)
    }

    /// The app with this key.
    #[must_use]
    pub fn app(&self, key: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|a| a.key == key)
    }

    /// Creates `data_dir` if it is missing and checks that a file can be written in it, so
    /// that a bad `data_dir` is one clear error before anything connects, not a cache or log
    /// failure later.
    ///
    /// # Errors
    ///
    /// [`ConfigError::DataDir`], with the path, where it was set, and the OS's reason.
    pub fn check_data_dir(&self) -> Result<(), ConfigError> {
        let fail = |action, source: std::io::Error| ConfigError::DataDir {
            origin: self.data_dir_origin.clone(),
            path: self.data_dir.clone(),
            action,
            advice: crate::private_files::permission_advice(&self.data_dir, &source),
            source,
        };
        // A new one is private (0700); an existing one is left as its owner made it.
        if !self.data_dir.is_dir() {
            crate::private_files::create_dir(&self.data_dir).map_err(|e| fail("create", e))?;
        }
        let probe = self
            .data_dir
            .join(format!(".hassette-write-check-{}", std::process::id()));
        std::fs::write(&probe, b"hassette").map_err(|e| fail("write to", e))?;
        std::fs::remove_file(&probe).map_err(|e| fail("remove a file in", e))
    }
}

/// What to load, and the strongest layer: the command-line flags.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `-c/--config`; without it the file is searched for (see [`search_paths`]).
    pub config_file: Option<PathBuf>,
    /// The working directory to search from; the process's own when `None`.
    pub cwd: Option<PathBuf>,
    /// The environment; the process's own when `None` (tests pass their own).
    pub env: Option<Vec<(String, String)>>,
    /// `--base-url`.
    pub base_url: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--log-level`.
    pub log_level: Option<String>,
}

/// Finds, reads, layers and validates the configuration, and checks every enabled app
/// instance's config against its registered type.
///
/// # Errors
///
/// A [`ConfigError`] (or [`ConfigError::Several`]) naming the file, line, key, app and
/// instance of every problem found.
pub fn load(options: &LoadOptions, registry: &AppRegistry) -> Result<Config, ConfigError> {
    let cwd = match &options.cwd {
        Some(cwd) => cwd.clone(),
        None => std::env::current_dir().map_err(|source| ConfigError::Read {
            path: PathBuf::from("."),
            source,
        })?,
    };
    let file = source::discover(options.config_file.as_deref(), &cwd)?;
    let mut layered = source::read_file(&file)?;
    let mut errors = Vec::new();

    let file_dir = file.parent().map_or_else(|| cwd.clone(), Path::to_path_buf);
    let mut dotenv_files = vec![file_dir.join(".env")];
    if cwd != file_dir {
        dotenv_files.push(cwd.join(".env"));
    }
    // The first .env found is the stronger one, so apply them weakest first.
    let mut dotenv_vars = source::read_dotenv(&dotenv_files)?;
    dotenv_vars.reverse();
    let env_vars: Vec<(String, String, Origin)> = options
        .env
        .clone()
        .unwrap_or_else(|| std::env::vars().collect())
        .into_iter()
        .filter(|(k, _)| source::has_prefix(k))
        .map(|(k, v)| (k.clone(), v, Origin::Env(k)))
        .collect();
    source::apply_env(
        &mut layered,
        dotenv_vars.into_iter().chain(env_vars),
        &mut errors,
    );
    apply_flags(&mut layered, options);

    let dirs = validate::Dirs { file_dir, cwd };
    let config = validate::validate(&layered, &file, &dirs, registry, &mut errors);
    match ConfigError::from_list(errors) {
        Some(err) => Err(err),
        None => Ok(config),
    }
}

fn apply_flags(layered: &mut Layered, options: &LoadOptions) {
    let flags: [(&str, &str, Option<String>); 3] = [
        ("base_url", "--base-url", options.base_url.clone()),
        (
            "data_dir",
            "--data-dir",
            options.data_dir.as_ref().map(|p| p.display().to_string()),
        ),
        ("log_level", "--log-level", options.log_level.clone()),
    ];
    for (key, flag, value) in flags {
        if let Some(value) = value {
            source::table_entry(&mut layered.root, "hassette")
                .insert(key.to_owned(), toml::Value::String(value));
            layered
                .origins
                .insert(format!("hassette.{key}"), Origin::Flag(flag.to_owned()));
        }
    }
}

use source::Layered;
