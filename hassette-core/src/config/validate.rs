//! Turning the layered TOML table into a [`Config`], collecting every problem on the way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{ConfigError, Origin, closest};
use super::schema::{self, APP_KEYS, HASSETTE_KEYS, Kind};
use super::source::Layered;
use super::{
    AppConfig, Config, DEFAULT_BASE_URL, DEFAULT_CACHE_SIZE, DEFAULT_LOG_LEVEL,
    DEFAULT_MAILBOX_BUDGET,
};
use super::{InstanceConfig, Restart, RestartPolicy, Secret};
use crate::app::AppRegistry;

/// The directories relative paths are resolved against: the config file's for paths set in a
/// file, the working directory's for paths set by flags or the environment.
pub(crate) struct Dirs {
    pub(crate) file_dir: PathBuf,
    pub(crate) cwd: PathBuf,
}

/// Reads typed values out of the layered table, recording errors with their origin.
struct Reader<'a> {
    layered: &'a Layered,
    errors: &'a mut Vec<ConfigError>,
}

impl Reader<'_> {
    fn wrong_type(&mut self, key: &str, kind: Kind, value: &toml::Value) {
        self.errors.push(ConfigError::WrongType {
            origin: self.layered.origin(key),
            key: key.to_owned(),
            expected: kind.expected(),
            found: schema::describe(value),
        });
    }

    fn invalid(&mut self, key: &str, message: String) {
        self.errors.push(ConfigError::Invalid {
            origin: self.layered.origin(key),
            key: key.to_owned(),
            message,
        });
    }

    fn string(&mut self, table: &toml::Table, prefix: &str, name: &str) -> Option<String> {
        let key = format!("{prefix}.{name}");
        match table.get(name)? {
            toml::Value::String(s) => Some(s.clone()),
            other => {
                self.wrong_type(&key, Kind::Str, other);
                None
            }
        }
    }

    fn bool(&mut self, table: &toml::Table, prefix: &str, name: &str) -> Option<bool> {
        match table.get(name)? {
            toml::Value::Boolean(b) => Some(*b),
            other => {
                self.wrong_type(&format!("{prefix}.{name}"), Kind::Bool, other);
                None
            }
        }
    }

    fn size(&mut self, table: &toml::Table, prefix: &str, name: &str) -> Option<u64> {
        let key = format!("{prefix}.{name}");
        let parsed = match table.get(name)? {
            toml::Value::Integer(i) => {
                u64::try_from(*i).map_err(|_| format!("{i} must not be negative"))
            }
            toml::Value::String(s) => schema::parse_size(s),
            other => {
                self.wrong_type(&key, Kind::Size, other);
                return None;
            }
        };
        match parsed {
            Ok(0) => {
                self.invalid(&key, "must be greater than zero".to_owned());
                None
            }
            Ok(bytes) => Some(bytes),
            Err(message) => {
                self.invalid(&key, message);
                None
            }
        }
    }

    fn count(&mut self, table: &toml::Table, prefix: &str, name: &str) -> Option<u32> {
        let key = format!("{prefix}.{name}");
        match table.get(name)? {
            toml::Value::Integer(i) => match u32::try_from(*i) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.invalid(&key, format!("{i} is out of range (0 to {})", u32::MAX));
                    None
                }
            },
            other => {
                self.wrong_type(&key, Kind::Count, other);
                None
            }
        }
    }

    fn duration(
        &mut self,
        table: &toml::Table,
        prefix: &str,
        name: &str,
        default: Duration,
    ) -> Duration {
        let key = format!("{prefix}.{name}");
        let parsed = match table.get(name) {
            None => return default,
            #[allow(clippy::cast_precision_loss)]
            Some(toml::Value::Integer(i)) => schema::duration_from_secs(*i as f64),
            Some(toml::Value::Float(f)) => schema::duration_from_secs(*f),
            Some(toml::Value::String(s)) => schema::parse_duration(s),
            Some(other) => {
                self.wrong_type(&key, Kind::Duration, other);
                return default;
            }
        };
        match parsed {
            Ok(d) if d.is_zero() => {
                self.invalid(&key, "must be greater than zero".to_owned());
                default
            }
            Ok(d) => d,
            Err(message) => {
                self.invalid(&key, message);
                default
            }
        }
    }

    /// Reports every key of `table` not in `known`, with the closest known key.
    fn unknown_keys(&mut self, table: &toml::Table, prefix: &str, known: &[&str]) {
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                let full = super::source::join(prefix, key);
                self.errors.push(ConfigError::UnknownKey {
                    origin: self.layered.origin(&full),
                    suggestion: closest(key, known.iter().copied()),
                    key: full,
                });
            }
        }
    }

    fn path(&self, value: &str, key: &str, dirs: &Dirs) -> PathBuf {
        let path = PathBuf::from(value);
        if path.is_absolute() {
            return path;
        }
        match self.layered.origin(key) {
            Origin::File { .. } | Origin::DotEnv { .. } => dirs.file_dir.join(path),
            _ => dirs.cwd.join(path),
        }
    }
}

