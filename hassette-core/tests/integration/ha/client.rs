//! Commands, subscriptions, errors, backpressure and logging against the fake.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_core::config::Secret;
use hassette_core::ha::{Client, ConnectionState, HaError};
use hassette_core::testing::{FakeHomeAssistant, FakeOptions};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{connect, connect_with, guard};

#[tokio::test]
async fn auth_success_and_typed_commands() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (client, _s, _c) = connect(&fake).await;
    assert_eq!(client.state(), ConnectionState::Connected);
    assert_eq!(client.ha_version(), Some("2025.4.4"));

    fake.set_time_zone("America/New_York");
    let config = guard(client.get_config()).await.unwrap();
    assert_eq!(config.time_zone, "America/New_York");
    assert!(config.is_running());
    assert!(config.tz().is_some());

    let states = guard(client.get_states()).await.unwrap();
    assert_eq!(states.len(), fake.states().len());
    let sun = states.iter().find(|s| s.entity_id == "sun.sun").unwrap();
    assert!(sun.attributes.contains_key("next_rising"));
    assert!(sun.last_reported.is_some());

    let services = guard(client.get_services()).await.unwrap();
    assert!(services["light"]["turn_on"].is_object());
    guard(client.ping()).await.unwrap();
    assert_eq!(fake.auth_attempts(), 1);
}

#[tokio::test]
async fn rejected_token_is_final_with_one_attempt() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let mut opts = fake.client_options();
    opts.token = Secret::new("wrong-token");
    let err = guard(Client::connect(opts, CancellationToken::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, HaError::AuthInvalid { .. }), "{err:?}");
    assert!(
        err.to_string().contains("access token was rejected"),
        "{err}"
    );
    // Give a (wrong) retry loop every chance to show itself.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.auth_attempts(), 1);
}

#[tokio::test]
async fn call_service_changes_state_and_events_arrive_before_the_result() {
    for coalesce in [true, false] {
        let fake = FakeHomeAssistant::start().await.unwrap();
        fake.set_coalesce(coalesce);
        let (client, _s, _c) = connect(&fake).await;
        let mut events = guard(client.subscribe_events(Some("state_changed")))
            .await
            .unwrap();
        let target = json!({"entity_id": "input_boolean.guest_mode"});
        let res = guard(client.call_service("input_boolean", "toggle", None, Some(target), false))
            .await
            .unwrap();
        // The event was delivered before the result was: it is queued already.
        let ev = events
            .try_recv()
            .expect("state_changed queued before the result");
        let change = ev.state_changed().unwrap();
        assert_eq!(change.entity_id, "input_boolean.guest_mode");
        assert_eq!(change.old_state.as_ref().unwrap().state, "off");
        assert_eq!(change.new_state.as_ref().unwrap().state, "on");
        assert_eq!(
            change.new_state.as_ref().unwrap().context.id,
            res.context.id
        );
        assert_eq!(ev.context.as_ref().unwrap().id, res.context.id);
        assert_eq!(fake.state("input_boolean.guest_mode").unwrap().state, "on");
        let calls = fake.service_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].entity_ids, ["input_boolean.guest_mode"]);
    }
}

