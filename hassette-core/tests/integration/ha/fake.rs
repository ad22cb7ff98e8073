//! The fake against the real transcript: same message types, keys and value types.
//!
//! Justified exceptions, checked loosely:
//! - entity sets: the fake has no `binary_sensor.harness_switch_mirror` template sensor, so
//!   the real reply may hold events the fake does not send; every event the fake sends must
//!   match the shape of a recorded event of the same subscription;
//! - `get_services`: the fake offers a subset of the real domains and services (the shapes of
//!   those it offers must match exactly).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hassette_core::config::Secret;
use hassette_core::ha::{Client, State};
use hassette_core::testing::{FakeHomeAssistant, FakeOptions};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use tokio_util::sync::CancellationToken;

use super::{connect_with, guard};

const TRANSCRIPT: &str = include_str!("../../data/ws-transcript-2024.3.3.jsonl");

/// Checks that `ours` has the JSON shape of `real`. Objects at paths for which `subset` holds
/// may have fewer keys; arrays match when each element matches some recorded element.
fn same_shape(
    ours: &Value,
    real: &Value,
    path: &str,
    subset: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    match (ours, real) {
        (Value::Object(a), Value::Object(b)) => {
            if subset(path) {
                if let Some(k) = a.keys().find(|k| !b.contains_key(*k)) {
                    return Err(format!("{path}: unexpected key {k}"));
                }
            } else {
                let ka: Vec<_> = a.keys().collect();
                let kb: Vec<_> = b.keys().collect();
                if ka != kb {
                    return Err(format!("{path}: keys {ka:?} != recorded {kb:?}"));
                }
            }
            for (k, v) in a {
                same_shape(v, &b[k], &format!("{path}.{k}"), subset)?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{path}[{i}]");
                if !b.iter().any(|y| same_shape(x, y, &p, subset).is_ok()) {
                    let why = b.first().map(|y| same_shape(x, y, &p, subset));
                    return Err(format!("{p}: no recorded element has this shape ({why:?})"));
                }
            }
            Ok(())
        }
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => Ok(()),
        _ => Err(format!("{path}: {ours} is not shaped like recorded {real}")),
    }
}

fn flatten(frame: &str) -> Vec<Value> {
    match serde_json::from_str(frame).unwrap() {
        Value::Array(a) => a,
        v => vec![v],
    }
}

struct Exchange {
    sent: String,
    replies: Vec<Value>,
}

fn exchanges(conn: &str) -> (Vec<Value>, Vec<Exchange>) {
    let mut greeting = Vec::new();
    let mut out: Vec<Exchange> = Vec::new();
    for line in TRANSCRIPT.lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        if rec["conn"] != conn {
            continue;
        }
        let raw = rec["raw"].as_str().unwrap().to_owned();
        if rec["dir"] == "send" {
            out.push(Exchange {
                sent: raw,
                replies: Vec::new(),
            });
        } else if raw.starts_with("<close") {
            continue;
        } else if let Some(last) = out.last_mut() {
            last.replies.extend(flatten(&raw));
        } else {
            greeting.extend(flatten(&raw));
        }
    }
    (greeting, out)
}

