//! Errors of the Home Assistant websocket client.

use std::time::Duration;

/// A boxed error source, so that no tungstenite or rustls type leaks into the public API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong talking to Home Assistant.
///
/// Commands return [`HaError::Command`] when Home Assistant answered with an error (its `code`
/// and `message` are kept verbatim), [`HaError::Timeout`] when it did not answer in time and
/// [`HaError::Disconnected`] when there was no connection to send the command on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HaError {
    /// The base URL cannot be turned into a websocket URL.
    #[error("invalid Home Assistant URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The TCP, TLS or websocket handshake failed.
    #[error("cannot connect to Home Assistant at {url}")]
    Connect {
        /// The websocket URL.
        url: String,
        /// The underlying failure.
        #[source]
        source: BoxError,
    },
    /// Home Assistant rejected the token. Final: the client never retries, because repeated
    /// failures get the client's address banned by Home Assistant.
    #[error(
        "the access token was rejected by Home Assistant ({message}); create a new long-lived \
         access token in your Home Assistant profile and update the configuration"
    )]
    AuthInvalid {
        /// Home Assistant's message, e.g. "Invalid access token or password".
        message: String,
    },
    /// Home Assistant answered a command with an error.
    #[error("home assistant error {code}: {message}")]
    Command {
        /// HA's error code, e.g. `not_found`, `invalid_format`, `unknown_command`.
        code: String,
        /// HA's human-readable message.
        message: String,
        /// HA's `translation_key`, when it sent one.
        translation_key: Option<String>,
    },
    /// The command got no answer within the command timeout.
    #[error("home assistant did not answer within {0:?}")]
    Timeout(Duration),
    /// There is no connection to Home Assistant right now (the client is reconnecting, or has
    /// stopped). Commands fail fast with this error instead of waiting.
    #[error("not connected to home assistant")]
    Disconnected,
    /// The peer broke the protocol (malformed frame, unexpected message).
    #[error("home assistant protocol violation: {0}")]
    Protocol(String),
    /// A reply could not be decoded into the expected type.
    #[error("cannot decode the reply of home assistant")]
    Decode(#[source] serde_json::Error),
    /// A service call was malformed before it was sent (a name without a domain, data that is
    /// not an object).
    #[error("cannot call {service:?}: {reason}")]
    BadCall {
        /// The service as given.
        service: String,
        /// What is wrong.
        reason: String,
    },
    /// The websocket failed while connected.
    #[error("websocket error")]
    Websocket(#[source] BoxError),
}

impl HaError {
    /// HA's error code when this is a [`HaError::Command`], e.g. `"not_found"`.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Command { code, .. } => Some(code),
            _ => None,
        }
    }
}
