//! Configuration errors: each one says where the bad value came from.

use std::fmt;
use std::path::PathBuf;

/// Where a setting came from: a place in a file, an environment variable, a flag or a default.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// A place in a TOML file (1-based line and column).
    File {
        /// The file.
        path: PathBuf,
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
    },
    /// A variable of the process environment.
    Env(String),
    /// A variable of a `.env` file.
    DotEnv {
        /// The `.env` file.
        path: PathBuf,
        /// The variable's name.
        var: String,
    },
    /// A command-line flag.
    Flag(String),
    /// No source set it; the built-in default (or nothing) applies.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, column } => {
                write!(f, "{}:{line}:{column}", path.display())
            }
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::DotEnv { path, var } => write!(f, "{} ({var})", path.display()),
            Origin::Flag(flag) => write!(f, "command-line flag {flag}"),
            Origin::Default => f.write_str("defaults"),
        }
    }
}

/// Everything that can be wrong with the configuration. Every variant names the file (or other
/// source), the key, and where it applies the app and instance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No configuration file was given and none was found in the usual places.
    #[error("no hassette.toml found (looked for {}); pass one with -c/--config", display_paths(.searched))]
    NotFound {
        /// The paths that were tried, in order.
        searched: Vec<PathBuf>,
    },
    /// A file could not be read.
    #[error("cannot read {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TOML itself is malformed.
    #[error("{origin}: TOML syntax error: {message}")]
    Syntax {
        /// Where the parser stopped.
        origin: Origin,
        /// What the parser said.
        message: String,
    },
    /// A key that hassette does not know.
    #[error("{origin}: unknown key `{key}`{}", suggestion_text(.suggestion.as_deref()))]
    UnknownKey {
        /// Where the key was set.
        origin: Origin,
        /// The full dotted key, e.g. `hassette.base_ur`.
        key: String,
        /// The closest known key, if one is close.
        suggestion: Option<String>,
    },
    /// A value of the wrong type.
    #[error("{origin}: `{key}` must be {expected}, found {found}")]
    WrongType {
        /// Where the value was set.
        origin: Origin,
        /// The full dotted key.
        key: String,
        /// What was expected, e.g. "a boolean".
        expected: &'static str,
        /// What was found, e.g. "a string".
        found: String,
    },
    /// A value of the right type that is still not acceptable (a bad URL, a zero size, ...).
    #[error("{origin}: `{key}`: {message}")]
    Invalid {
        /// Where the value was set.
        origin: Origin,
        /// The full dotted key.
        key: String,
        /// What is wrong, and what would be right.
        message: String,
    },
    /// A required key is missing.
    #[error("{origin}: `{key}` is required{}", hint_text(.hint))]
    Missing {
        /// The table that should hold it.
        origin: Origin,
        /// The full dotted key.
        key: String,
        /// How to set it.
        hint: String,
    },
    /// `class_name` names no registered app class.
    #[error(
        "{origin}: app `{app}`: unknown class_name `{class_name}`{}; registered app classes: {}",
        suggestion_text(.suggestion.as_deref()),
        display_list(.known)
    )]
    UnknownClass {
        /// Where `class_name` was set.
        origin: Origin,
        /// The app key.
        app: String,
        /// The class name given.
        class_name: String,
        /// The closest registered class, if one is close.
        suggestion: Option<String>,
        /// Every registered class.
        known: Vec<String>,
    },
    /// Two instances share a name, so they would share their instance-scoped cache keys.
    #[error(
        "{origin}: app `{app}`: instance name `{name}` is already used by {other}; give each instance its own `instance_name`"
    )]
    DuplicateInstance {
        /// Where the second instance was defined.
        origin: Origin,
        /// The app key of the second instance.
        app: String,
        /// The name used twice.
        name: String,
        /// The first user of the name, e.g. "instance 0 of app `porch`".
        other: String,
    },
    /// `data_dir` cannot be created or written (checked by `hassette check` and before
    /// `hassette run` connects).
    #[error("data_dir {} ({}) cannot be used: cannot {action} it", .path.display(), origin_or_default(.origin))]
    DataDir {
        /// Where `data_dir` was set ([`Origin::Default`]: it is the default).
        origin: Origin,
        /// The directory.
        path: PathBuf,
        /// What failed: "create", "write to".
        action: &'static str,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// An app instance's own `config` does not fit the app's `Config` type.
    #[error("{origin}: app `{app}` instance `{instance}` ({class_name}): {}{message}", field_text(.field))]
    AppConfig {
        /// Where the instance's config table is.
        origin: Origin,
        /// The app key.
        app: String,
        /// The instance name.
        instance: String,
        /// The app class.
        class_name: String,
        /// The field path inside the app's config, e.g. `sensor` or `rooms[1].name`.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// `token_file` could not be read.
    #[error("{origin}: cannot read token_file {}", .path.display())]
    TokenFile {
        /// Where `token_file` was set.
        origin: Origin,
        /// The token file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Several problems at once; each is reported.
    #[error("{}", display_errors(.0))]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    /// Every single error inside this one (itself, or the members of [`ConfigError::Several`]).
    #[must_use]
    pub fn errors(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Several(all) => all.iter().collect(),
            one => vec![one],
        }
    }

    /// One error for a list of them: the single one, or [`ConfigError::Several`].
    pub(crate) fn from_list(mut errors: Vec<ConfigError>) -> Option<ConfigError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ConfigError::Several(errors)),
        }
    }
}

fn suggestion_text(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"))
}

fn hint_text(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(": {hint}")
    }
}

fn field_text(field: &Option<String>) -> String {
    field
        .as_ref()
        .map_or_else(String::new, |f| format!("field `{f}`: "))
}

fn display_list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn display_errors(errors: &[ConfigError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!(
        "{} configuration errors:\n  {}",
        errors.len(),
        lines.join("\n  ")
    )
}

fn origin_or_default(origin: &Origin) -> String {
    match origin {
        Origin::Default => "the default; set data_dir in [hassette] to choose another".to_owned(),
        other => format!("set at {other}"),
    }
}

/// The known name closest to `given`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let given_lower = given.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| {
            (
                strsim::jaro_winkler(&given_lower, &k.to_ascii_lowercase()),
                k,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.to_owned())
}
