//! The example apps, each tested with the app harness against the fake Home Assistant.

use std::time::Duration;

use apps_example::{Counter, DailyReport, DoorWatcher, MotionLight, Notifier, WeatherSummary};
use hassette_core::testing::AppHarness;

fn calls<A: hassette_core::app::App>(h: &AppHarness<A>) -> Vec<String> {
    h.service_calls()
        .iter()
        .map(|c| format!("{}.{}", c.domain, c.service))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motion_light_turns_on_then_off_after_a_quiet_period() {
    let h = AppHarness::<MotionLight>::builder()
        .config(
            r#"sensor = "binary_sensor.hallway_motion"
                   light = "light.kitchen"
                   off_after_secs = 120
                   brightness = 200"#,
        )
        .state("binary_sensor.hallway_motion", "off", None)
        .state("light.kitchen", "off", None)
        .start()
        .await
        .unwrap();
    h.set_state("binary_sensor.hallway_motion", "on").await;
    assert_eq!(calls(&h), ["light.turn_on"]);
    assert_eq!(h.service_calls()[0].service_data["brightness"], 200);
    h.set_state("binary_sensor.hallway_motion", "off").await;
    h.advance(Duration::from_secs(60)).await;
    // Motion again before the two minutes are up: the off timer starts over.
    h.set_state("binary_sensor.hallway_motion", "on").await;
    h.set_state("binary_sensor.hallway_motion", "off").await;
    h.advance(Duration::from_secs(119)).await;
    assert_eq!(calls(&h), ["light.turn_on", "light.turn_on"]);
    h.advance(Duration::from_secs(2)).await;
    assert_eq!(
        calls(&h),
        ["light.turn_on", "light.turn_on", "light.turn_off"]
    );
    assert_eq!(h.states().state("light.kitchen").as_deref(), Some("off"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_counts_into_its_instance_scoped_key() {
    let h = AppHarness::<Counter>::builder()
        .config(
            r#"instance_name = "guest"
                   entity = "input_boolean.guest_mode""#,
        )
        .state("input_boolean.guest_mode", "off", None)
        .start()
        .await
        .unwrap();
    for _ in 0..3 {
        h.set_state("input_boolean.guest_mode", "on").await;
        h.set_state("input_boolean.guest_mode", "off").await;
    }
    assert_eq!(h.cache().get::<i64>("guest:count").unwrap(), Some(3));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_is_rate_limited_by_a_cache_ttl() {
    let h = AppHarness::<Notifier>::builder()
        .config(
            r#"entity = "binary_sensor.front_door"
                   service = "notify.notify"
                   cooldown_secs = 60"#,
        )
        .state("binary_sensor.front_door", "off", None)
        .start()
        .await
        .unwrap();
    let open_close = || async {
        h.set_state("binary_sensor.front_door", "on").await;
        h.set_state("binary_sensor.front_door", "off").await;
    };
    open_close().await;
    open_close().await;
    assert_eq!(calls(&h), ["notify.notify"]);
    h.advance(Duration::from_secs(61)).await;
    open_close().await;
    assert_eq!(calls(&h), ["notify.notify", "notify.notify"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weather_summary_is_computed_once_per_ttl() {
    let h = AppHarness::<WeatherSummary>::builder()
        .config(
            r#"sensor = "sensor.outside_temperature"
                   ttl_secs = 300"#,
        )
        .start()
        .await
        .unwrap();
    h.set_state("sensor.outside_temperature", "12.5").await;
    let first: String = h.cache().get("summary").unwrap().unwrap();
    assert_eq!(first, "outside: 12.5 °C");
    // Within the TTL the cached summary stands, whatever the sensor does.
    h.set_state("sensor.outside_temperature", "13.0").await;
    assert_eq!(h.cache().get::<String>("summary").unwrap().unwrap(), first);
    h.advance(Duration::from_secs(301)).await;
    h.set_state("sensor.outside_temperature", "14.0").await;
    assert_eq!(
        h.cache().get::<String>("summary").unwrap().unwrap(),
        "outside: 14.0 °C"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_report_runs_at_its_local_time() {
    // 21:00 in Amsterdam (the fake's time zone): the report is due in 30 minutes, then daily.
    let start: jiff::Timestamp = "2026-11-21T20:00:00Z".parse().unwrap();
    let h = AppHarness::<DailyReport>::builder()
        .config(
            r#"at = "21:30:00"
                   entities = ["light.kitchen"]
                   service = "notify.notify""#,
        )
        .state("light.kitchen", "on", None)
        .at(start)
        .start()
        .await
        .unwrap();
    h.advance(Duration::from_secs(29 * 60 + 59)).await;
    assert!(calls(&h).is_empty());
    h.advance(Duration::from_secs(1)).await;
    assert_eq!(calls(&h), ["notify.notify"]);
    assert_eq!(
        h.service_calls()[0].service_data["message"],
        "2026-11-21: light.kitchen=on"
    );
    h.advance(Duration::from_secs(24 * 3600)).await;
    assert_eq!(calls(&h), ["notify.notify", "notify.notify"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn door_watcher_never_creates_a_cache_directory() {
    let h = AppHarness::<DoorWatcher>::builder()
        .config(r#"doors = ["binary_sensor.front_door"]"#)
        .state("binary_sensor.front_door", "off", None)
        .start()
        .await
        .unwrap();
    h.set_state("binary_sensor.front_door", "on").await;
    h.set_state("binary_sensor.front_door", "off").await;
    assert!(!h.config().data_dir.join("DoorWatcher").exists());
    h.stop().await;
}