pub(crate) fn validate(
    layered: &Layered,
    file: &Path,
    dirs: &Dirs,
    registry: &AppRegistry,
    errors: &mut Vec<ConfigError>,
) -> Config {
    let mut r = Reader { layered, errors };
    r.unknown_keys(&layered.root, "", &["hassette"]);
    let empty = toml::Table::new();
    let h = match layered.root.get("hassette") {
        Some(toml::Value::Table(t)) => t,
        Some(other) => {
            r.wrong_type("hassette", Kind::Table, other);
            &empty
        }
        None => &empty,
    };
    let known: Vec<&str> = HASSETTE_KEYS.iter().map(|(k, _)| *k).collect();
    r.unknown_keys(h, "hassette", &known);

    let mut warnings = Vec::new();
    let base_url_text = r
        .string(h, "hassette", "base_url")
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let (base_url, websocket_url) = match parse_base_url(&base_url_text) {
        Ok(urls) => urls,
        Err(message) => {
            r.invalid("hassette.base_url", message);
            parse_base_url(DEFAULT_BASE_URL)
                .unwrap_or_else(|_| unreachable!("the default base URL is valid"))
        }
    };
    let verify_ssl = r.bool(h, "hassette", "verify_ssl").unwrap_or(true);
    if !verify_ssl && base_url.scheme() == "https" {
        warnings.push(format!(
            "{}: verify_ssl = false: Home Assistant's TLS certificate will not be checked",
            layered.origin("hassette.verify_ssl")
        ));
    }
    let token = read_token(&mut r, h, dirs, &mut warnings);
    let data_dir = match r.string(h, "hassette", "data_dir") {
        Some(d) if d.trim().is_empty() => {
            r.invalid("hassette.data_dir", "must not be empty".to_owned());
            default_data_dir(dirs)
        }
        Some(d) => r.path(&d, "hassette.data_dir", dirs),
        None => default_data_dir(dirs),
    };
    let log_level = r
        .string(h, "hassette", "log_level")
        .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_owned());
    if let Err(message) = check_log_level(&log_level) {
        r.invalid("hassette.log_level", message);
    }
    let log_retention_days = r
        .count(h, "hassette", "log_retention_days")
        .unwrap_or(crate::logging::DEFAULT_RETENTION_DAYS);
    let log_max_size = r
        .size(h, "hassette", "log_max_size")
        .unwrap_or(crate::logging::DEFAULT_MAX_TOTAL_BYTES);
    let default_cache_size = r
        .size(h, "hassette", "default_cache_size")
        .unwrap_or(DEFAULT_CACHE_SIZE);
    let cache_memory_budget = r
        .size(h, "hassette", "cache_memory_budget")
        .unwrap_or(crate::cache::DEFAULT_MEMORY_BUDGET as u64);
    let default_mailbox_budget = r
        .size(h, "hassette", "mailbox_budget")
        .unwrap_or(DEFAULT_MAILBOX_BUDGET);
    let secs = Duration::from_secs;
    let cache_flush_interval = r.duration(h, "hassette", "cache_flush_interval", secs(1));
    let command_timeout = r.duration(h, "hassette", "command_timeout", secs(10));
    let heartbeat_interval = r.duration(h, "hassette", "heartbeat_interval", secs(5));
    let heartbeat_timeout = r.duration(h, "hassette", "heartbeat_timeout", secs(8));
    let reconnect_initial_delay = r.duration(h, "hassette", "reconnect_initial_delay", secs(1));
    let reconnect_max_delay = r.duration(h, "hassette", "reconnect_max_delay", secs(60));
    let app_startup_timeout = r.duration(h, "hassette", "app_startup_timeout", secs(10));
    let app_shutdown_timeout = r.duration(h, "hassette", "app_shutdown_timeout", secs(10));
    if reconnect_max_delay < reconnect_initial_delay {
        r.invalid(
            "hassette.reconnect_max_delay",
            "must not be shorter than reconnect_initial_delay".to_owned(),
        );
    }
    let web = read_web(&mut r, h);
    let apps = read_apps(&mut r, h, registry);
    check_shared_cache_sizes(&mut r, &apps, default_cache_size);
    Config {
        file: file.to_path_buf(),
        base_url,
        websocket_url,
        token,
        verify_ssl,
        data_dir,
        data_dir_origin: if h.contains_key("data_dir") {
            layered.origin("hassette.data_dir")
        } else {
            Origin::Default
        },
        default_cache_size,
        default_mailbox_budget,
        cache_flush_interval,
        cache_memory_budget,
        log_level,
        log_retention_days,
        log_max_size,
        command_timeout,
        heartbeat_interval,
        heartbeat_timeout,
        reconnect_initial_delay,
        reconnect_max_delay,
        app_startup_timeout,
        app_shutdown_timeout,
        web,
        apps,
        warnings,
    }
}

