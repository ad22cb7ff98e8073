//! The rest of Home Assistant over the websocket: registries, history, logbook, services with
//! response data, live templates, triggers on the app bus, and entities an app owns.

use std::time::Duration;

use hassette_core::ha::{Area, Client, Device, EntityEntry, HistoryState, Label, LogbookEntry};
use hassette_core::prelude::*;
use hassette_core::testing::{AppHarness, FakeHomeAssistant};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{record, tag, wait_seen};

/// The frames real Home Assistant 2024.3.3 answered with (captured by hand with
/// `tests/real-ha/real_ha.py`): the client's types read them.
#[test]
fn the_types_read_real_home_assistant_frames() {
    let text = include_str!("../../data/ws-registries-history-2024.3.3.txt");
    let result = |id: u64| -> Value {
        let line = text
            .lines()
            .filter_map(|l| l.strip_prefix("<< "))
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["id"] == id && v["type"] == "result")
            .unwrap();
        line["result"].clone()
    };
    let areas: Vec<Area> = serde_json::from_value(result(1)).unwrap();
    assert!(
        areas
            .iter()
            .any(|a| a.area_id == "kitchen" && a.name == "Kitchen")
    );
    let devices: Vec<Device> = serde_json::from_value(result(2)).unwrap();
    assert!(devices.iter().any(|d| d.name.as_deref() == Some("Sun")));
    let entities: Vec<EntityEntry> = serde_json::from_value(result(4)).unwrap();
    assert!(
        entities
            .iter()
            .any(|e| e.entity_id == "input_boolean.test_motion")
    );
    let labels: Vec<Label> = serde_json::from_value(result(5)).unwrap();
    assert_eq!(labels[0].label_id, "night");
    let history: std::collections::HashMap<String, Vec<HistoryState>> =
        serde_json::from_value(result(8)).unwrap();
    assert_eq!(history["input_boolean.test_light"][1].state, "on");
    let logbook: Vec<LogbookEntry> = serde_json::from_value(result(9)).unwrap();
    assert_eq!(
        logbook[0].entity_id.as_deref(),
        Some("input_boolean.test_light")
    );
}

/// A result frame of the captured real transcript, by id.
fn real_result(id: u64) -> Value {
    include_str!("../../data/ws-registries-history-2024.3.3.txt")
        .lines()
        .filter_map(|l| l.strip_prefix("<< "))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["id"] == id && v["type"] == "result")
        .unwrap()["result"]
        .clone()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_answers_in_real_home_assistants_shapes() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.add_device("d1", "Kitchen sensor", Some("kitchen"));
    let client = connect(&fake).await;
    let areas = client
        .send_command(json!({"type": "config/area_registry/list"}))
        .await
        .unwrap();
    // The same areas as the real demo, entry for entry.
    assert_eq!(areas, real_result(1));
    let devices = client
        .send_command(json!({"type": "config/device_registry/list"}))
        .await
        .unwrap();
    assert_eq!(keys(&devices[0]), keys(&real_result(2)[0]));
    let entities = client
        .send_command(json!({"type": "config/entity_registry/list"}))
        .await
        .unwrap();
    assert_eq!(keys(&entities[0]), keys(&real_result(4)[0]));
    let labels = client
        .send_command(json!({"type": "config/label_registry/list"}))
        .await
        .unwrap();
    assert_eq!(labels, json!([]));
}

