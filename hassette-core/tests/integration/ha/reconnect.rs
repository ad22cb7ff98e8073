//! Reconnects, the heartbeat, malformed frames, a rejected token later on, and shutdown.

use std::time::Duration;

use hassette_core::config::Secret;
use hassette_core::ha::{ConnectionEvent, ConnectionState, HaError};
use hassette_core::testing::FakeHomeAssistant;

use super::{connect, connect_with, guard, is_disconnected, is_reconnected, wait_event};

fn count(fake: &FakeHomeAssistant, kind: &str) -> usize {
    fake.received_commands()
        .iter()
        .filter(|k| *k == kind)
        .count()
}

#[tokio::test]
async fn reconnects_after_a_dropped_connection_and_restores_subscriptions() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (client, _s, _c) = connect(&fake).await;
    let mut sub = guard(client.subscribe_events(Some("state_changed")))
        .await
        .unwrap();
    let mut events = client.connection_events();
    let states_before = count(&fake, "get_states");

    fake.drop_connections();
    wait_event(&mut events, is_disconnected).await;
    wait_event(&mut events, is_reconnected).await;
    assert_eq!(client.state(), ConnectionState::Connected);
    assert_eq!(
        count(&fake, "get_states"),
        states_before,
        "the client keeps no states: it reads none on its own"
    );

    fake.set_state("light.kitchen", "off", None);
    let ev = guard(sub.recv()).await.unwrap();
    assert_eq!(ev.state_changed().unwrap().entity_id, "light.kitchen");
    assert_eq!(fake.connections(), 2);
}

#[tokio::test]
async fn after_a_restart_it_waits_for_running_and_restores_every_subscription() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (client, _s, _c) = connect(&fake).await;
    let mut sub = guard(client.subscribe_events(Some("state_changed")))
        .await
        .unwrap();
    let mut trig = guard(client.subscribe_trigger(serde_json::json!({
        "platform": "state", "entity_id": "light.porch"
    })))
    .await
    .unwrap();
    let mut events = client.connection_events();

    // Home Assistant restarts: down, then STARTING, then RUNNING.
    fake.restart(Duration::from_millis(400), Duration::from_millis(400));
    wait_event(&mut events, is_disconnected).await;
    // While disconnected, commands fail fast.
    assert!(matches!(client.ping().await, Err(HaError::Disconnected)));
    assert!(matches!(
        client.subscribe_events(None).await,
        Err(HaError::Disconnected)
    ));
    // Changes while nobody is connected: no events reach the client.
    fake.set_state("light.kitchen", "off", None);
    fake.remove_entity("sun.sun");
    fake.set_state(
        "sensor.new_thing",
        "42",
        Some(serde_json::json!({"unit": "W"})),
    );

    wait_event(&mut events, is_reconnected).await;
    // It waited for RUNNING before subscribing again.
    let cmds = fake.received_commands();
    let last_config = cmds.iter().rposition(|k| k == "get_config").unwrap();
    let last_subscribe = cmds.iter().rposition(|k| k == "subscribe_events").unwrap();
    assert!(last_config < last_subscribe);
    assert!(count(&fake, "get_config") >= 2);

    // Both subscriptions were restored.
    fake.set_state("light.porch", "on", None);
    let ev = guard(sub.recv()).await.unwrap();
    assert_eq!(ev.state_changed().unwrap().entity_id, "light.porch");
    let t = guard(trig.recv()).await.unwrap();
    assert_eq!(t.trigger().unwrap()["to_state"]["state"], "on");
    guard(client.ping()).await.unwrap();
}

#[tokio::test]
async fn the_heartbeat_detects_a_silent_server() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let mut opts = fake.client_options();
    opts.heartbeat_interval = Duration::from_millis(100);
    opts.heartbeat_timeout = Duration::from_millis(300);
    let (client, _s, _c) = connect_with(opts).await;
    let mut events = client.connection_events();
    fake.set_silent(true);
    let ev = wait_event(&mut events, is_disconnected).await;
    let ConnectionEvent::Disconnected { reason } = ev else {
        unreachable!()
    };
    assert!(reason.contains("pong"), "{reason}");
    fake.set_silent(false);
    wait_event(&mut events, is_reconnected).await;
    guard(client.ping()).await.unwrap();
}

#[tokio::test]
async fn malformed_frames_reset_the_connection_without_panic() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let mut opts = fake.client_options();
    opts.max_message_size = Some(64 * 1024);
    let (client, _s, _c) = connect_with(opts).await;
    let mut events = client.connection_events();
    let oversized = format!(
        r#"{{"type":"event","id":1,"event":"{}"}}"#,
        "x".repeat(100 * 1024)
    );
    let bad = [
        "this is not json".to_owned(),
        r#"{"id":3,"type":"result","success":tr"#.to_owned(),
        r#"{"id":"three","type":"result","success":true}"#.to_owned(),
        r#"{"type":"event","event":{"a":1}}"#.to_owned(),
        "[1,2,3]".to_owned(),
        "null".to_owned(),
        oversized,
    ];
    for (i, frame) in bad.into_iter().enumerate() {
        fake.send_raw(frame);
        wait_event(&mut events, is_disconnected).await;
        wait_event(&mut events, is_reconnected).await;
        guard(client.ping())
            .await
            .unwrap_or_else(|e| panic!("frame {i}: {e}"));
    }
    assert_eq!(fake.connections(), 8);
}

#[tokio::test]
async fn unknown_message_types_are_ignored() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (client, _s, _c) = connect(&fake).await;
    fake.send_raw(r#"{"type":"brand_new_message","id":1}"#);
    fake.send_raw(
        r#"[{"type":"another_one"},{"id":999,"type":"result","success":true,"result":null}]"#,
    );
    guard(client.ping()).await.unwrap();
    assert_eq!(fake.connections(), 1, "no reconnect for unknown types");
}

#[tokio::test]
async fn a_token_rejected_on_reconnect_is_final() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (client, session, _c) = connect(&fake).await;
    let mut sub = guard(client.subscribe_events(None)).await.unwrap();
    let mut events = client.connection_events();
    fake.set_token(Secret::new("rotated"));
    fake.drop_connections();
    let ev = wait_event(&mut events, |e| {
        matches!(e, ConnectionEvent::AuthFailed { .. })
    })
    .await;
    let ConnectionEvent::AuthFailed { message } = ev else {
        unreachable!()
    };
    assert_eq!(message, "Invalid access token or password");
    assert_eq!(client.state(), ConnectionState::AuthFailed);
    guard(session.closed()).await;
    assert!(guard(sub.recv()).await.is_none(), "subscriptions end");
    assert!(matches!(client.ping().await, Err(HaError::Disconnected)));
    // One successful auth, one rejected; no retry storm.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.auth_attempts(), 2);
}

#[tokio::test]
async fn shutdown_sends_close_and_ends_subscriptions() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (client, session, cancel) = connect(&fake).await;
    let mut sub = guard(client.subscribe_events(None)).await.unwrap();
    cancel.cancel();
    guard(session.closed()).await;
    assert_eq!(client.state(), ConnectionState::Closed);
    assert!(guard(sub.recv()).await.is_none());
    assert!(matches!(
        client.get_states().await,
        Err(HaError::Disconnected)
    ));
}

#[tokio::test]
async fn websocket_pings_are_answered() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (client, _s, _c) = connect(&fake).await;
    fake.send_ws_ping();
    guard(async {
        while fake.ws_pongs() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    guard(client.ping()).await.unwrap();
    assert_eq!(fake.connections(), 1);
}
