//! The registry of app classes a binary knows.

use std::collections::BTreeMap;
use std::fmt;

use super::{App, probe};
use crate::runtime::supervisor::{Launch, Launched, launch};

/// One registered app class: its name and how to check a `config` table against its type.
#[derive(Clone)]
pub struct AppClass {
    name: &'static str,
    type_name: &'static str,
    check: fn(&toml::Table) -> Result<(), ConfigProblem>,
    launch: fn(Launch) -> Launched,
}

impl fmt::Debug for AppClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppClass")
            .field("name", &self.name)
            .field("type_name", &self.type_name)
            .finish_non_exhaustive()
    }
}

impl AppClass {
    /// The class name, as `class_name` in `hassette.toml` spells it.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The Rust type behind the class.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Checks one instance's `config` table against the app's `Config` type.
    ///
    /// # Errors
    ///
    /// The first problem found: the field (if serde names one) and what is wrong with it.
    pub fn check_config(&self, table: &toml::Table) -> Result<(), ConfigProblem> {
        (self.check)(table)
    }

    /// Starts one instance of the class.
    pub(crate) fn launch(&self, args: Launch) -> Launched {
        (self.launch)(args)
    }
}

/// What is wrong with an app instance's `config` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The field path inside the config, e.g. `sensor` or `rooms[1].name`, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The key path the problem is at, for pointing at its line: the field, or the unknown key.
    pub at: Option<String>,
}

/// The app classes a binary knows, by class name.
///
/// # Examples
///
/// ```
/// use hassette_core::app::{App, AppContext, AppRegistry, BoxError};
///
/// #[derive(serde::Deserialize)]
/// struct Config { greeting: String }
///
/// struct Hello { }
/// impl App for Hello {
///     type Config = Config;
///     type Message = ();
///     async fn initialize(_: Config, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
///         Ok(Self {})
///     }
/// }
///
/// let mut registry = AppRegistry::new();
/// registry.register::<Hello>();
/// let class = registry.get("Hello").unwrap();
/// let table: toml::Table = toml::from_str("greetng = 'hi'").unwrap();
/// let problem = class.check_config(&table).unwrap_err();
/// assert_eq!(problem.message, "unknown key `greetng` (did you mean `greeting`?)");
/// ```
#[derive(Clone, Debug, Default)]
pub struct AppRegistry {
    classes: BTreeMap<&'static str, AppClass>,
}

impl AppRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the app type `A` under [`App::class_name`].
    ///
    /// # Panics
    ///
    /// If another type is already registered under the same class name: two app types with
    /// one name is a mistake in the binary, not in the user's configuration.
    pub fn register<A: App>(&mut self) -> &mut Self {
        let class = AppClass {
            name: A::class_name(),
            type_name: std::any::type_name::<A>(),
            check: check_config::<A::Config>,
            launch: launch::<A>,
        };
        if let Some(existing) = self.classes.get(class.name) {
            assert!(
                existing.type_name == class.type_name,
                "two app types are registered under the class name `{}`: {} and {}; \
                 override `App::class_name` on one of them",
                class.name,
                existing.type_name,
                class.type_name
            );
        }
        self.classes.insert(class.name, class);
        self
    }

    /// The class registered under `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&AppClass> {
        self.classes.get(name)
    }

    /// Every registered class name, sorted.
    #[must_use]
    pub fn class_names(&self) -> Vec<&'static str> {
        self.classes.keys().copied().collect()
    }

    /// Every registered class, sorted by name.
    pub fn classes(&self) -> impl Iterator<Item = &AppClass> {
        self.classes.values()
    }
}

fn check_config<C: serde::de::DeserializeOwned>(table: &toml::Table) -> Result<(), ConfigProblem> {
    let mut unknown: Vec<String> = Vec::new();
    let value = toml::Value::Table(table.clone());
    let mut record = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let ignoring = serde_ignored::Deserializer::new(value, &mut record);
    let result = serde_path_to_error::deserialize::<_, C>(ignoring);
    // A misspelt key usually also makes a field "missing": the unknown key, with the field it
    // was meant to be, is the more useful report.
    if let Some(key) = unknown.into_iter().next() {
        let fields = probe::field_names::<C>();
        let suggestion = crate::config::closest(&key, fields.iter().copied());
        return Err(ConfigProblem {
            field: None,
            at: Some(key.clone()),
            message: format!(
                "unknown key `{key}`{}",
                suggestion.map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"))
            ),
        });
    }
    match result {
        Ok(_) => Ok(()),
        Err(err) => {
            let path = err.path().to_string();
            let field = (path != ".").then_some(path);
            Err(ConfigProblem {
                at: field.clone(),
                field,
                message: err.into_inner().message().to_owned(),
            })
        }
    }
}
