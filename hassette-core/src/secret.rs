//! The access token, kept out of every printout.

use std::fmt;

/// A secret string (the Home Assistant access token) whose `Debug` and `Display` print `***`.
///
/// The only way to see the value is [`Secret::expose`], which the websocket client calls when it
/// authenticates. Nothing else in hassette calls it.
///
/// # Examples
///
/// ```
/// use hassette_core::config::Secret;
///
/// let token = Secret::new("abc.def");
/// assert_eq!(format!("{token} {token:?}"), "*** ***");
/// assert_eq!(token.expose(), "abc.def");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself. Call this only to hand the token to Home Assistant.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
