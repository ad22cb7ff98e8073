//! The demo scenario: a small house whose sensors move on their own.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::Shared;
use super::world::World;
use crate::ha::types::ha_time;
use crate::ha::{Context, State};

fn state(entity_id: &str, value: &str, attributes: Value, ctx_id: &str) -> State {
    let now = Timestamp::now();
    State {
        entity_id: entity_id.into(),
        state: value.into(),
        attributes: match attributes {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        last_changed: now,
        last_reported: Some(now),
        last_updated: now,
        context: Context {
            id: ctx_id.into(),
            parent_id: None,
            user_id: None,
        },
    }
}

/// The demo house: lights, a switch, a fan, helpers, a motion sensor, a door, a temperature
/// sensor and the sun, shaped like the states of a real Home Assistant.
pub(crate) fn states() -> Vec<State> {
    let light = |name: &str, on: bool| {
        json!({"min_color_temp_kelvin": 2000, "max_color_temp_kelvin": 6535,
            "supported_color_modes": ["color_temp", "hs"],
            "color_mode": if on { json!("color_temp") } else { Value::Null },
            "brightness": if on { json!(180) } else { Value::Null },
            "friendly_name": name, "supported_features": 40})
    };
    let now = Timestamp::now();
    let rising = now + SignedDuration::from_hours(9);
    let setting = now + SignedDuration::from_hours(3);
    vec![
        state(
            "light.kitchen",
            "on",
            light("Kitchen Lights", true),
            "01JDEMO0000000000000000001",
        ),
        state(
            "light.living_room",
            "off",
            light("Living Room Lights", false),
            "01JDEMO0000000000000000002",
        ),
        state(
            "light.porch",
            "off",
            light("Porch Light", false),
            "01JDEMO0000000000000000003",
        ),
        state(
            "switch.coffee_maker",
            "off",
            json!({"friendly_name": "Coffee Maker"}),
            "01JDEMO0000000000000000004",
        ),
        state(
            "fan.ceiling",
            "off",
            json!({"percentage": null, "percentage_step": 33.333333333333336,
            "friendly_name": "Ceiling Fan", "supported_features": 49}),
            "01JDEMO0000000000000000005",
        ),
        state(
            "input_boolean.guest_mode",
            "off",
            json!({"editable": false, "friendly_name": "Guest mode"}),
            "01JDEMO0000000000000000006",
        ),
        state(
            "input_number.target_temperature",
            "20.0",
            json!({"initial": 20.0, "editable": false,
            "min": 5.0, "max": 30.0, "step": 0.5, "mode": "slider",
            "unit_of_measurement": "°C", "friendly_name": "Target temperature"}),
            "01JDEMO0000000000000000007",
        ),
        state(
            "input_text.note",
            "hello",
            json!({"editable": false, "min": 0, "max": 100,
            "pattern": null, "mode": "text", "friendly_name": "Note"}),
            "01JDEMO0000000000000000008",
        ),
        state(
            "binary_sensor.hallway_motion",
            "off",
            json!({"device_class": "motion",
            "friendly_name": "Hallway Motion"}),
            "01JDEMO0000000000000000009",
        ),
        state(
            "binary_sensor.front_door",
            "off",
            json!({"device_class": "door",
            "friendly_name": "Front Door"}),
            "01JDEMO000000000000000000A",
        ),
        state(
            "sensor.outside_temperature",
            "15.6",
            json!({"state_class": "measurement",
            "unit_of_measurement": "°C", "device_class": "temperature",
            "friendly_name": "Outside Temperature"}),
            "01JDEMO000000000000000000B",
        ),
        state(
            "sun.sun",
            "above_horizon",
            json!({
            "next_dawn": ha_time::format(rising - SignedDuration::from_mins(40)),
            "next_dusk": ha_time::format(setting + SignedDuration::from_mins(40)),
            "next_midnight": ha_time::format(now + SignedDuration::from_hours(6)),
            "next_noon": ha_time::format(now + SignedDuration::from_hours(18)),
            "next_rising": ha_time::format(rising),
            "next_setting": ha_time::format(setting),
            "elevation": 24.75, "azimuth": 181.62, "rising": false, "friendly_name": "Sun"}),
            "01JDEMO000000000000000000C",
        ),
    ]
}

/// Moves the demo house: motion trips on for 3 s every 6 s, the door opens for 5 s every
/// 20 s, the temperature drifts every 5 s.
pub(crate) async fn drive(shared: Arc<Shared>) {
    let mut tick: u64 = 0;
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = shared.cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        tick += 1;
        let mut world = shared.world();
        match tick % 6 {
            0 => set(
                &shared,
                &mut world,
                "binary_sensor.hallway_motion",
                "on".into(),
            ),
            3 => set(
                &shared,
                &mut world,
                "binary_sensor.hallway_motion",
                "off".into(),
            ),
            _ => {}
        }
        match tick % 20 {
            0 => set(&shared, &mut world, "binary_sensor.front_door", "on".into()),
            5 => set(
                &shared,
                &mut world,
                "binary_sensor.front_door",
                "off".into(),
            ),
            _ => {}
        }
        if tick.is_multiple_of(5) {
            let current: f64 = world
                .states
                .get("sensor.outside_temperature")
                .and_then(|s| s.state.parse().ok())
                .unwrap_or(15.0);
            let next = (current + (fastrand::f64() - 0.5) * 0.6).clamp(-10.0, 35.0);
            set(
                &shared,
                &mut world,
                "sensor.outside_temperature",
                format!("{next:.1}"),
            );
        }
    }
}

fn set(shared: &Shared, world: &mut World, entity_id: &str, value: String) {
    if let Some(change) = world.set_state(entity_id, &value, None, None) {
        shared.publish(super::world::state_changed_event(change));
    }
}
