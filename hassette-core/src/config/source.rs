//! Reading the sources of the configuration and layering them into one TOML table.
//!
//! The file is parsed twice: once into a plain [`toml::Table`] (the values) and once into
//! toml's spanned document (only to know the line and column of every key). Environment
//! variables, a `.env` file and flags are then written over the table, and each key remembers
//! its [`Origin`] so that every later error can say where the bad value came from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::error::{ConfigError, Origin, closest};
use super::schema::{APP_KEYS, HASSETTE_KEYS, Kind};

/// The prefix of every hassette environment variable.
pub(crate) const ENV_PREFIX: &str = "HASSETTE__";

/// The layered configuration: one TOML table, and where each dotted key came from.
#[derive(Debug, Default)]
pub(crate) struct Layered {
    pub(crate) root: toml::Table,
    pub(crate) origins: HashMap<String, Origin>,
    pub(crate) file: Option<PathBuf>,
}

impl Layered {
    /// Where `path` (a dotted key) was set, or the nearest enclosing table that was.
    pub(crate) fn origin(&self, path: &str) -> Origin {
        let mut p = path;
        loop {
            if let Some(o) = self.origins.get(p) {
                return o.clone();
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => break,
            }
        }
        match &self.file {
            Some(path) => Origin::File {
                path: path.clone(),
                line: 1,
                column: 1,
            },
            None => Origin::Default,
        }
    }
}

/// The places searched for `hassette.toml` when no `-c/--config` is given, in order.
#[must_use]
pub fn search_paths(cwd: &Path) -> Vec<PathBuf> {
    vec![
        cwd.join("hassette.toml"),
        cwd.join("config").join("hassette.toml"),
        PathBuf::from("/config/hassette.toml"),
    ]
}

/// Finds the configuration file: the explicit one, or the first that exists of
/// [`search_paths`].
pub(crate) fn discover(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            cwd.join(path)
        };
        if !path.is_file() {
            return Err(ConfigError::Read {
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                path,
            });
        }
        return Ok(path);
    }
    let searched = search_paths(cwd);
    searched
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(ConfigError::NotFound { searched })
}

/// Reads and parses a TOML file, recording the position of every key.
pub(crate) fn read_file(path: &Path) -> Result<Layered, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str(&text, path)
}

/// Parses TOML text that came from `path`.
pub(crate) fn parse_str(text: &str, path: &Path) -> Result<Layered, ConfigError> {
    let syntax = |err: &toml::de::Error| {
        let (line, column) = err.span().map_or((1, 1), |s| line_col(text, s.start));
        let mut message = err.message().trim().to_owned();
        if let Some(hint) = err.span().and_then(|s| unquoted_string_hint(text, s.start)) {
            message.push_str("; ");
            message.push_str(&hint);
        }
        ConfigError::Syntax {
            origin: Origin::File {
                path: path.to_path_buf(),
                line,
                column,
            },
            message,
        }
    };
    // Every syntax error, not only the first: the parser recovers and goes on.
    let (spanned, errors) = DeTable::parse_recoverable(text);
    if let Some(err) = ConfigError::from_list(errors.iter().map(syntax).collect()) {
        return Err(err);
    }
    let root: toml::Table = toml::from_str(text).map_err(|e| syntax(&e))?;
    let mut origins = HashMap::new();
    record_table(spanned.get_ref(), "", text, path, &mut origins);
    Ok(Layered {
        root,
        origins,
        file: Some(path.to_path_buf()),
    })
}

/// For `log_level = INFO` (a bare word where a string was meant): how to write it instead.
fn unquoted_string_hint(text: &str, at: usize) -> Option<String> {
    let start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let end = text.get(at..)?.find('\n').map_or(text.len(), |i| at + i);
    let line = text.get(start..end)?;
    let (key, value) = line.split_once('=')?;
    let (key, value) = (key.trim(), value.split('#').next().unwrap_or("").trim());
    let bare = !value.is_empty()
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/,".contains(c))
        && !["true", "false", "inf", "nan"].contains(&value);
    let key_ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !(bare && key_ok) {
        return None;
    }
    let name = key.rsplit('.').next().unwrap_or(key);
    let kind = super::schema::HASSETTE_KEYS
        .iter()
        .chain(super::schema::APP_KEYS)
        .find(|(k, _)| *k == name)
        .map(|(_, kind)| *kind);
    Some(match kind {
        Some(super::schema::Kind::Bool) => format!("write {key} = true or {key} = false"),
        Some(kind @ (super::schema::Kind::Count | super::schema::Kind::Table)) => {
            format!("`{key}` must be {}", kind.expected())
        }
        _ => format!("a string needs quotes: write {key} = \"{value}\""),
    })
}

