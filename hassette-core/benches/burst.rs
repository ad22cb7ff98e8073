//! Burst benchmark (issue 11), driven by `bench/runtime/run`: `burst INSTANCES RATE [N]`.
//!
//! `N` `state_changed` events (default 20,000) from the fake Home Assistant over a real
//! websocket to `INSTANCES` app instances that each write their cache on every event, at
//! `RATE` events/s (`full`: as fast as the fake sends, several messages to a frame, as a Home
//! Assistant restart or a Zigbee mesh rejoining does). Reports the share of deliveries lost,
//! the p50/p99/max latency from the change in the fake (its `last_updated`) to the handler,
//! and the process's peak resident size (`VmHWM`; the fake and its copy of the burst live in
//! the same process, so it is an upper bound for hassette's own).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hassette_core::app::{App, AppContext, AppRegistry, BoxError};
use hassette_core::config::LoadOptions;
use hassette_core::ha::StateChanged;
use hassette_core::runtime::{self, RunOptions, Runtime};
use hassette_core::testing::FakeHomeAssistant;
use serde::Deserialize;

static HANDLED: AtomicU64 = AtomicU64::new(0);
/// Change-to-handler latency of every delivery, in microseconds.
static LATENCIES: Mutex<Vec<f64>> = Mutex::new(Vec::new());

#[derive(Deserialize)]
struct BurstConfig {}

/// Writes the cache on every change, as an app keeping a history would.
struct BurstApp {
    key: String,
}

impl App for BurstApp {
    type Config = BurstConfig;
    type Message = Arc<StateChanged>;

    async fn initialize(_: BurstConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on("sensor.burst").send_with(|change| change);
        let key = ctx.cache().scoped_key("last");
        Ok(Self { key })
    }

    async fn handle(
        &mut self,
        ctx: &AppContext<Self>,
        change: Arc<StateChanged>,
    ) -> Result<(), BoxError> {
        if let Some(new) = &change.new_state {
            let us = jiff::Timestamp::now()
                .duration_since(new.last_updated)
                .as_secs_f64()
                * 1e6;
            LATENCIES.lock().unwrap().push(us);
            ctx.cache().set(&self.key, &new.state)?;
        }
        HANDLED.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(instances), Some(rate)) = (
        args.first().and_then(|a| a.parse::<usize>().ok()),
        args.get(1).map(|r| r.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: burst INSTANCES RATE|full [N]");
        return;
    };
    let n = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(burst(instances, rate, n));
}

async fn start_runtime(fake: &FakeHomeAssistant, instances: usize) -> (Runtime, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "[hassette]\nbase_url = \"{}\"\ndata_dir = {:?}\nlog_level = \"WARN\"\n[hassette.apps.burst]\nclass_name = \"BurstApp\"\n",
        fake.base_url(),
        dir.path().join("data").display().to_string()
    );
    for i in 0..instances {
        text.push_str(&format!(
            "[[hassette.apps.burst.config]]\ninstance_name = \"b{i}\"\n"
        ));
    }
    let file = dir.path().join("hassette.toml");
    std::fs::write(&file, text).unwrap();
    let mut registry = AppRegistry::new();
    registry.register::<BurstApp>();
    let options = LoadOptions {
        config_file: Some(file),
        env: Some(Vec::new()),
        ..LoadOptions::default()
    };
    let config = hassette_core::config::load(&options, &registry).unwrap();
    let client = runtime::client_options(&config, fake.base_url(), fake.token());
    let rt = Runtime::start(&config, &registry, client, RunOptions::from_config(&config))
        .await
        .unwrap();
    assert_eq!(rt.summary().started(), instances);
    (rt, dir)
}

async fn burst(instances: usize, rate: Option<u64>, n: usize) {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("sensor.burst", "init", None);
    let (rt, _dir) = start_runtime(&fake, instances).await;
    let t0 = Instant::now();
    match rate {
        None => fake.burst("sensor.burst", n),
        Some(rate) => {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
            for i in 0..n {
                tick.tick().await;
                fake.set_state("sensor.burst", &i.to_string(), None);
            }
        }
    }
    let expected = (n * instances) as u64;
    // Done when everything is handled, or when nothing moved for five seconds (losses).
    let mut last = (0, Instant::now());
    loop {
        let handled = HANDLED.load(Ordering::Relaxed);
        if handled >= expected {
            break;
        }
        if handled != last.0 {
            last = (handled, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(5) && rt.is_idle() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = t0.elapsed();
    let handled = HANDLED.load(Ordering::Relaxed);
    let dropped = rt.bus().dropped() + rt.client().dropped_events();
    rt.shutdown().await;
    let mut lat = LATENCIES.lock().unwrap().clone();
    lat.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let pct = |p: f64| {
        let i = ((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1));
        lat.get(i).copied().unwrap_or(f64::NAN)
    };
    #[allow(clippy::cast_precision_loss)]
    let lost = 100.0 * (expected - handled.min(expected)) as f64 / expected as f64;
    println!(
        "{{\"bench\":\"burst\",\"instances\":{instances},\"rate\":\"{}\",\"events\":{n},\"deliveries\":{expected},\"handled\":{handled},\"dropped\":{dropped},\"lost_pct\":{lost:.3},\"p50_ms\":{:.1},\"p99_ms\":{:.1},\"max_ms\":{:.1},\"seconds\":{:.2},\"peak_rss_kib\":{}}}",
        rate.map_or_else(|| "full".to_owned(), |r| r.to_string()),
        pct(0.5) / 1e3,
        pct(0.99) / 1e3,
        pct(1.0) / 1e3,
        took.as_secs_f64(),
        peak_rss_kib()
    );
}

/// `VmHWM` (peak resident size) of this process in KiB.
fn peak_rss_kib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .unwrap_or_default()
}
