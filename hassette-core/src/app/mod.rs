//! The app model: the [`App`] trait and the [`AppRegistry`] of app classes.
//!
//! Apps are compiled in: a binary registers its app types under their class names, and
//! `class_name` in `hassette.toml` picks one. Every configured instance's `config` table is
//! deserialized into the app's [`App::Config`] at startup, so a typo fails before any
//! connection is made.

mod probe;
mod registry;

pub use registry::{AppClass, AppRegistry};

/// A Home Assistant automation written in Rust.
///
/// An app has a typed configuration, deserialized from its `config` table in `hassette.toml`.
/// Its class name (the name `class_name` selects it by) defaults to the type's own name.
///
/// # Examples
///
/// ```
/// use hassette_core::app::{App, AppRegistry};
///
/// #[derive(serde::Deserialize)]
/// struct PorchConfig {
///     sensor: String,
///     light: String,
/// }
///
/// struct MotionLight;
///
/// impl App for MotionLight {
///     type Config = PorchConfig;
/// }
///
/// let mut registry = AppRegistry::new();
/// registry.register::<MotionLight>();
/// assert_eq!(registry.class_names(), vec!["MotionLight"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Hassette app",
    label = "this type does not implement `App`",
    note = "add `impl hassette_core::app::App for {Self} {{ type Config = YourConfig; }}` where `YourConfig: serde::Deserialize`"
)]
pub trait App: Send + Sized + 'static {
    /// The app's own settings: one instance's `config` table in `hassette.toml`.
    ///
    /// Unknown keys in that table are errors, so a misspelt optional setting is caught at
    /// startup instead of being silently ignored.
    type Config: serde::de::DeserializeOwned + Send + Sync + 'static;

    /// The name that `class_name` in `hassette.toml` selects this app by, and the name of its
    /// cache directory. Defaults to the type's name without its module path.
    #[must_use]
    fn class_name() -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }
}

/// `my_crate::apps::MotionLight` → `MotionLight` (generic arguments kept).
fn short_type_name(full: &'static str) -> &'static str {
    let base_end = full.find('<').unwrap_or(full.len());
    let start = full[..base_end].rfind("::").map_or(0, |i| i + 2);
    &full[start..]
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn short_names() {
        assert_eq!(short_type_name("a::b::MotionLight"), "MotionLight");
        assert_eq!(short_type_name("MotionLight"), "MotionLight");
        assert_eq!(short_type_name("a::Wrap<b::C>"), "Wrap<b::C>");
    }
}