async fn connect(fake: &FakeHomeAssistant) -> Client {
    Client::connect(fake.client_options(), CancellationToken::new())
        .await
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registries_history_logbook_and_responses_from_the_fake() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.add_device("d1", "Kitchen sensor", Some("kitchen"));
    fake.add_label("night", "Night");
    fake.set_entity_registry(
        "sensor.outside_temperature",
        None,
        Some("d1"),
        Some(&["night"]),
    );
    let client = connect(&fake).await;
    let areas = client.areas().await.unwrap();
    assert_eq!(areas.len(), 3);
    assert_eq!(
        client.devices().await.unwrap()[0].area_id.as_deref(),
        Some("kitchen")
    );
    let entry = (client.entity_registry().await.unwrap().into_iter())
        .find(|e| e.entity_id == "sensor.outside_temperature")
        .unwrap();
    assert_eq!(
        (entry.device_id.as_deref(), entry.labels),
        (Some("d1"), vec!["night".to_owned()])
    );
    assert_eq!(client.labels().await.unwrap()[0].name, "Night");

    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    for s in ["on", "off", "on"] {
        fake.set_state("input_boolean.guest", s, None);
    }
    let end = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
    let history = client
        .history("input_boolean.guest", start, end)
        .await
        .unwrap();
    let states: Vec<&str> = history.iter().map(|h| h.state.as_str()).collect();
    assert_eq!(states, ["on", "off", "on"]);
    let logbook = client
        .logbook(&["input_boolean.guest"], start, end)
        .await
        .unwrap();
    assert_eq!(logbook.len(), 3);
    assert_eq!(logbook[1].state.as_deref(), Some("off"));

    // Services with response data; one without refuses return_response, as HA 2024.3.3 does.
    fake.set_service_response(
        "weather.get_forecasts",
        json!({"weather.home": {"forecast": [{"temperature": 21}]}}),
    );
    let api = hassette_core::ha::Api::new(client.clone());
    let answer = api
        .call("weather.get_forecasts")
        .target("weather.home")
        .data(json!({"type": "daily"}))
        .with_response()
        .await
        .unwrap();
    assert_eq!(answer["weather.home"]["forecast"][0]["temperature"], 21);
    let err = api
        .call("light.turn_on")
        .target("light.porch")
        .with_response()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("unknown_error"));
    let bad = api.call("turn_on").await.unwrap_err();
    assert!(bad.to_string().contains("domain.service"), "{bad}");
    let bad = api
        .call("light.turn_on")
        .data(json!([1, 2]))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("JSON object"), "{bad}");
}

#[derive(serde::Deserialize)]
struct WatchConfig {
    tag: String,
}

/// Uses the registries, a live template, a trigger and an owned entity.
struct Watcher {
    tag: String,
}

#[derive(Clone, Debug)]
enum WatchMsg {
    Kitchen(String),
    Template(String),
    Trigger(String),
}

impl App for Watcher {
    type Config = WatchConfig;
    type Message = WatchMsg;