#[tokio::test]
async fn common_services_are_implemented() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (client, _s, _c) = connect(&fake).await;
    let call = |d: &'static str, s: &'static str, data: serde_json::Value| {
        let client = client.clone();
        async move {
            guard(client.call_service(d, s, Some(data), None, false))
                .await
                .unwrap()
        }
    };
    call(
        "light",
        "turn_on",
        json!({"entity_id": "light.porch", "brightness": 90}),
    )
    .await;
    assert_eq!(
        fake.state("light.porch").unwrap().attributes["brightness"],
        90
    );
    call(
        "homeassistant",
        "turn_off",
        json!({"entity_id": ["light.porch", "switch.coffee_maker"]}),
    )
    .await;
    assert_eq!(fake.state("light.porch").unwrap().state, "off");
    call(
        "fan",
        "turn_on",
        json!({"entity_id": "fan.ceiling", "percentage": 66}),
    )
    .await;
    assert_eq!(fake.state("fan.ceiling").unwrap().state, "on");
    call(
        "input_number",
        "set_value",
        json!({"entity_id": "input_number.target_temperature", "value": 21.5}),
    )
    .await;
    assert_eq!(
        fake.state("input_number.target_temperature").unwrap().state,
        "21.5"
    );
    call(
        "input_text",
        "set_value",
        json!({"entity_id": "input_text.note", "value": "bye"}),
    )
    .await;
    assert_eq!(fake.state("input_text.note").unwrap().state, "bye");
    // Real Home Assistant 2024.3.3 refuses return_response for a service without responses
    // (tests/data/ws-registries-history-2024.3.3.txt, id 11).
    let err = guard(client.call_service(
        "switch",
        "toggle",
        None,
        Some(json!({"entity_id": "switch.coffee_maker"})),
        true,
    ))
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some("unknown_error"));
}

#[tokio::test]
async fn errors_carry_has_code_and_message() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (client, _s, _c) = connect(&fake).await;
    let err = guard(client.call_service("light", "explode", None, None, false))
        .await
        .unwrap_err();
    match &err {
        HaError::Command {
            code,
            message,
            translation_key,
        } => {
            assert_eq!(code, "not_found");
            assert_eq!(message, "Service light.explode not found.");
            assert_eq!(translation_key.as_deref(), Some("service_not_found"));
        }
        other => panic!("{other:?}"),
    }
    let err = guard(client.send_command(json!({"type": "no_such_command"})))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("unknown_command"));
    let err = guard(client.send_command(json!({"type": "subscribe_events", "event_type": 100})))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_format"));
    let err =
        guard(client.send_command(json!({"type": "unsubscribe_events", "subscription": 999})))
            .await
            .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    // The connection is still fine after errors.
    guard(client.ping()).await.unwrap();
}

#[tokio::test]
async fn many_commands_in_flight() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (client, _s, _c) = connect(&fake).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            match i % 3 {
                0 => client.ping().await.map(|()| 0),
                1 => client.get_config().await.map(|_| 1),
                _ => client.get_states().await.map(|s| s.len()),
            }
        }));
    }
    for t in tasks {
        guard(t).await.unwrap().unwrap();
    }
    // The fake answers id_reuse to any id that does not increase; none happened.
    assert!(fake.received_commands().len() >= 200);
}

#[tokio::test]
async fn command_timeout_when_ha_does_not_answer() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let mut opts = fake.client_options();
    opts.command_timeout = Duration::from_millis(200);
    let (client, _s, _c) = connect_with(opts).await;
    fake.set_silent(true);
    let err = guard(client.get_config()).await.unwrap_err();
    assert!(matches!(err, HaError::Timeout(_)), "{err:?}");
    fake.set_silent(false);
    guard(client.ping()).await.unwrap();
}

