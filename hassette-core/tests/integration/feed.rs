//! The runtime's feed against the fake Home Assistant: changes made during a partition (a
//! loopback proxy cut) are replayed once, marked, to every matching subscription; unchanged
//! entities are not reported; a burst reaches every instance whole; an app behind past its
//! mailbox budget loses events and recovers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_core::app::{App, AppContext, AppRegistry, BoxError};
use hassette_core::config::LoadOptions;
use hassette_core::ha::StateChanged;
use hassette_core::runtime::{self, RunOptions, Runtime};
use hassette_core::testing::{FakeHomeAssistant, Proxy};
use serde::Deserialize;

/// What the test apps saw, by tag.
static SEEN: Mutex<Option<HashMap<String, Vec<String>>>> = Mutex::new(None);

fn record(tag: &str, what: String) {
    let mut seen = SEEN.lock().unwrap();
    seen.get_or_insert_with(HashMap::new)
        .entry(tag.to_owned())
        .or_default()
        .push(what);
}

fn seen(tag: &str) -> Vec<String> {
    SEEN.lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(tag).cloned())
        .unwrap_or_default()
}

fn count(tag: &str) -> usize {
    SEEN.lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(tag).map(Vec::len))
        .unwrap_or(0)
}

#[derive(Debug, Deserialize)]
struct FollowConfig {
    tag: String,
    entity: String,
    /// Only changes to this state; any change when absent.
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    live_only: bool,
    /// Write the cache on every event, as a real app keeping a history would.
    #[serde(default)]
    write_cache: bool,
    /// Take this long over every event.
    #[serde(default)]
    slow_ms: u64,
}

struct Follow {
    tag: String,
    write_cache: bool,
    slow: Duration,
}

impl App for Follow {
    type Config = FollowConfig;
    type Message = Arc<StateChanged>;

    async fn initialize(c: FollowConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        let mut sub = ctx.bus().on(&c.entity);
        if let Some(to) = &c.to {
            sub = sub.to(to.clone());
        }
        if c.live_only {
            sub = sub.live_only();
        }
        sub.send_with(|change| change);
        Ok(Self {
            tag: c.tag,
            write_cache: c.write_cache,
            slow: Duration::from_millis(c.slow_ms),
        })
    }

    async fn handle(
        &mut self,
        ctx: &AppContext<Self>,
        change: Arc<StateChanged>,
    ) -> Result<(), BoxError> {
        let state = change
            .new_state
            .as_ref()
            .map_or("gone", |s| s.state.as_str());
        if self.write_cache {
            let key = ctx.cache().scoped_key("last");
            ctx.cache().set(&key, state)?;
        }
        if !self.slow.is_zero() {
            tokio::time::sleep(self.slow).await;
        }
        record(&self.tag, format!("{state} replayed={}", change.replayed));
        Ok(())
    }

    async fn on_reconnect(
        &mut self,
        _: &AppContext<Self>,
        changed: Arc<[StateChanged]>,
    ) -> Result<(), BoxError> {
        let ids: Vec<&str> = changed.iter().map(|c| c.entity_id.as_str()).collect();
        record(&format!("{}:reconnect", self.tag), ids.join(","));
        Ok(())
    }
}

/// A runtime with `apps`, connected to `fake` through `base_url`.
async fn start(
    fake: &FakeHomeAssistant,
    base_url: url::Url,
    apps: &str,
) -> (Runtime, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hassette.toml");
    std::fs::write(
        &file,
        format!(
            "[hassette]\nbase_url = \"{base_url}\"\ndata_dir = \"data\"\napp_shutdown_timeout = \"200ms\"\n\
             reconnect_initial_delay = \"50ms\"\nreconnect_max_delay = \"200ms\"\n{apps}"
        ),
    )
    .unwrap();
    let mut registry = AppRegistry::new();
    registry.register::<Follow>();
    let options = LoadOptions {
        config_file: Some(file),
        env: Some(Vec::new()),
        ..LoadOptions::default()
    };
    let config = hassette_core::config::load(&options, &registry).unwrap();
    let client = runtime::client_options(&config, base_url, fake.token());
    let runtime = Runtime::start(&config, &registry, client, RunOptions::from_config(&config))
        .await
        .unwrap();
    assert_eq!(runtime.summary().failed(), 0, "{:?}", runtime.summary());
    (runtime, dir)
}