fn record_table(
    table: &DeTable<'_>,
    prefix: &str,
    text: &str,
    path: &Path,
    out: &mut HashMap<String, Origin>,
) {
    for (key, value) in table {
        let full = join(prefix, key.get_ref());
        let (line, column) = line_col(text, key.span().start);
        out.insert(
            full.clone(),
            Origin::File {
                path: path.to_path_buf(),
                line,
                column,
            },
        );
        record_value(value.get_ref(), &full, text, path, out);
    }
}

fn record_value(
    value: &DeValue<'_>,
    full: &str,
    text: &str,
    path: &Path,
    out: &mut HashMap<String, Origin>,
) {
    match value {
        DeValue::Table(t) => record_table(t, full, text, path, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{full}[{i}]");
                let (line, column) = line_col(text, item.span().start);
                out.insert(
                    item_path.clone(),
                    Origin::File {
                        path: path.to_path_buf(),
                        line,
                        column,
                    },
                );
                record_value(item.get_ref(), &item_path, text, path, out);
            }
        }
        _ => {}
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Reads `HASSETTE__*` variables from the `.env` files that exist among `candidates`, first
/// file first. The process environment is never modified.
pub(crate) fn read_dotenv(
    candidates: &[PathBuf],
) -> Result<Vec<(String, String, Origin)>, ConfigError> {
    let mut vars = Vec::new();
    for path in candidates {
        if !path.is_file() {
            continue;
        }
        let iter = dotenvy::from_path_iter(path).map_err(|e| dotenv_error(path, e))?;
        for item in iter {
            let (var, value) = item.map_err(|e| dotenv_error(path, e))?;
            if has_prefix(&var) {
                vars.push((
                    var.clone(),
                    value,
                    Origin::DotEnv {
                        path: path.clone(),
                        var,
                    },
                ));
            }
        }
    }
    Ok(vars)
}

fn dotenv_error(path: &Path, err: dotenvy::Error) -> ConfigError {
    match err {
        dotenvy::Error::Io(source) => ConfigError::Read {
            path: path.to_path_buf(),
            source,
        },
        other => ConfigError::Syntax {
            origin: Origin::File {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
            },
            message: other.to_string(),
        },
    }
}

pub(crate) fn has_prefix(var: &str) -> bool {
    var.len() > ENV_PREFIX.len()
        && var
            .get(..ENV_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
}

/// Writes `HASSETTE__*` variables over the table. Unknown names are collected as errors.
pub(crate) fn apply_env(
    layered: &mut Layered,
    vars: impl IntoIterator<Item = (String, String, Origin)>,
    errors: &mut Vec<ConfigError>,
) {
    for (var, value, origin) in vars {
        let Some(rest) = var.get(ENV_PREFIX.len()..) else {
            continue;
        };
        let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if let Err(e) = apply_one(layered, &segments, &value, &origin) {
            errors.push(e);
        }
    }
}

fn apply_one(
    layered: &mut Layered,
    segments: &[String],
    raw: &str,
    origin: &Origin,
) -> Result<(), ConfigError> {
    let unknown = |key: String, known: &[&str], given: &str| ConfigError::UnknownKey {
        origin: origin.clone(),
        key,
        suggestion: closest(given, known.iter().copied()),
    };
    let hassette = table_entry(&mut layered.root, "hassette");
    match segments {
        [key] if key != "apps" => {
            let Some((_, kind)) = HASSETTE_KEYS.iter().find(|(k, _)| k == key) else {
                let known: Vec<&str> = HASSETTE_KEYS.iter().map(|(k, _)| *k).collect();
                return Err(unknown(format!("hassette.{key}"), &known, key));
            };
            hassette.insert(key.clone(), typed_env_value(*kind, raw));
            layered
                .origins
                .insert(format!("hassette.{key}"), origin.clone());
            Ok(())
        }
        [apps, app, rest @ ..] if apps == "apps" && !rest.is_empty() => {
            let apps = table_entry(hassette, "apps");
            // Env names are upper case; app keys in the file usually are not.
            let Some(app_key) = apps.keys().find(|k| k.eq_ignore_ascii_case(app)).cloned() else {
                let known: Vec<&str> = apps.keys().map(String::as_str).collect();
                let suggestion = closest(app, known.iter().copied());
                return Err(ConfigError::UnknownKey {
                    origin: origin.clone(),
                    key: format!("hassette.apps.{app}"),
                    suggestion,
                });
            };
            let app_table = table_entry(apps, &app_key);
            let base = format!("hassette.apps.{app_key}");
            match rest {
                [field] if field != "config" => {
                    let Some(kind) = APP_KEYS.iter().find(|(k, _)| k == field).map(|(_, k)| *k)
                    else {
                        let known: Vec<&str> = APP_KEYS.iter().map(|(k, _)| *k).collect();
                        return Err(unknown(format!("{base}.{field}"), &known, field));
                    };
                    app_table.insert(field.clone(), typed_env_value(kind, raw));
                    layered
                        .origins
                        .insert(format!("{base}.{field}"), origin.clone());
                    Ok(())
                }
                [config, path @ ..] if config == "config" && !path.is_empty() => {
                    set_app_config(layered, &app_key, path, raw, origin)
                }
                _ => Err(unknown(format!("{base}.{}", rest.join(".")), &[], "")),
            }
        }
        // HASSETTE__WEB__TOKEN and friends: the web server's keys are all strings or booleans.
        [web, field] if web == "web" => {
            let known = super::web::WEB_KEYS;
            if !known.contains(&field.as_str()) {
                return Err(unknown(format!("hassette.web.{field}"), known, field));
            }
            let kind = if field == "enabled" {
                Kind::Bool
            } else {
                Kind::Str
            };
            table_entry(hassette, "web").insert(field.clone(), typed_env_value(kind, raw));
            layered
                .origins
                .insert(format!("hassette.web.{field}"), origin.clone());
            Ok(())
        }
        _ => Err(unknown(format!("hassette.{}", segments.join(".")), &[], "")),
    }
}

/// `HASSETTE__APPS__<KEY>__CONFIG__<FIELD>` sets the field in every instance;
/// `HASSETTE__APPS__<KEY>__CONFIG__<N>__<FIELD>` only in instance N.
fn set_app_config(
    layered: &mut Layered,
    app_key: &str,
    path: &[String],
    raw: &str,
    origin: &Origin,
) -> Result<(), ConfigError> {
    let (index, field) = match path {
        [n, field] if n.parse::<usize>().is_ok() => (n.parse::<usize>().ok(), field),
        [field] => (None, field),
        _ => {
            return Err(ConfigError::UnknownKey {
                origin: origin.clone(),
                key: format!("hassette.apps.{app_key}.config.{}", path.join(".")),
                suggestion: None,
            });
        }
    };
    let value = literal_env_value(raw);
    let app = table_entry(
        table_entry(table_entry(&mut layered.root, "hassette"), "apps"),
        app_key,
    );
    let base = format!("hassette.apps.{app_key}.config");
    let config = app
        .entry("config")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let mut touched = Vec::new();
    match config {
        toml::Value::Table(t) if index.is_none_or(|i| i == 0) => {
            t.insert(field.clone(), value);
            touched.push(format!("{base}.{field}"));
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                if let (toml::Value::Table(t), true) = (item, index.is_none_or(|n| n == i)) {
                    t.insert(field.clone(), value.clone());
                    touched.push(format!("{base}[{i}].{field}"));
                }
            }
        }
        _ => {}
    }
    if touched.is_empty() {
        return Err(ConfigError::Invalid {
            origin: origin.clone(),
            key: base,
            message: format!(
                "there is no instance {} to set `{field}` in",
                index.unwrap_or(0)
            ),
        });
    }
    for key in touched {
        layered.origins.insert(key, origin.clone());
    }
    Ok(())
}

/// The sub-table under `key`, created if absent. A non-table value there is replaced, which
/// cannot happen for keys that validation accepts.
pub(crate) fn table_entry<'a>(table: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    let slot = table
        .entry(key.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !slot.is_table() {
        *slot = toml::Value::Table(toml::Table::new());
    }
    match slot {
        toml::Value::Table(t) => t,
        _ => unreachable!("replaced by a table just above"),
    }
}

/// An environment string typed by the setting it overrides, so that `HASSETTE__VERIFY_SSL=false`
/// is a boolean. A string that does not parse stays a string, and validation then reports it
/// with the variable's name.
pub(crate) fn typed_env_value(kind: Kind, raw: &str) -> toml::Value {
    let raw = raw.trim();
    match kind {
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
            "false" | "0" | "no" | "off" => toml::Value::Boolean(false),
            _ => toml::Value::String(raw.to_owned()),
        },
        Kind::Count | Kind::Size | Kind::Duration => raw.parse::<i64>().map_or_else(
            |_| toml::Value::String(raw.to_owned()),
            toml::Value::Integer,
        ),
        Kind::Str | Kind::Path | Kind::Url | Kind::Table => toml::Value::String(raw.to_owned()),
    }
}

/// An app config value from the environment, whose type only the app knows: a TOML literal
/// (`true`, `5`, `2.5`, `[1, 2]`, `"quoted"`) is taken as such, anything else as a string.
pub(crate) fn literal_env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    toml::from_str::<toml::Table>(&doc)
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}