#[tokio::test]
async fn triggers_templates_and_fired_events() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (client, _s, _c) = connect(&fake).await;
    let mut trig = guard(client.subscribe_trigger(json!({
        "platform": "state", "entity_id": "binary_sensor.front_door", "to": "on"
    })))
    .await
    .unwrap();
    fake.set_state("binary_sensor.front_door", "on", None);
    let ev = guard(trig.recv()).await.unwrap();
    let t = ev.trigger().unwrap();
    assert_eq!(t["entity_id"], "binary_sensor.front_door");
    assert_eq!(t["to_state"]["state"], "on");
    assert_eq!(t["from_state"]["state"], "off");
    fake.set_state("binary_sensor.front_door", "off", None);
    fake.set_state("binary_sensor.front_door", "on", None);
    // Only the second "on" fires; the "off" does not match `to`.
    let ev = guard(trig.recv()).await.unwrap();
    assert_eq!(ev.trigger().unwrap()["from_state"]["state"], "off");

    let text = guard(client.render_template(
        "Kitchen is {{ states('light.kitchen') }} for {{ who }}",
        Some(json!({"who": "me"})),
    ))
    .await
    .unwrap();
    assert_eq!(text, "Kitchen is on for me");
    let err = guard(client.render_template("{{ 1 +* }}", None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("template_error"));

    let mut mine = guard(client.subscribe_events(Some("my_event")))
        .await
        .unwrap();
    let mut all = guard(client.subscribe_events(None)).await.unwrap();
    guard(client.fire_event("my_event", Some(json!({"n": 1}))))
        .await
        .unwrap();
    fake.fire_event("my_event", json!({"n": 2}));
    fake.fire_event("other_event", json!({}));
    for n in [1, 2] {
        let ev = guard(mine.recv()).await.unwrap();
        assert_eq!(ev.event_type, "my_event");
        assert_eq!(
            ev.data,
            hassette_core::ha::EventData::Other(json!({"n": n}))
        );
    }
    let mut types = Vec::new();
    for _ in 0..3 {
        types.push(guard(all.recv()).await.unwrap().event_type);
    }
    assert_eq!(types, ["my_event", "my_event", "other_event"]);
    assert!(mine.try_recv().is_none());
}

#[tokio::test]
async fn a_slow_subscriber_does_not_stall_others() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let mut opts = fake.client_options();
    // A few kilobytes: a handful of state_changed events.
    opts.subscription_budget = 4000;
    let (client, _s, _c) = connect_with(opts).await;
    let mut slow = guard(client.subscribe_events(Some("state_changed")))
        .await
        .unwrap();
    let mut fast = guard(client.subscribe_events(Some("state_changed")))
        .await
        .unwrap();
    for i in 0..40 {
        fake.set_state("sensor.outside_temperature", &format!("{i}.5"), None);
        // The fast one keeps up; the slow one never reads.
        let ev = guard(fast.recv()).await.unwrap();
        assert_eq!(
            ev.state_changed()
                .unwrap()
                .new_state
                .as_ref()
                .unwrap()
                .state,
            format!("{i}.5")
        );
    }
    // What fits in the slow one's budget is kept, the rest dropped and counted.
    assert!(slow.queued_bytes() <= 4000, "{}", slow.queued_bytes());
    let mut kept = 0;
    while slow.try_recv().is_some() {
        kept += 1;
    }
    let dropped = slow.dropped();
    assert!(kept >= 1 && dropped >= 30, "kept {kept}, dropped {dropped}");
    assert_eq!(kept + dropped, 40);
    assert_eq!(client.dropped_events(), dropped);
    assert_eq!(slow.queued_bytes(), 0);
    guard(client.ping()).await.unwrap();
}

/// A `MakeWriter` into a shared buffer, to read what was logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_token_never_appears_in_debug_logs() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let token = "sekrit-TOKEN-value-12345";
    let mut fo = FakeOptions::default();
    fo.token = Secret::new(token);
    let fake = FakeHomeAssistant::start_with(fo).await.unwrap();
    let mut opts = fake.client_options();
    opts.verify_ssl = false;
    tracing::debug!(?opts, "options");
    let (client, _s, cancel) = connect_with(opts.clone()).await;
    guard(client.get_states()).await.unwrap();
    fake.drop_connections();
    let mut ev = client.connection_events();
    super::wait_event(&mut ev, super::is_reconnected).await;
    opts.token = Secret::new(format!("{token}-wrong"));
    let err = guard(Client::connect(opts, CancellationToken::new()))
        .await
        .unwrap_err();
    tracing::error!(error = %err, ?err, "auth failed");
    cancel.cancel();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("ha send"), "frames are logged at DEBUG");
    assert!(logs.contains("get_states"));
    assert!(
        !logs.contains("sekrit"),
        "the token leaked into the logs:\n{logs}"
    );
}
