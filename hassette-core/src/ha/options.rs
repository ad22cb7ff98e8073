//! [`ClientOptions`]: how to reach Home Assistant and how patient to be.

use std::time::Duration;

use url::Url;

use crate::secret::Secret;

/// How to reach Home Assistant and how patient to be. Plain values, no config file coupling.
///
/// # Examples
///
/// ```
/// use hassette_core::config::Secret;
/// use hassette_core::ha::ClientOptions;
/// use std::time::Duration;
///
/// let url = "http://homeassistant.local:8123".parse()?;
/// let mut opts = ClientOptions::new(url, Secret::new("token"));
/// opts.command_timeout = Duration::from_secs(5);
/// # Ok::<(), url::ParseError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Home Assistant's base URL (`http(s)://host:8123`); see [`super::websocket_url`].
    pub base_url: Url,
    /// The long-lived access token.
    pub token: Secret,
    /// Check the TLS certificate. `false` accepts self-signed certificates, with a warning.
    pub verify_ssl: bool,
    /// How long a command may wait for its result (default 10 s).
    pub command_timeout: Duration,
    /// How often to send a heartbeat `ping` (default 5 s).
    pub heartbeat_interval: Duration,
    /// How long to wait for the heartbeat's `pong` before the connection counts as dead
    /// (default 8 s). With the defaults a silent connection is noticed within 13 s.
    pub heartbeat_timeout: Duration,
    /// The first reconnect delay (default 1 s); it doubles after each failed attempt.
    pub reconnect_initial: Duration,
    /// The largest reconnect delay (default 60 s). While waiting, a cheap TCP probe runs every
    /// [`ClientOptions::probe_interval`]: when Home Assistant's port was closed and opens again,
    /// the next attempt starts at once instead of after the rest of the delay.
    pub reconnect_max: Duration,
    /// How often the TCP probe knocks while a reconnect waits (default 250 ms). A probe opens
    /// and closes a TCP connection: it never authenticates, so it cannot get the address banned.
    pub probe_interval: Duration,
    /// How often to ask `get_config` whether a starting Home Assistant is `RUNNING` yet
    /// (default 250 ms).
    pub startup_poll: Duration,
    /// How many bytes of undelivered events (as sent on the wire) one subscription holds
    /// before it drops new ones (default 64 MiB: some 90,000 typical `state_changed` events).
    pub subscription_budget: usize,
    /// The largest websocket message accepted (default 64 MiB; `None` for no limit). Far above
    /// what a real `get_states` or `get_services` sends.
    pub max_message_size: Option<usize>,
}

impl ClientOptions {
    /// Options with the defaults documented on each field.
    #[must_use]
    pub fn new(base_url: Url, token: Secret) -> Self {
        Self {
            base_url,
            token,
            verify_ssl: true,
            command_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(8),
            reconnect_initial: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            probe_interval: Duration::from_millis(250),
            startup_poll: Duration::from_millis(250),
            subscription_budget: 64 << 20,
            max_message_size: Some(64 << 20),
        }
    }
}