fn read_web(r: &mut Reader<'_>, h: &toml::Table) -> super::WebConfig {
    let table = match h.get("web") {
        None => return super::WebConfig::default(),
        Some(toml::Value::Table(t)) => t,
        Some(other) => {
            r.wrong_type("hassette.web", Kind::Table, other);
            return super::WebConfig::default();
        }
    };
    r.unknown_keys(table, "hassette.web", super::web::WEB_KEYS);
    let mut problems = Vec::new();
    let web = super::web::parse(table, &mut problems);
    for p in problems {
        match p.wrong {
            Some((kind, value)) => r.wrong_type(p.key, kind, &value),
            None => r.invalid(p.key, p.message),
        }
    }
    web
}

/// `http(s)://host[:port][/path]` → itself and `ws(s)://host[:port][/path]/api/websocket`
/// (derived by [`crate::ha::websocket_url`]).
///
/// # Errors
///
/// A message saying what is wrong, for anything but an http(s) or ws(s) URL with a host.
pub fn parse_base_url(text: &str) -> Result<(url::Url, url::Url), String> {
    let text = text.trim();
    if !text.contains("://") {
        return Err(format!(
            "{text:?} has no scheme; write base_url = \"http://{text}\" (or \"https://{text}\" for TLS)"
        ));
    }
    let ws = crate::ha::websocket_url(text).map_err(|e| match e {
        crate::ha::HaError::InvalidUrl { reason, .. } => {
            format!("{text:?} is not usable: {reason}")
        }
        other => other.to_string(),
    })?;
    let base = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    Ok((base, ws))
}

fn default_data_dir(dirs: &Dirs) -> PathBuf {
    dirs::data_dir().map_or_else(|| dirs.cwd.join(".hassette"), |d| d.join("hassette"))
}

/// Accepts a level (`info`) or `tracing` filter directives (`info,hassette_core::ha=debug`).
fn check_log_level(text: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        let lower = level.to_ascii_lowercase();
        if !LEVELS.contains(&lower.as_str()) && lower != "warning" {
            return Err(format!(
                "{level:?} is not a log level; use TRACE, DEBUG, INFO, WARN or ERROR, optionally \
                 with per-target overrides such as \"info,hassette_core::ha=debug\""
            ));
        }
    }
    Ok(())
}

fn read_token(
    r: &mut Reader<'_>,
    h: &toml::Table,
    dirs: &Dirs,
    warnings: &mut Vec<String>,
) -> Option<Secret> {
    let inline = r.string(h, "hassette", "token");
    let file = r.string(h, "hassette", "token_file");
    if let Some(token) = inline {
        let origin = r.layered.origin("hassette.token");
        if file.is_some() {
            warnings.push(format!(
                "{origin}: both token and token_file are set; token is used"
            ));
        }
        if let Origin::File { path, .. } | Origin::DotEnv { path, .. } = &origin {
            warn_if_world_readable(path, "holds the access token", warnings);
        }
        let token = token.trim();
        if token.is_empty() {
            r.invalid("hassette.token", "must not be empty".to_owned());
            return None;
        }
        return Some(Secret::new(token));
    }
    let file = file?;
    let path = r.path(&file, "hassette.token_file", dirs);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => {
            r.invalid(
                "hassette.token_file",
                format!("{} is empty", path.display()),
            );
            None
        }
        Ok(text) => {
            warn_if_world_readable(&path, "is the token_file", warnings);
            Some(Secret::new(text.trim()))
        }
        Err(source) => {
            let origin = r.layered.origin("hassette.token_file");
            r.errors.push(ConfigError::TokenFile {
                origin,
                path,
                source,
            });
            None
        }
    }
}