    async fn initialize(c: WatchConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        let kitchen = ctx.states().in_area("Kitchen");
        record(&c.tag, format!("kitchen: {}", kitchen.join(",")));
        let area = ctx
            .states()
            .area_of("sensor.outside_temperature")
            .map(|a| a.name);
        let device = ctx
            .states()
            .device_of("sensor.outside_temperature")
            .and_then(|d| d.name);
        record(&c.tag, format!("sensor: {area:?} {device:?}"));
        ctx.bus()
            .on(kitchen)
            .send_with(|c| WatchMsg::Kitchen(c.entity_id.clone()));
        ctx.bus()
            .on_template("{{ states('light.porch') }}", WatchMsg::Template)
            .await?;
        ctx.bus()
            .on_trigger(
                json!({"platform": "state", "entity_id": "binary_sensor.front_door", "to": "on"}),
                |t| WatchMsg::Trigger(t.variables["trigger"]["to_state"]["state"].to_string()),
            )
            .await?;
        ctx.entity("sensor.watcher_count")
            .state(1)
            .unit("events")
            .device_class("enum")
            .friendly_name("Watcher count")
            .await?;
        Ok(Self { tag: c.tag })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, m: WatchMsg) -> Result<(), BoxError> {
        let (kind, what) = match &m {
            WatchMsg::Kitchen(e) => ("Kitchen", e),
            WatchMsg::Template(t) => ("Template", t),
            WatchMsg::Trigger(t) => ("Trigger", t),
        };
        record(&self.tag, format!("{kind}({what:?})"));
        if let WatchMsg::Kitchen(_) = m {
            // An update: the state only; unit and device class stay.
            ctx.entity("sensor.watcher_count").state(2).await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn areas_templates_triggers_and_owned_entities_in_an_app() {
    let t = tag("watcher");
    let h = AppHarness::<Watcher>::builder()
        .config(&format!("tag = \"{t}\""))
        .state("binary_sensor.front_door", "off", None)
        .fake(|ha| {
            ha.add_device("d1", "Weather station", Some("kitchen"));
            ha.set_entity_registry("sensor.outside_temperature", None, Some("d1"), None);
        })
        .start()
        .await
        .unwrap();
    let seen_now = wait_seen(&t, 3).await;
    // light.kitchen is placed in the kitchen, the sensor through its device.
    assert_eq!(
        seen_now[0],
        "kitchen: light.kitchen,sensor.outside_temperature"
    );
    assert_eq!(
        seen_now[1],
        "sensor: Some(\"Kitchen\") Some(\"Weather station\")"
    );
    assert_eq!(seen_now[2], "Template(\"off\")");
    let owned = h.fake().state("sensor.watcher_count").unwrap();
    assert_eq!(owned.state, "1");
    assert_eq!(owned.attributes["unit_of_measurement"], "events");
    assert_eq!(owned.attributes["device_class"], "enum");

    h.set_state("light.porch", "on").await;
    let s = wait_seen(&t, 4).await;
    assert_eq!(s[3], "Template(\"on\")");
    h.set_state("binary_sensor.front_door", "on").await;
    let s = wait_seen(&t, 5).await;
    assert_eq!(s[4], "Trigger(\"\\\"on\\\"\")");
    h.set_state("light.kitchen", "off").await;
    let s = wait_seen(&t, 6).await;
    assert_eq!(s[5], "Kitchen(\"light.kitchen\")");
    h.settle().await;
    let owned = h.fake().state("sensor.watcher_count").unwrap();
    assert_eq!(owned.state, "2");
    assert_eq!(owned.attributes["unit_of_measurement"], "events");

    // Home Assistant restarts and forgets the entity: after the reconnect it is back, from
    // the app's cache.
    h.fake().remove_entity("sensor.watcher_count");
    h.fake().drop_connections();
    let mut back = None;
    for _ in 0..500 {
        back = h.fake().state("sensor.watcher_count");
        if back.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let back = back.expect("the owned entity is published again after the reconnect");
    assert_eq!(back.state, "2");
    assert_eq!(back.attributes["friendly_name"], "Watcher count");
    assert!(
        h.cache()
            .contains("hassette:entity:sensor.watcher_count")
            .unwrap()
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_owned_entity_id_is_a_clear_error() {
    #[derive(Debug)]
    struct Bad;
    impl App for Bad {
        type Config = WatchConfig;
        type Message = ();
        async fn initialize(_: WatchConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
            ctx.entity("Sensor.Bad Name").state(1).await?;
            Ok(Self)
        }
    }
    let err = AppHarness::<Bad>::builder()
        .config("tag = \"x\"")
        .start()
        .await
        .unwrap_err();
    assert!(
        err.contains("\"Sensor.Bad Name\" is not a valid entity id"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fakes_rest_states_answer_as_home_assistant_does() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let client = connect(&fake).await;
    let attrs = serde_json::Map::new();
    let bad = client
        .set_state("Sensor.Bad", "1", &attrs)
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("http_400"));
    assert!(
        bad.to_string().contains("Invalid entity ID specified."),
        "{bad}"
    );
    let made = client
        .set_state("sensor.x_probe", "1", &attrs)
        .await
        .unwrap();
    assert_eq!(
        (
            made.state.as_str(),
            fake.state("sensor.x_probe").unwrap().state.as_str()
        ),
        ("1", "1")
    );
    fake.set_token(hassette_core::config::Secret::new("another"));
    let denied = client
        .set_state("sensor.x_probe", "2", &attrs)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some("http_401"));
}
