//! Websocket client and fake Home Assistant tests (issue 4). Real sockets on loopback.
//!
//! No test asserts on timing: `guard` is only a hang guard, generous on purpose.

// Helpers outside `#[test]` fns panic on purpose: a failed setup is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod fake;
mod reconnect;
mod tls;

use std::future::Future;
use std::time::Duration;

use hassette_core::ha::{Client, ClientOptions, ConnectionEvent, SessionHandle};
use hassette_core::testing::FakeHomeAssistant;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Fails the test instead of hanging forever.
async fn guard<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("hang guard: the operation did not finish in 30 s")
}

async fn connect_with(opts: ClientOptions) -> (Client, SessionHandle, CancellationToken) {
    let cancel = CancellationToken::new();
    let (client, session) = guard(Client::connect(opts, cancel.clone()))
        .await
        .expect("connect to the fake");
    (client, session, cancel)
}

async fn connect(fake: &FakeHomeAssistant) -> (Client, SessionHandle, CancellationToken) {
    connect_with(fake.client_options()).await
}

/// Waits for the first connection event matching `pred`.
async fn wait_event(
    rx: &mut broadcast::Receiver<ConnectionEvent>,
    pred: impl Fn(&ConnectionEvent) -> bool,
) -> ConnectionEvent {
    guard(async {
        loop {
            match rx.recv().await {
                Ok(ev) if pred(&ev) => return ev,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("connection events closed"),
            }
        }
    })
    .await
}

fn is_reconnected(ev: &ConnectionEvent) -> bool {
    matches!(ev, ConnectionEvent::Reconnected { .. })
}

fn is_disconnected(ev: &ConnectionEvent) -> bool {
    matches!(ev, ConnectionEvent::Disconnected { .. })
}
