//! The runtime and the app model, through the test harness and against the fake Home
//! Assistant: subscriptions and their filters, timers on the manual clock, isolation of
//! failing and slow apps, reconnects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_core::app::{App, AppContext, AppRegistry, BoxError};
use hassette_core::config::LoadOptions;
use hassette_core::ha::{Event, StateChanged};
use hassette_core::runtime::{self, RunOptions, Runtime};
use hassette_core::testing::{AppHarness, FakeHomeAssistant};
use serde::Deserialize;
use serde_json::json;

/// What test apps saw, by tag: every test uses its own tags.
static SEEN: Mutex<Option<HashMap<String, Vec<String>>>> = Mutex::new(None);

fn record(tag: &str, what: impl Into<String>) {
    let mut seen = SEEN.lock().unwrap();
    seen.get_or_insert_with(HashMap::new)
        .entry(tag.to_owned())
        .or_default()
        .push(what.into());
}

/// The last record of a tag and how many there are, without copying them all.
fn last_seen(tag: &str) -> (Option<String>, usize) {
    let seen = SEEN.lock().unwrap();
    let list = seen.as_ref().and_then(|m| m.get(tag));
    (
        list.and_then(|l| l.last().cloned()),
        list.map_or(0, Vec::len),
    )
}

fn seen(tag: &str) -> Vec<String> {
    SEEN.lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(tag).cloned())
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
struct WatchConfig {
    tag: String,
    entities: Vec<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    attribute: Option<String>,
    #[serde(default)]
    any_change: bool,
    #[serde(default)]
    duration_secs: Option<u64>,
    #[serde(default)]
    debounce_secs: Option<u64>,
    #[serde(default)]
    throttle_secs: Option<u64>,
    #[serde(default)]
    once: bool,
    #[serde(default)]
    light: Option<String>,
}

/// Records every state change its subscription delivers; optionally turns a light on.
struct Watcher {
    ctx: AppContext<Self>,
    tag: String,
    light: Option<String>,
}

impl App for Watcher {
    type Config = WatchConfig;
    type Message = Arc<StateChanged>;

    async fn initialize(c: WatchConfig, ctx: AppContext<Self>) -> Result<Self, BoxError> {
        let mut sub = ctx.bus().on_state_change(c.entities);
        if let Some(to) = c.to {
            sub = sub.to(to);
        }
        if let Some(a) = c.attribute {
            sub = sub.attribute(a);
        }
        if c.any_change {
            sub = sub.any_change();
        }
        if let Some(s) = c.duration_secs {
            sub = sub.duration(Duration::from_secs(s));
        }
        if let Some(s) = c.debounce_secs {
            sub = sub.debounce(Duration::from_secs(s));
        }
        if let Some(s) = c.throttle_secs {
            sub = sub.throttle(Duration::from_secs(s));
        }
        if c.once {
            sub = sub.once();
        }
        sub.send_with(|change| change);
        Ok(Self {
            ctx,
            tag: c.tag,
            light: c.light,
        })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, change: Arc<StateChanged>) -> Result<(), BoxError> {
        let state = change
            .new_state
            .as_ref()
            .map_or("-".to_owned(), |s| s.state.clone());
        record(&self.tag, format!("{}={state}", change.entity_id));
        if let Some(light) = &self.light {
            self.api()
                .turn_on(light, Some(json!({"brightness": 100})))
                .await?;
        }
        Ok(())
    }
}