fn warn_if_world_readable(path: &Path, what: &str, warnings: &mut Vec<String>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o004 != 0 {
                warnings.push(format!(
                    "{} {what} and is readable by every user (mode {mode:o}); run: chmod 600 {}",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
}

fn read_apps(r: &mut Reader<'_>, h: &toml::Table, registry: &AppRegistry) -> Vec<AppConfig> {
    let apps = match h.get("apps") {
        None => return Vec::new(),
        Some(toml::Value::Table(t)) => t,
        Some(other) => {
            r.wrong_type("hassette.apps", Kind::Table, other);
            return Vec::new();
        }
    };
    let known: Vec<&str> = APP_KEYS.iter().map(|(k, _)| *k).collect();
    let mut out = Vec::new();
    // Instance names per class: instances of one class share a cache, and the names keep
    // their instance-scoped keys apart.
    let mut names: HashMap<(String, String), String> = HashMap::new();
    for (key, value) in apps {
        let prefix = format!("hassette.apps.{key}");
        let toml::Value::Table(app) = value else {
            r.wrong_type(&prefix, Kind::Table, value);
            continue;
        };
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            r.invalid(
                &prefix,
                "app keys may hold only letters, digits, `_` and `-`".to_owned(),
            );
        }
        r.unknown_keys(app, &prefix, &known);
        let Some(class_name) = r.string(app, &prefix, "class_name") else {
            if !app.contains_key("class_name") {
                r.errors.push(ConfigError::Missing {
                    origin: r.layered.origin(&prefix),
                    key: format!("{prefix}.class_name"),
                    hint: format!(
                        "registered app classes: {}",
                        registry.class_names().join(", ")
                    ),
                });
            }
            continue;
        };
        let enabled = r.bool(app, &prefix, "enabled").unwrap_or(true);
        let cache_size = r.size(app, &prefix, "cache_size");
        let mailbox_budget = r.size(app, &prefix, "mailbox_budget");
        let class = registry.get(&class_name);
        if class.is_none() {
            let known: Vec<String> = registry
                .class_names()
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            r.errors.push(ConfigError::UnknownClass {
                origin: r.layered.origin(&format!("{prefix}.class_name")),
                app: key.clone(),
                suggestion: closest(&class_name, known.iter().map(String::as_str)),
                class_name: class_name.clone(),
                known,
            });
        }
        let log_level = r.string(app, &prefix, "log_level");
        if let Some(level) = &log_level
            && let Err(message) = crate::logging::app_level(level)
        {
            r.invalid(&format!("{prefix}.log_level"), message);
        }
        let restart = read_restart(r, app, &prefix);
        let instances = read_instances(r, app, &prefix, key, &class_name, &mut names);
        if let (Some(class), true) = (class, enabled) {
            for instance in &instances {
                if let Err(problem) = class.check_config(&instance.config) {
                    let config_key = instance_key(app, &prefix, instance.index);
                    let origin = problem
                        .at
                        .as_ref()
                        .and_then(|f| r.layered.origins.get(&format!("{config_key}.{f}")).cloned())
                        .unwrap_or_else(|| instance.origin.clone());
                    r.errors.push(ConfigError::AppConfig {
                        origin,
                        app: key.clone(),
                        instance: instance.name.clone(),
                        class_name: class_name.clone(),
                        field: problem.field,
                        message: problem.message,
                    });
                }
            }
        }
        out.push(AppConfig {
            key: key.clone(),
            class_name,
            enabled,
            cache_size,
            mailbox_budget,
            instances,
            log_level,
            restart,
        });
    }
    out
}

/// All enabled apps of one class share one cache, so they must agree on its size: otherwise
/// whichever starts first would silently win.
fn check_shared_cache_sizes(r: &mut Reader<'_>, apps: &[AppConfig], default: u64) {
    let mut first: std::collections::HashMap<&str, (&str, u64)> = std::collections::HashMap::new();
    for app in apps.iter().filter(|a| a.enabled) {
        let size = app.cache_size.unwrap_or(default);
        match first.get(app.class_name.as_str()) {
            None => {
                first.insert(&app.class_name, (&app.key, size));
            }
            Some(&(other, other_size)) if other_size != size => {
                let key = format!("hassette.apps.{}.cache_size", app.key);
                let key = if app.cache_size.is_some() {
                    key
                } else {
                    format!("hassette.apps.{other}.cache_size")
                };
                r.invalid(
                    &key,
                    format!(
                        "apps `{other}` and `{}` both run class {}, whose instances share one \
                         cache, but ask for different cache sizes ({other_size} and {size} \
                         bytes); give both the same cache_size (or leave it out on both)",
                        app.key, app.class_name
                    ),
                );
            }
            Some(_) => {}
        }
    }
}

/// `restart`, `max_restarts`, `restart_window` and `restart_delay` of one app table.
fn read_restart(r: &mut Reader<'_>, app: &toml::Table, prefix: &str) -> RestartPolicy {
    let default = RestartPolicy::default();
    let restart = match r.string(app, prefix, "restart").as_deref() {
        None | Some("on-failure") => Restart::OnFailure,
        Some("never") => Restart::Never,
        Some(other) => {
            let suggestion = closest(other, ["on-failure", "never"])
                .map_or_else(String::new, |s| format!(" (did you mean \"{s}\"?)"));
            r.invalid(
                &format!("{prefix}.restart"),
                format!("{other:?} is not a restart policy; write restart = \"on-failure\" or restart = \"never\"{suggestion}"),
            );
            default.restart
        }
    };
    RestartPolicy {
        restart,
        max_restarts: r
            .count(app, prefix, "max_restarts")
            .unwrap_or(default.max_restarts),
        window: r.duration(app, prefix, "restart_window", default.window),
        delay: r.duration(app, prefix, "restart_delay", default.delay),
    }
}

/// The dotted key of one instance's table.
fn instance_key(app: &toml::Table, prefix: &str, index: usize) -> String {
    match app.get("config") {
        Some(toml::Value::Array(_)) => format!("{prefix}.config[{index}]"),
        _ => format!("{prefix}.config"),
    }
}

fn read_instances(
    r: &mut Reader<'_>,
    app: &toml::Table,
    prefix: &str,
    key: &str,
    class_name: &str,
    names: &mut HashMap<(String, String), String>,
) -> Vec<InstanceConfig> {
    let tables: Vec<(usize, toml::Table)> = match app.get("config") {
        None => vec![(0, toml::Table::new())],
        Some(toml::Value::Table(t)) => vec![(0, t.clone())],
        Some(toml::Value::Array(items)) => {
            let mut tables = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    toml::Value::Table(t) => tables.push((i, t.clone())),
                    other => r.wrong_type(&format!("{prefix}.config[{i}]"), Kind::Table, other),
                }
            }
            tables
        }
        Some(other) => {
            r.errors.push(ConfigError::WrongType {
                origin: r.layered.origin(&format!("{prefix}.config")),
                key: format!("{prefix}.config"),
                expected: "a table, or an array of tables (one per instance)",
                found: schema::describe(other),
            });
            Vec::new()
        }
    };
    let mut out = Vec::new();
    for (index, mut table) in tables {
        let table_key = instance_key(app, prefix, index);
        let name = match table.remove("instance_name") {
            None => format!("{class_name}.{index}"),
            Some(toml::Value::String(s)) if !s.trim().is_empty() => s,
            Some(other) => {
                let key = format!("{table_key}.instance_name");
                if let toml::Value::String(_) = other {
                    r.invalid(&key, "must not be empty".to_owned());
                } else {
                    r.wrong_type(&key, Kind::Str, &other);
                }
                continue;
            }
        };
        let origin = r.layered.origin(&table_key);
        let owner = format!("instance {index} of app `{key}`");
        if let Some(other) = names.insert((class_name.to_owned(), name.clone()), owner) {
            r.errors.push(ConfigError::DuplicateInstance {
                origin: r.layered.origin(&format!("{table_key}.instance_name")),
                app: key.to_owned(),
                name: name.clone(),
                other,
            });
        }
        out.push(InstanceConfig {
            index,
            name,
            config: table,
            origin,
        });
    }
    out
}
