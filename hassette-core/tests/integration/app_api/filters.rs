//! State filters: to_any, not_to, from/not_from, ignore_unavailable, attribute_eq, when,
//! immediate, and duration counted from last_changed (across a restart).

use std::sync::Arc;
use std::time::Duration;

use hassette_core::prelude::*;
use hassette_core::testing::AppHarness;
use serde_json::json;

use super::{record, seen, tag};

#[derive(serde::Deserialize)]
struct FilterConfig {
    tag: String,
    mode: String,
}

/// Subscribes with the filter its `mode` names; records `entity=state` per delivery.
struct FilterApp {
    tag: String,
}

impl App for FilterApp {
    type Config = FilterConfig;
    type Message = Arc<StateChanged>;

    async fn initialize(c: FilterConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        let bus = ctx.bus();
        let _ = match c.mode.as_str() {
            "to_any" => bus
                .on("sensor.a")
                .to_any(["on", "open"])
                .ignore_unavailable()
                .send_with(|c| c),
            "not_to" => bus.on("sensor.a").not_to("off").send_with(|c| c),
            "from" => bus.on("sensor.a").from("off").to("on").send_with(|c| c),
            "not_from" => bus.on("sensor.a").not_from("unavailable").send_with(|c| c),
            "attribute_eq" => bus
                .on("climate.hall")
                .attribute_eq("hvac_action", "heating")
                .send_with(|c| c),
            "when" => bus
                .on("sensor.temp")
                .when(|c| {
                    c.new_state
                        .as_ref()
                        .and_then(|s| s.state.parse::<f64>().ok())
                        .is_some_and(|t| t > 25.0)
                })
                .send_with(|c| c),
            "immediate" => bus.on("light.*").to("on").immediate().send_with(|c| c),
            "duration" => bus
                .on("binary_sensor.door")
                .to("on")
                .duration(Duration::from_secs(300))
                .send_with(|c| c),
            other => return Err(format!("unknown mode {other}").into()),
        };
        Ok(Self { tag: c.tag })
    }

    async fn handle(&mut self, _: &AppContext<Self>, c: Arc<StateChanged>) -> Result<(), BoxError> {
        let state = c.new_state.as_ref().map_or("-", |s| s.state.as_str());
        record(&self.tag, format!("{}={state}", c.entity_id));
        Ok(())
    }
}

async fn harness(mode: &str) -> (AppHarness<FilterApp>, String) {
    let t = tag(mode);
    let h = AppHarness::<FilterApp>::builder()
        .config(&format!("tag = \"{t}\"\nmode = \"{mode}\""))
        .state("sensor.a", "off", None)
        .start()
        .await
        .unwrap();
    (h, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn to_any_with_unavailable_ignored() {
    let (h, t) = harness("to_any").await;
    for s in ["on", "unavailable", "on", "open", "off", "unknown", "open"] {
        h.set_state("sensor.a", s).await;
    }
    // unavailable→on and unknown→open come from no-reading states: skipped.
    assert_eq!(seen(&t), ["sensor.a=on", "sensor.a=open"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_to_from_and_not_from() {
    let (h, t) = harness("not_to").await;
    for s in ["x", "off", "y"] {
        h.set_state("sensor.a", s).await;
    }
    assert_eq!(seen(&t), ["sensor.a=x", "sensor.a=y"]);
    h.stop().await;

    let (h, t) = harness("from").await;
    for s in ["on", "x", "on", "off", "on"] {
        h.set_state("sensor.a", s).await;
    }
    assert_eq!(seen(&t), ["sensor.a=on", "sensor.a=on"]);
    h.stop().await;

    let (h, t) = harness("not_from").await;
    for s in ["unavailable", "on", "off"] {
        h.set_state("sensor.a", s).await;
    }
    assert_eq!(seen(&t), ["sensor.a=unavailable", "sensor.a=off"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_value_match() {
    let t = tag("attr");
    let h = AppHarness::<FilterApp>::builder()
        .config(&format!("tag = \"{t}\"\nmode = \"attribute_eq\""))
        .state("climate.hall", "heat", Some(json!({"hvac_action": "idle"})))
        .start()
        .await
        .unwrap();
    let set = |action: &str, temp: f64| json!({"hvac_action": action, "current_temperature": temp});
    h.set_state_with("climate.hall", "heat", Some(set("heating", 19.0)))
        .await;
    // Still heating, another attribute moved: not a new match of hvac_action.
    h.set_state_with("climate.hall", "heat", Some(set("heating", 19.5)))
        .await;
    h.set_state_with("climate.hall", "heat", Some(set("idle", 20.0)))
        .await;
    h.set_state_with("climate.hall", "heat", Some(set("heating", 19.0)))
        .await;
    assert_eq!(seen(&t), ["climate.hall=heat", "climate.hall=heat"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_predicate_decides() {
    let (h, t) = harness("when").await;
    for s in ["20", "26", "24", "30.5", "unavailable"] {
        h.set_state("sensor.temp", s).await;
    }
    assert_eq!(seen(&t), ["sensor.temp=26", "sensor.temp=30.5"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_fires_at_startup_for_what_already_holds() {
    let t = tag("immediate");
    let h = AppHarness::<FilterApp>::builder()
        .config(&format!("tag = \"{t}\"\nmode = \"immediate\""))
        .state("light.kitchen", "on", None)
        .state("light.porch", "off", None)
        .state("light.living_room", "off", None)
        .start()
        .await
        .unwrap();
    // The demo house's lights: only the kitchen is on at startup.
    assert_eq!(seen(&t), ["light.kitchen=on"]);
    h.set_state("light.porch", "on").await;
    assert_eq!(seen(&t), ["light.kitchen=on", "light.porch=on"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_for_5_minutes_survives_a_restart_in_the_middle() {
    let t = tag("duration");
    let mut h = AppHarness::<FilterApp>::builder()
        .config(&format!("tag = \"{t}\"\nmode = \"duration\""))
        .state("binary_sensor.door", "off", None)
        .start()
        .await
        .unwrap();
    h.set_state("binary_sensor.door", "on").await;
    h.advance(Duration::from_secs(180)).await;
    assert!(seen(&t).is_empty());
    // hassette restarts 3 minutes into the 5: no state change arrives afterwards, the wait
    // resumes from the door's last_changed.
    h.restart().await.unwrap();
    h.advance(Duration::from_secs(119)).await;
    assert!(seen(&t).is_empty(), "{:?}", seen(&t));
    h.advance(Duration::from_secs(2)).await;
    assert_eq!(seen(&t), ["binary_sensor.door=on"]);
    // And a wait that ended before a restart does not fire again after it.
    h.restart().await.unwrap();
    h.advance(Duration::from_secs(600)).await;
    assert_eq!(seen(&t), ["binary_sensor.door=on"]);
    h.stop().await;
}
