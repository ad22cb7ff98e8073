//! The Home Assistant websocket client.
//!
//! # Layout
//!
//! - `protocol` (private): incoming messages parsed by key, outgoing commands.
//! - `connection` (private): URL, TLS, the auth handshake, text frames.
//! - `session` (private): the one task that owns the socket, reconnects and routes events.
//! - [`Client`]: the cloneable handle with typed commands; [`Subscription`]s.
//! - Types: [`State`], [`Event`], [`StateChanged`], [`Context`], [`HaConfig`], ...
//!
//! Data flow: `Client` methods send a request with a oneshot reply over a channel to the
//! session task, which assigns the id, sends the frame and matches the result by id. Events
//! are decoded in the session task and `try_send` into each subscription's bounded queue: the
//! socket is never blocked by a slow consumer.

mod api;
mod call;
mod client;
mod connection;
mod error;
mod protocol;
mod records;
mod rest;
mod session;
pub(crate) mod types;

pub use api::Api;
pub use call::{CallBuilder, IntoTarget, ResponseCall, Target};
pub use client::{
    Client, ClientOptions, ConnectionEvent, ConnectionState, SessionHandle, Subscription,
};
pub use connection::websocket_url;
pub use error::{BoxError, HaError};
pub use records::{Area, Device, EntityEntry, HistoryState, Label, LogbookEntry};
pub(crate) use session::diff_states;
pub use types::{
    Context, Event, EventData, HaConfig, ServiceResponse, State, StateChanged, TemplateRender,
    TriggerEvent,
};

/// Decodes one incoming websocket text frame (an object or an array of messages) and returns
/// the typed [`Event`] of every `event` message in it, with its subscription id.
///
/// This is what the session task does with each frame of a `subscribe_events` subscription;
/// it is public for benchmarks and tools that replay recorded frames.
///
/// # Errors
///
/// [`HaError::Protocol`] for a malformed frame, [`HaError::Decode`] for an event that does not
/// decode.
///
/// # Examples
///
/// ```
/// let frame = r#"{"type":"event","event":{"event_type":"ping","data":{}},"id":5}"#;
/// let events = hassette_core::ha::decode_events(frame)?;
/// assert_eq!(events[0].0, 5);
/// assert_eq!(events[0].1.event_type, "ping");
/// # Ok::<(), hassette_core::ha::HaError>(())
/// ```
pub fn decode_events(frame: &str) -> Result<Vec<(u64, Event)>, HaError> {
    let mut out = Vec::new();
    let mut err = None;
    protocol::parse_frame(frame, |msg| {
        if let protocol::Incoming::Event { id, event } = msg {
            match serde_json::from_str::<Event>(event.get()) {
                Ok(ev) => out.push((id, ev)),
                Err(e) => err = Some(HaError::Decode(e)),
            }
        }
    })
    .map_err(HaError::Protocol)?;
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