async fn next_messages(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Vec<Value> {
    loop {
        match guard(ws.next()).await.unwrap().unwrap() {
            Message::Text(t) => return flatten(&t),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn replaying_the_real_transcript_gets_replies_of_the_same_shape() {
    let (greeting, main) = exchanges("main");
    // The fake starts with the real entities (states from the recorded get_states).
    let recorded_states = main.iter().find(|e| e.sent.contains("get_states")).unwrap();
    let states: Vec<State> =
        serde_json::from_value(recorded_states.replies[0]["result"].clone()).unwrap();
    let mut opts = FakeOptions::default();
    opts.ha_version = "2024.3.3".into();
    opts.states = states;
    let fake = FakeHomeAssistant::start_with(opts).await.unwrap();

    let (mut ws, _) = guard(Box::pin(tokio_tungstenite::connect_async(
        fake.url().as_str(),
    )))
    .await
    .unwrap();
    let hello = next_messages(&mut ws).await;
    assert_eq!(hello, greeting, "auth_required, with the same version");

    let subset = |path: &str| {
        path == "$.result" || (path.starts_with("$.result.") && path.matches('.').count() == 2)
    };
    for ex in &main {
        let sent = ex.sent.replace("<redacted>", fake.token().expose());
        let sent_json: Value = serde_json::from_str(&sent).unwrap();
        let is_services = sent_json["type"] == "get_services";
        ws.send(Message::text(sent)).await.unwrap();
        // Read until the reply that ends this exchange: the one with the command's id that is
        // not an event (or the single auth reply).
        let mut ours = Vec::new();
        loop {
            let msgs = next_messages(&mut ws).await;
            let done = msgs.iter().any(|m| match sent_json.get("id") {
                Some(id) => m.get("id") == Some(id) && m["type"] != "event",
                None => true,
            });
            ours.extend(msgs);
            if done {
                break;
            }
        }
        // Any trailing event in the same exchange (subscribe_entities sends result + event).
        if ex.replies.len() > ours.len() && sent_json["type"] == "subscribe_entities" {
            ours.extend(next_messages(&mut ws).await);
        }
        let ctx = format!("after sending {}", ex.sent);
        let (real_final, real_events): (Vec<&Value>, Vec<&Value>) =
            ex.replies.iter().partition(|m| m["type"] != "event");
        let (our_final, our_events): (Vec<&Value>, Vec<&Value>) =
            ours.iter().partition(|m| m["type"] != "event");
        assert_eq!(our_final.len(), real_final.len(), "{ctx}: {ours:?}");
        for (o, r) in our_final.iter().zip(&real_final) {
            let check = if is_services {
                &subset as &dyn Fn(&str) -> bool
            } else {
                &|_: &str| false
            };
            same_shape(o, r, "$", check).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(o.get("id"), r.get("id"), "{ctx}");
            if o["success"] == false {
                assert_eq!(o["error"], r["error"], "{ctx}: HA's own error text");
            }
        }
        for o in &our_events {
            let matching = real_events
                .iter()
                .any(|r| r["id"] == o["id"] && same_shape(o, r, "$", &|_: &str| false).is_ok());
            assert!(matching, "{ctx}: our event {o} has no recorded counterpart");
        }
        for r in &real_events {
            // The template mirror sensor is the only entity the fake lacks.
            let mirror = r.to_string().contains("harness_switch_mirror");
            assert!(
                mirror || our_events.iter().any(|o| o["id"] == r["id"]),
                "{ctx}: no event for subscription {}",
                r["id"]
            );
        }
    }

    // A second connection with a bad token: auth_invalid, then a normal close.
    let (greeting, bad) = exchanges("badauth");
    let (mut ws, _) = guard(Box::pin(tokio_tungstenite::connect_async(
        fake.url().as_str(),
    )))
    .await
    .unwrap();
    assert_eq!(next_messages(&mut ws).await, greeting);
    ws.send(Message::text(bad[0].sent.replace("<redacted>", "wrong")))
        .await
        .unwrap();
    assert_eq!(next_messages(&mut ws).await, bad[0].replies);
    let close = guard(ws.next()).await.unwrap().unwrap();
    match close {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn the_fake_checks_ids_and_formats() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (mut ws, _) = guard(Box::pin(tokio_tungstenite::connect_async(
        fake.url().as_str(),
    )))
    .await
    .unwrap();
    next_messages(&mut ws).await;
    let auth = serde_json::json!({"type": "auth", "access_token": fake.token().expose()});
    ws.send(Message::text(auth.to_string())).await.unwrap();
    assert_eq!(next_messages(&mut ws).await[0]["type"], "auth_ok");
    let mut ask = async |text: &str| {
        ws.send(Message::text(text.to_owned())).await.unwrap();
        next_messages(&mut ws).await.remove(0)
    };
    let r = ask(r#"{"type":"ping"}"#).await;
    assert_eq!(r["id"], Value::Null);
    assert_eq!(r["error"]["code"], "invalid_format");
    assert_eq!(r["error"]["message"], "Message incorrectly formatted.");
    assert_eq!(ask(r#"{"id":5,"type":"ping"}"#).await["type"], "pong");
    assert_eq!(
        ask(r#"{"id":5,"type":"ping"}"#).await["error"]["code"],
        "id_reuse"
    );
    assert_eq!(
        ask(r#"{"id":6,"type":"nope"}"#).await["error"]["code"],
        "unknown_command"
    );
    // unknown_command does not advance the last id, so 6 is still usable.
    assert_eq!(ask(r#"{"id":6,"type":"ping"}"#).await["type"], "pong");
    let r = ask(r#"{"id":7,"type":"unsubscribe_events","subscription":3}"#).await;
    assert_eq!(
        r["error"],
        serde_json::json!({"code": "not_found", "message": "Subscription not found."})
    );
    let r =
        ask(r#"{"id":8,"type":"subscribe_trigger","trigger":{"platform":"time","at":"10:00"}}"#)
            .await;
    assert_eq!(r["error"]["code"], "invalid_format");
}

#[tokio::test(start_paused = true)]
async fn the_demo_house_moves_on_its_own() {
    let fake = FakeHomeAssistant::demo().await.unwrap();
    for id in [
        "light.kitchen",
        "binary_sensor.hallway_motion",
        "binary_sensor.front_door",
        "sensor.outside_temperature",
    ] {
        assert!(fake.state(id).is_some(), "{id}");
    }
    let sun = fake.state("sun.sun").unwrap();
    assert!(sun.attributes["next_rising"].is_string());
    assert!(sun.attributes["next_setting"].is_string());
    tokio::time::sleep(Duration::from_millis(6500)).await;
    assert_eq!(
        fake.state("binary_sensor.hallway_motion").unwrap().state,
        "on"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        fake.state("binary_sensor.hallway_motion").unwrap().state,
        "off"
    );
}

/// The Supervisor's proxy path, as an add-on connects: `ws://…/core/websocket` with the
/// Supervisor's token works; Home Assistant's own path on that server is a 404.
#[tokio::test]
async fn supervisor_path_is_served_and_other_paths_are_not_found() {
    let mut opts = FakeOptions::default();
    opts.websocket_path = "/core/websocket".into();
    opts.token = Secret::new("supervisor-token-for-this-addon");
    let fake = FakeHomeAssistant::start_with(opts).await.unwrap();
    let client_opts = fake.client_options();
    assert_eq!(client_opts.base_url.path(), "/core/websocket");
    assert_eq!(client_opts.base_url.scheme(), "ws");
    let (client, _s, _c) = connect_with(client_opts.clone()).await;
    assert!(!guard(client.get_states()).await.unwrap().is_empty());

    let mut wrong = client_opts;
    wrong.base_url = fake.url().join("/api/websocket").unwrap();
    let err = guard(Client::connect(wrong, CancellationToken::new()))
        .await
        .unwrap_err();
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain = format!("{chain}: {cause}");
        source = cause.source();
    }
    assert!(chain.contains("404"), "{chain}");

    for bad in ["api/websocket", "/api/ws", "/core/websocket?x=1"] {
        let mut opts = FakeOptions::default();
        opts.websocket_path = bad.into();
        let err = FakeHomeAssistant::start_with(opts).await.unwrap_err();
        assert!(err.to_string().contains(bad), "{err}");
    }
}
