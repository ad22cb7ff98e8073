//! Where the connection stands ([`ConnectionState`]) and what happened to it
//! ([`ConnectionEvent`]).

/// Where the connection stands now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Authenticated, subscriptions in place; commands are sent.
    Connected,
    /// Lost; the session is reconnecting. Commands fail with [`super::HaError::Disconnected`].
    Reconnecting,
    /// Home Assistant rejected the token during a reconnect. Final.
    AuthFailed,
    /// Shut down. Final.
    Closed,
}

/// Something that happened to the connection, for the runtime to react to.
///
/// The connection knows nothing of entity states: what changed while it was away is for its
/// owner to work out (the runtime's feed re-reads the states on [`ConnectionEvent::Reconnected`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The connection was lost; reconnecting.
    Disconnected {
        /// Why, in words.
        reason: String,
    },
    /// Connected again: Home Assistant is `RUNNING` and every subscription is restored. Events
    /// that happened in between were not seen.
    Reconnected {
        /// How many attempts it took.
        attempts: u32,
    },
    /// The token was rejected during a reconnect; the client stopped for good.
    AuthFailed {
        /// Home Assistant's message.
        message: String,
    },
    /// The session shut down.
    Closed,
}