fn watcher(config: &str) -> hassette_core::testing::HarnessBuilder<Watcher> {
    AppHarness::<Watcher>::builder().config(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_trigger_calls_a_service_and_the_state_view_follows() {
    let h = watcher(
        r#"tag = "trigger"
           entities = ["binary_sensor.hallway_motion"]
           to = "on"
           light = "light.kitchen""#,
    )
    .state("light.kitchen", "off", None)
    .state("binary_sensor.hallway_motion", "off", None)
    .start()
    .await
    .unwrap();
    h.set_state("binary_sensor.hallway_motion", "on").await;
    assert_eq!(seen("trigger"), ["binary_sensor.hallway_motion=on"]);
    let calls = h.service_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].domain.as_str(), calls[0].service.as_str()),
        ("light", "turn_on")
    );
    assert_eq!(h.states().state("light.kitchen").as_deref(), Some("on"));
    assert_eq!(
        h.states().state("binary_sensor.hallway_motion").as_deref(),
        Some("on")
    );
    // `to = "on"`: going off does not fire.
    h.set_state("binary_sensor.hallway_motion", "off").await;
    assert_eq!(seen("trigger").len(), 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn globs_and_attribute_filters() {
    let h = watcher(
        r#"tag = "glob"
                       entities = ["light.*"]"#,
    )
    .state("light.kitchen", "off", None)
    .state("light.porch", "off", None)
    .state("switch.coffee_maker", "off", None)
    .start()
    .await
    .unwrap();
    h.set_state("light.kitchen", "on").await;
    h.set_state("switch.coffee_maker", "on").await;
    h.set_state("light.porch", "on").await;
    // An attribute-only change is not a state change.
    h.set_state_with("light.porch", "on", Some(json!({"brightness": 10})))
        .await;
    assert_eq!(seen("glob"), ["light.kitchen=on", "light.porch=on"]);
    h.stop().await;

    let h = watcher(
        r#"tag = "attr"
                       entities = ["light.porch"]
                       attribute = "brightness""#,
    )
    .start()
    .await
    .unwrap();
    h.set_state_with("light.porch", "on", Some(json!({"brightness": 10})))
        .await;
    h.set_state_with("light.porch", "on", Some(json!({"brightness": 10})))
        .await;
    h.set_state_with("light.porch", "on", Some(json!({"brightness": 20})))
        .await;
    assert_eq!(seen("attr").len(), 2, "{:?}", seen("attr"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duration_fires_only_if_the_state_holds() {
    let h = watcher(
        r#"tag = "duration"
           entities = ["binary_sensor.front_door"]
           to = "on"
           duration_secs = 300"#,
    )
    .state("binary_sensor.front_door", "off", None)
    .start()
    .await
    .unwrap();
    h.set_state("binary_sensor.front_door", "on").await;
    h.advance(Duration::from_secs(200)).await;
    assert!(seen("duration").is_empty());
    // Closed before five minutes: cancelled.
    h.set_state("binary_sensor.front_door", "off").await;
    h.advance(Duration::from_secs(200)).await;
    assert!(seen("duration").is_empty());
    // Open for the full five minutes: fires once.
    h.set_state("binary_sensor.front_door", "on").await;
    h.advance(Duration::from_secs(299)).await;
    assert!(seen("duration").is_empty());
    h.advance(Duration::from_secs(2)).await;
    assert_eq!(seen("duration"), ["binary_sensor.front_door=on"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debounce_throttle_and_once() {
    let h = watcher(
        r#"tag = "debounce"
                       entities = ["sensor.outside_temperature"]
                       debounce_secs = 10"#,
    )
    .start()
    .await
    .unwrap();
    for t in ["1", "2", "3"] {
        h.set_state("sensor.outside_temperature", t).await;
        h.advance(Duration::from_secs(2)).await;
    }
    assert!(seen("debounce").is_empty());
    h.advance(Duration::from_secs(10)).await;
    assert_eq!(seen("debounce"), ["sensor.outside_temperature=3"]);
    h.stop().await;

    let h = watcher(
        r#"tag = "throttle"
                       entities = ["sensor.outside_temperature"]
                       throttle_secs = 60"#,
    )
    .start()
    .await
    .unwrap();
    for t in ["1", "2", "3"] {
        h.set_state("sensor.outside_temperature", t).await;
    }
    h.advance(Duration::from_secs(61)).await;
    h.set_state("sensor.outside_temperature", "4").await;
    assert_eq!(
        seen("throttle"),
        [
            "sensor.outside_temperature=1",
            "sensor.outside_temperature=4"
        ]
    );
    h.stop().await;

    let h = watcher(
        r#"tag = "once"
                       entities = ["light.kitchen"]
                       once = true"#,
    )
    .state("light.kitchen", "off", None)
    .start()
    .await
    .unwrap();
    h.set_state("light.kitchen", "on").await;
    h.set_state("light.kitchen", "off").await;
    assert_eq!(seen("once"), ["light.kitchen=on"]);
    h.stop().await;
}

#[derive(Debug, Deserialize)]
struct EventConfig {
    tag: String,
}

#[derive(Clone, Debug)]
enum EventMsg {
    Custom(Event),
    ServiceCall(Event),
    Timer(&'static str),
}

/// Subscribes to a custom event (with a data filter) and to light service calls, and sets a
/// timer of each kind.
struct EventApp {
    ctx: AppContext<Self>,
    tag: String,
}

impl App for EventApp {
    type Config = EventConfig;
    type Message = EventMsg;

    async fn initialize(c: EventConfig, ctx: AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus()
            .on_event("doorbell")
            .data(json!({"button": "front"}))
            .send_with(EventMsg::Custom);
        ctx.bus()
            .on_service_call("light", Some("turn_on"))
            .send_with(EventMsg::ServiceCall);
        let s = ctx.scheduler();
        s.run_in(Duration::from_secs(30), EventMsg::Timer("in"))?;
        s.run_every(Duration::from_secs(60), EventMsg::Timer("every"))?;
        s.run_at(
            ctx.now().timestamp() + jiff::SignedDuration::from_secs(90),
            EventMsg::Timer("at"),
        )?;
        Ok(Self { ctx, tag: c.tag })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, m: EventMsg) -> Result<(), BoxError> {
        let text = match m {
            EventMsg::Custom(e) => format!("event {}", e.event_type),
            EventMsg::ServiceCall(e) => format!("call {}", e.event_type),
            EventMsg::Timer(kind) => format!("timer {kind}"),
        };
        record(&self.tag, text);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_service_calls_and_timers() {
    let h = AppHarness::<EventApp>::builder()
        .config(r#"tag = "events""#)
        .start()
        .await
        .unwrap();
    h.fire_event("doorbell", json!({"button": "back"})).await;
    h.fire_event("doorbell", json!({"button": "front"})).await;
    h.fake().fire_event(
        "call_service",
        json!({"domain": "light", "service": "turn_on", "service_data": {}}),
    );
    h.fire_event(
        "call_service",
        json!({"domain": "switch", "service": "turn_on"}),
    )
    .await;
    h.advance(Duration::from_secs(125)).await;
    assert_eq!(
        seen("events"),
        [
            "event doorbell",
            "call call_service",
            "timer in",
            "timer every",
            "timer at",
            "timer every"
        ]
    );
    // Home Assistant was asked only for the event types the app needs (state_changed is
    // always followed, for the states view).
    let mut types = h.fake().event_subscriptions();
    types.sort();
    types.dedup();
    assert_eq!(types, ["call_service", "doorbell", "state_changed"]);
    h.stop().await;
}

#[derive(Debug, Deserialize)]
struct FaultyConfig {
    tag: String,
    entity: String,
    #[serde(default)]
    panic_on: Option<String>,
    #[serde(default)]
    fail_on: Option<String>,
    #[serde(default)]
    slow_ms: u64,
    /// `initialize` fails while the tag has been initialized fewer times than this.
    #[serde(default)]
    fail_init_times: usize,
}

/// Panics, fails or dawdles on command, and records everything else.
struct Faulty {
    ctx: AppContext<Self>,
    c: FaultyConfig,
}

impl App for Faulty {
    type Config = FaultyConfig;
    type Message = Arc<StateChanged>;

    async fn initialize(c: FaultyConfig, ctx: AppContext<Self>) -> Result<Self, BoxError> {
        // Recorded once subscribed, so that a test seeing the count can count on the subscription.
        let tries = format!("{}-init", c.tag);
        let tried = seen(&tries).len();
        if tried < c.fail_init_times {
            record(&tries, "failed");
            return Err(format!("init failure {}", tried + 1).into());
        }
        ctx.bus().on_state_change(&c.entity).send_with(|c| c);
        record(&tries, "ok");
        Ok(Self { ctx, c })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn handle(&mut self, change: Arc<StateChanged>) -> Result<(), BoxError> {
        let state = change
            .new_state
            .as_ref()
            .map(|s| s.state.clone())
            .unwrap_or_default();
        if self.c.panic_on.as_deref() == Some(state.as_str()) {
            panic!("the app panics on {state}");
        }
        if self.c.fail_on.as_deref() == Some(state.as_str()) {
            return Err(format!("the app fails on {state}").into());
        }
        if self.c.slow_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.c.slow_ms)).await;
        }
        record(&self.c.tag, state);
        Ok(())
    }
}

/// A runtime with several `Faulty` instances against a fake.
async fn faulty_runtime(apps: &str) -> (FakeHomeAssistant, Runtime, tempfile::TempDir) {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hassette.toml");
    let settings = "app_shutdown_timeout = \"200ms\"";
    std::fs::write(
        &file,
        format!(
            "[hassette]\nbase_url = \"{}\"\ndata_dir = \"data\"\n{settings}\n{apps}",
            fake.base_url()
        ),
    )
    .unwrap();
    let mut registry = AppRegistry::new();
    registry.register::<Faulty>();
    let options = LoadOptions {
        config_file: Some(file),
        env: Some(Vec::new()),
        ..LoadOptions::default()
    };
    let config = hassette_core::config::load(&options, &registry).unwrap();
    let client = runtime::client_options(&config, fake.base_url(), fake.token());
    let runtime = Runtime::start(&config, &registry, client, RunOptions::from_config(&config))
        .await
        .unwrap();
    (fake, runtime, dir)
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_or_failing_app_does_not_take_others_down() {
    let (fake, runtime, _dir) = faulty_runtime(
        r#"
[hassette.apps.panicky]
class_name = "Faulty"
restart = "never"
config = { tag = "panicky", entity = "input_boolean.guest_mode", panic_on = "on" }
[hassette.apps.failing]
class_name = "Faulty"
[[hassette.apps.failing.config]]
instance_name = "f"
tag = "failing"
entity = "input_boolean.guest_mode"
fail_on = "on"
[hassette.apps.steady]
class_name = "Faulty"
[[hassette.apps.steady.config]]
instance_name = "s"
tag = "steady"
entity = "input_boolean.guest_mode"
"#,
    )
    .await;
    assert_eq!(runtime.summary().started(), 3);
    fake.set_state("input_boolean.guest_mode", "on", None);
    fake.set_state("input_boolean.guest_mode", "off", None);
    eventually("the steady app to see both changes", || {
        seen("steady").len() == 2
    })
    .await;
    eventually("the failing app to carry on after its error", || {
        seen("failing") == ["off"]
    })
    .await;
    // The panicking instance stopped at its first message: it never saw "off".
    fake.set_state("input_boolean.guest_mode", "on", None);
    eventually("the steady app to see the third change", || {
        seen("steady").len() == 3
    })
    .await;
    assert!(seen("panicky").is_empty());
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_instance_is_restarted_with_backoff_until_max_restarts() {
    let (fake, runtime, _dir) = faulty_runtime(
        r#"
[hassette.apps.phoenix]
class_name = "Faulty"
restart_delay = "20ms"
max_restarts = 2
config = { instance_name = "phoenix", tag = "phoenix", entity = "input_boolean.guest_mode", panic_on = "on" }
[hassette.apps.calm]
class_name = "Faulty"
config = { instance_name = "calm", tag = "calm", entity = "input_boolean.guest_mode" }
"#,
    )
    .await;
    assert_eq!(runtime.summary().started(), 2);
    for round in 1..=3 {
        // Each "on" panics the instance; once restarted, it hears the next change again.
        fake.set_state("input_boolean.guest_mode", "on", None);
        eventually("the panic's restart", || {
            seen("phoenix-init").len() == (round + 1).min(3)
        })
        .await;
        fake.set_state("input_boolean.guest_mode", "off", None);
        eventually("the calm app to see both changes", || {
            seen("calm").len() == round * 2
        })
        .await;
        if round < 3 {
            eventually("the restarted instance to hear `off`", || {
                seen("phoenix").len() == round
            })
            .await;
        }
    }
    // The third panic found both restarts used: the instance stays stopped (its next restart
    // would have come after 80 ms).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen("phoenix-init").len(), 3);
    assert_eq!(seen("phoenix"), ["off", "off"]);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_initialize_is_retried_and_the_instance_then_runs() {
    let (fake, runtime, _dir) = faulty_runtime(
        r#"
[hassette.apps.late]
class_name = "Faulty"
restart_delay = "10ms"
config = { instance_name = "late", tag = "late", entity = "input_boolean.guest_mode", fail_init_times = 2 }
"#,
    )
    .await;
    let first = &runtime.summary().instances[0];
    let why = first.result.as_ref().unwrap_err();
    assert!(
        why.contains("initialize failed: init failure 1; restarting in"),
        "{why}"
    );
    assert_eq!(runtime.summary().why_nothing_runs(), None);
    eventually("the third try to succeed", || seen("late-init").len() == 3).await;
    // It subscribes only once it has initialized; wait for the subscription to be in place.
    eventually("the instance to run", || {
        fake.set_state("input_boolean.guest_mode", "on", None);
        fake.set_state("input_boolean.guest_mode", "off", None);
        !seen("late").is_empty()
    })
    .await;
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_instance_fails_for_good_run_until_ends_with_no_app_running() {
    let (_fake, runtime, _dir) = faulty_runtime(
        r#"
[hassette.apps.doomed]
class_name = "Faulty"
restart_delay = "10ms"
max_restarts = 1
config = { instance_name = "doomed", tag = "doomed", entity = "input_boolean.guest_mode", fail_init_times = 100 }
[hassette.apps.never]
class_name = "Faulty"
restart = "never"
config = { instance_name = "never", tag = "never", entity = "input_boolean.guest_mode", fail_init_times = 100 }
"#,
    )
    .await;
    assert_eq!(runtime.summary().failed(), 2);
    let never = runtime
        .summary()
        .instances
        .iter()
        .find(|i| i.app == "never")
        .unwrap();
    let why = never.result.as_ref().unwrap_err();
    assert!(
        why.ends_with("not restarting (restart = \"never\")"),
        "{why}"
    );
    let ended = tokio::time::timeout(
        Duration::from_secs(30),
        runtime.run_until(std::future::pending()),
    )
    .await
    .expect("run_until ends by itself once no instance is left");
    let err = ended.unwrap_err();
    assert!(
        matches!(err, runtime::RuntimeError::NoAppRunning(_)),
        "{err}"
    );
    assert_eq!(seen("doomed-init").len(), 2);
    assert_eq!(seen("never-init").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_restart_never_and_every_instance_failed_the_summary_says_nothing_runs() {
    let (_fake, runtime, _dir) = faulty_runtime(
        r#"
[hassette.apps.never2]
class_name = "Faulty"
restart = "never"
config = { instance_name = "never2", tag = "never2", entity = "input_boolean.guest_mode", fail_init_times = 100 }
"#,
    )
    .await;
    assert_eq!(
        runtime.summary().why_nothing_runs(),
        Some("every app instance failed and none will be restarted")
    );
    assert!(runtime.run_until(std::future::pending()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_app_does_not_delay_another() {
    let (fake, runtime, _dir) = faulty_runtime(
        r#"
[hassette.apps.slow]
class_name = "Faulty"
config = { tag = "slow", entity = "sensor.outside_temperature", slow_ms = 60000 }
[hassette.apps.quick]
class_name = "Faulty"
[[hassette.apps.quick.config]]
instance_name = "q"
tag = "quick"
entity = "sensor.outside_temperature"
"#,
    )
    .await;
    for t in 0..20 {
        fake.set_state("sensor.outside_temperature", &t.to_string(), None);
    }
    // The slow app is stuck in its first handler for a minute; the quick one sees all 20.
    eventually("the quick app to see every change", || {
        seen("quick").len() == 20
    })
    .await;
    assert!(seen("slow").is_empty());
    runtime.shutdown().await;
}

#[derive(Debug, Deserialize)]
struct ReconnectConfig {
    tag: String,
}

/// Records what changed while the connection was away.
struct ReconnectApp {
    ctx: AppContext<Self>,
    tag: String,
}

impl App for ReconnectApp {
    type Config = ReconnectConfig;
    type Message = ();

    async fn initialize(c: ReconnectConfig, ctx: AppContext<Self>) -> Result<Self, BoxError> {
        Ok(Self { ctx, tag: c.tag })
    }

    fn context(&self) -> &AppContext<Self> {
        &self.ctx
    }

    async fn on_reconnect(&mut self, changed: Arc<[StateChanged]>) -> Result<(), BoxError> {
        for c in changed.iter() {
            let state = c.new_state.as_ref().map_or("gone", |s| s.state.as_str());
            record(&self.tag, format!("{}={state}", c.entity_id));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reconnect_apps_hear_what_changed_while_away() {
    let h = AppHarness::<ReconnectApp>::builder()
        .config(r#"tag = "reconnect""#)
        .state("light.kitchen", "off", None)
        .settings("reconnect_initial_delay = \"50ms\"\nreconnect_max_delay = \"100ms\"")
        .start()
        .await
        .unwrap();
    h.fake().go_down();
    h.fake().set_state("light.kitchen", "on", None);
    h.fake().come_up();
    eventually("the app to hear of the change", || {
        !seen("reconnect").is_empty()
    })
    .await;
    assert_eq!(seen("reconnect"), ["light.kitchen=on"]);
    assert_eq!(h.states().state("light.kitchen").as_deref(), Some("on"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_flood_with_a_slow_app_stays_bounded() {
    let (fake, runtime, _dir) = faulty_runtime(
        r#"
[hassette.apps.slow]
class_name = "Faulty"
config = { tag = "flood-slow", entity = "sensor.flood", slow_ms = 60000 }
[hassette.apps.quick]
class_name = "Faulty"
[[hassette.apps.quick.config]]
instance_name = "q"
tag = "flood-quick"
entity = "sensor.flood"
"#,
    )
    .await;
    const N: usize = 100_000;
    let before = runtime.bus().dispatched();
    for i in 0..N {
        fake.set_state("sensor.flood", &i.to_string(), None);
        // The fake's own queue to its connections holds 4096 events: keep within it, so that
        // every event is sent (as fast as the fake can send).
        if i % 2000 == 1999 {
            let sent = i as u64 + 1;
            eventually("the runtime to keep up with the fake", || {
                runtime.bus().dispatched() - before + runtime.client().dropped_events() + 2000
                    >= sent
            })
            .await;
        }
    }
    // Everything that reached the runtime was dispatched: the socket reader never waited on
    // the slow app.
    eventually("the flood to be dispatched", || {
        runtime.bus().dispatched() - before + runtime.client().dropped_events() >= N as u64
    })
    .await;
    // The slow app's mailbox is bounded: what did not fit was dropped and counted.
    let dropped = runtime.bus().dropped();
    assert!(dropped > 0 && dropped <= N as u64, "dropped {dropped}");
    // The quick app handled everything it was given, up to the last change.
    // After the flood the states view is current, even where changes were dropped.
    let last = (N - 1).to_string();
    eventually("the states view to show the last change", || {
        runtime.states().state("sensor.flood").as_deref() == Some(&*last)
    })
    .await;
    // The quick app handled every change that reached the bus; only the slow one lost any.
    let dispatched = runtime.bus().dispatched() - before;
    eventually("the quick app to handle every dispatched change", || {
        last_seen("flood-quick").1 as u64 == dispatched
    })
    .await;
    assert_eq!(last_seen("flood-slow").1, 0);
    eprintln!(
        "flood: {N} events, {} dropped before the bus (states re-read), {dispatched} dispatched, all handled by the quick app, {dropped} dropped for the slow app",
        runtime.client().dropped_events()
    );
    runtime.shutdown().await;
}