/// Waits (a hang guard, not a timing check) until `cond` holds.
async fn eventually(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const GUARD: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_during_a_partition_is_replayed_once_to_every_matching_subscription() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("input_boolean.porch", "off", None);
    let proxy = Proxy::start(fake.address()).await.unwrap();
    let (runtime, _dir) = start(
        &fake,
        proxy.base_url(),
        r#"
[hassette.apps.replay]
class_name = "Follow"
[[hassette.apps.replay.config]]
instance_name = "a"
tag = "partition-a"
entity = "input_boolean.porch"
to = "on"
[[hassette.apps.replay.config]]
instance_name = "b"
tag = "partition-b"
entity = "input_boolean.porch"
to = "on"
[[hassette.apps.replay.config]]
instance_name = "live"
tag = "partition-live"
entity = "input_boolean.porch"
to = "on"
live_only = true
"#,
    )
    .await;
    let connections = proxy.connections();

    proxy.cut();
    eventually("the runtime to notice the cut", GUARD, || {
        runtime.client().state() != hassette_core::ha::ConnectionState::Connected
    })
    .await;
    // While cut: the porch switch is turned on; the kitchen light is written again with the
    // same state and attributes but new timestamps and context (as after a restart).
    fake.set_state("input_boolean.porch", "on", None);
    let mut kitchen = fake.state("light.kitchen").unwrap();
    kitchen.last_updated = jiff::Timestamp::now();
    kitchen.last_changed = kitchen.last_updated;
    kitchen.context.id = "01NEWCONTEXTAFTERRESTART000".into();
    let mut states = fake.states();
    states.retain(|s| s.entity_id != "light.kitchen");
    states.push(kitchen);
    fake.replace_states(states);
    proxy.restore();

    eventually("both instances to hear the replayed change", GUARD, || {
        count("partition-a") == 1 && count("partition-b") == 1
    })
    .await;
    eventually("on_reconnect", GUARD, || {
        count("partition-a:reconnect") == 1 && count("partition-live:reconnect") == 1
    })
    .await;
    assert!(proxy.connections() > connections, "it reconnected");
    assert_eq!(seen("partition-a"), ["on replayed=true"]);
    assert_eq!(seen("partition-b"), ["on replayed=true"]);
    // The true list: the porch only (the kitchen's state and attributes did not change).
    assert_eq!(seen("partition-a:reconnect"), ["input_boolean.porch"]);
    assert_eq!(seen("partition-live:reconnect"), ["input_boolean.porch"]);
    assert_eq!(
        runtime.states().state("input_boolean.porch").as_deref(),
        Some("on")
    );

    // Live changes reach every subscription again, the live-only one included, unmarked.
    fake.set_state("input_boolean.porch", "off", None);
    fake.set_state("input_boolean.porch", "on", None);
    eventually("the live change", GUARD, || {
        count("partition-a") == 2 && count("partition-live") == 1
    })
    .await;
    assert_eq!(
        seen("partition-a"),
        ["on replayed=true", "on replayed=false"]
    );
    assert_eq!(seen("partition-live"), ["on replayed=false"]);
    // Nothing was replayed twice.
    assert_eq!(count("partition-b"), 2);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_20000_changes_reaches_ten_instances_writing_the_cache_whole() {
    const N: usize = 20_000;
    let fake = FakeHomeAssistant::start().await.unwrap();
    let mut apps = "[hassette.apps.burst]\nclass_name = \"Follow\"\n".to_owned();
    for i in 0..10 {
        apps.push_str(&format!(
            "[[hassette.apps.burst.config]]\ninstance_name = \"i{i}\"\ntag = \"burst-{i}\"\nentity = \"sensor.burst\"\nwrite_cache = true\n"
        ));
    }
    let (runtime, _dir) = start(&fake, fake.base_url(), &apps).await;
    fake.burst("sensor.burst", N);
    eventually(
        "every instance to handle every change",
        Duration::from_secs(300),
        || (0..10).all(|i| count(&format!("burst-{i}")) == N),
    )
    .await;
    assert_eq!(runtime.bus().dropped(), 0, "no mailbox dropped anything");
    assert_eq!(
        runtime.client().dropped_events(),
        0,
        "the client dropped nothing"
    );
    for i in 0..10 {
        let got = seen(&format!("burst-{i}"));
        assert_eq!(got.first().map(String::as_str), Some("0 replayed=false"));
        assert_eq!(got.last(), Some(&format!("{} replayed=false", N - 1)));
    }
    let last = runtime
        .caches()
        .app_cache("Follow", 100 << 20, "i9")
        .get::<String>(
            &runtime
                .caches()
                .app_cache("Follow", 100 << 20, "i9")
                .scoped_key("last"),
        )
        .unwrap();
    assert_eq!(last.as_deref(), Some(&*(N - 1).to_string()));
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_behind_past_its_budget_loses_events_and_recovers() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let (runtime, _dir) = start(
        &fake,
        fake.base_url(),
        r#"
[hassette.apps.slow]
class_name = "Follow"
mailbox_budget = "64 KiB"
config = { instance_name = "slow", tag = "budget-slow", entity = "sensor.budget", slow_ms = 1 }
[hassette.apps.quick]
class_name = "Follow"
config = { instance_name = "quick", tag = "budget-quick", entity = "sensor.budget" }
"#,
    )
    .await;
    const N: usize = 5_000;
    fake.burst("sensor.budget", N);
    eventually("the quick app to handle the whole burst", GUARD, || {
        count("budget-quick") == N
    })
    .await;
    eventually("the slow app to drain its mailbox", GUARD, || {
        runtime.is_idle()
    })
    .await;
    let lost = runtime.bus().dropped();
    let slow = count("budget-slow");
    assert!(lost > 0, "64 KiB cannot hold {N} events");
    assert_eq!(
        slow as u64 + lost,
        N as u64,
        "every event handled or counted as lost"
    );
    // It recovers: the next change reaches it.
    fake.set_state("sensor.budget", "after", None);
    eventually("the slow app to hear the next change", GUARD, || {
        seen("budget-slow").last().map(String::as_str) == Some("after replayed=false")
    })
    .await;
    assert_eq!(runtime.bus().dropped(), lost, "nothing lost once caught up");
    runtime.shutdown().await;
}
