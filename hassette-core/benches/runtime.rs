//! Runtime benchmarks (issue 5), driven by `bench/runtime/run`:
//!
//! - `dispatch`: a recorded stream of `state_changed` frames through the whole path (decode,
//!   states view, routing, filters, the app's handler) to 20 app instances, beside the bare
//!   `serde_json` decode of the same frames.
//! - `latency`: 1000 events/s from the fake Home Assistant to 20 instances over a real
//!   websocket; p50/p99 from the frame leaving the fake to the handler starting.
//! - `web-overhead`: `dispatch` (fan-out 20) and `latency` with the status API and web UI off
//!   and on, alternated in one run; "on" also polls `/api/apps` four times a second and keeps
//!   a live-log stream open, as an open browser tab does.
//! - `startup` measures the idle resident size of `hassette run` with `[hassette.web]` off and
//!   on (after one request to the UI and the API).
//! - `bare-states`: the resident size of a tokio program that only holds 5000 states (the
//!   floor beside `hassette run`'s own size, which `bench/runtime/run` measures).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use hassette_core::app::{App, AppContext, AppRegistry, BoxError};
use hassette_core::config::LoadOptions;
use hassette_core::ha::{State, StateChanged};
use hassette_core::runtime::{self, RunOptions, Runtime};
use hassette_core::testing::FakeHomeAssistant;
use serde::Deserialize;

const INSTANCES: usize = 20;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("dispatch") => tokio.block_on(dispatch(
            args.get(1).and_then(|n| n.parse().ok()).unwrap_or(20_000),
        )),
        Some("latency") => tokio.block_on(latency(
            args.get(1).and_then(|n| n.parse().ok()).unwrap_or(5_000),
        )),
        Some("bare-states") => tokio.block_on(bare_states(5000)),
        Some("web-overhead") => tokio.block_on(web_overhead(
            args.get(1).and_then(|n| n.parse().ok()).unwrap_or(5_000),
        )),
        Some("startup") => tokio.block_on(startup(
            args.get(1)
                .map_or("target/release/hassette", String::as_str),
            5000,
        )),
        _ => eprintln!(
            "usage: runtime dispatch [N] | latency [N] | bare-states | startup HASSETTE_BIN"
        ),
    }
}

/// When each event of the latency run was sent, by sequence number.
static SENT: OnceLock<Mutex<Vec<Instant>>> = OnceLock::new();
/// Send-to-handler-start latency of every delivery (event × instance), in microseconds.
static LATENCIES: OnceLock<Mutex<Vec<f64>>> = OnceLock::new();
static HANDLED: AtomicU64 = AtomicU64::new(0);

#[derive(Deserialize)]
struct BenchConfig {
    entities: Vec<String>,
    #[serde(default)]
    latency: bool,
}

/// Subscribes to one entity (a glob for the dispatch run) and counts what it handles.
struct BenchApp {
    latency: bool,
}

impl App for BenchApp {
    type Config = BenchConfig;
    type Message = Arc<StateChanged>;

    async fn initialize(c: BenchConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on(c.entities).send_with(|change| change);
        Ok(Self { latency: c.latency })
    }

    async fn handle(
        &mut self,
        _: &AppContext<Self>,
        change: Arc<StateChanged>,
    ) -> Result<(), BoxError> {
        if self.latency {
            let now = Instant::now();
            let seq = change
                .new_state
                .as_ref()
                .and_then(|s| s.state.parse::<usize>().ok());
            let sent = seq.and_then(|i| {
                SENT.get_or_init(Mutex::default)
                    .lock()
                    .unwrap()
                    .get(i)
                    .copied()
            });
            if let Some(sent) = sent {
                let us = now.saturating_duration_since(sent).as_secs_f64() * 1e6;
                LATENCIES
                    .get_or_init(Mutex::default)
                    .lock()
                    .unwrap()
                    .push(us);
            }
        }
        HANDLED.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The web server with an open browser tab's load: a poll of `/api/apps` every 250 ms and a
/// live-log stream held open. Dropping it stops both.
struct WebLoad {
    server: Option<hassette_core::web::WebServer>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl WebLoad {
    async fn start(rt: &Runtime) -> Self {
        let mut config = hassette_core::config::WebConfig::default();
        config.listen = "127.0.0.1:0".parse().unwrap();
        let server = hassette_core::web::serve(rt.status(), &config)
            .await
            .unwrap();
        let addr = server.local_addr();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let poll_stop = Arc::clone(&stop);
        let poll = std::thread::spawn(move || {
            let mut polls = 0;
            while !poll_stop.load(Ordering::Relaxed) {
                let r = hassette_core::web::client::request(
                    addr,
                    "GET",
                    "/api/apps",
                    &[],
                    Duration::from_secs(10),
                );
                assert_eq!(r.map(|r| r.status).unwrap_or(0), 200);
                polls += 1;
                std::thread::sleep(Duration::from_millis(250));
            }
            polls
        });
        let sse_stop = Arc::clone(&stop);
        let sse = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            write!(s, "GET /api/logs/stream HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
            let mut buf = [0u8; 4096];
            let mut read = 0u64;
            while !sse_stop.load(Ordering::Relaxed) {
                if let Ok(n) = s.read(&mut buf) {
                    read += n as u64;
                }
            }
            read
        });
        Self {
            server: Some(server),
            stop,
            threads: vec![poll, sse],
        }
    }

    async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

async fn start_runtime(
    fake: &FakeHomeAssistant,
    entities: impl Fn(usize) -> Vec<String>,
    latency: bool,
) -> (Runtime, tempfile::TempDir) {
    start_runtime_with(fake, entities, latency, false).await
}

async fn start_runtime_with(
    fake: &FakeHomeAssistant,
    entities: impl Fn(usize) -> Vec<String>,
    latency: bool,
    web: bool,
) -> (Runtime, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "[hassette]\nbase_url = \"{}\"\ndata_dir = \"data\"\nlog_level = \"WARN\"\n",
        fake.base_url()
    );
    text.push_str("[hassette.apps.bench]\nclass_name = \"BenchApp\"\n");
    for i in 0..INSTANCES {
        let list = serde_json::to_string(&entities(i)).unwrap();
        text.push_str(&format!(
            "[[hassette.apps.bench.config]]\ninstance_name = \"b{i}\"\nentities = {list}\nlatency = {latency}\n"
        ));
    }
    let file = dir.path().join("hassette.toml");
    std::fs::write(&file, text).unwrap();
    let mut registry = AppRegistry::new();
    registry.register::<BenchApp>();
    let options = LoadOptions {
        config_file: Some(file),
        env: Some(Vec::new()),
        ..LoadOptions::default()
    };
    let config = hassette_core::config::load(&options, &registry).unwrap();
    let client = runtime::client_options(&config, fake.base_url(), fake.token());
    let mut run = RunOptions::from_config(&config);
    run.handler_timings = web;
    let rt = Runtime::start(&config, &registry, client, run)
        .await
        .unwrap();
    assert_eq!(rt.summary().started(), INSTANCES);
    (rt, dir)
}

/// `state_changed` frames as Home Assistant sends them, for `n` events over 50 sensors.
fn frames(n: usize) -> Vec<String> {
    let template: State = serde_json::from_value(serde_json::json!({
        "entity_id": "sensor.x", "state": "0",
        "attributes": {"unit_of_measurement": "°C", "device_class": "temperature", "friendly_name": "Sensor", "state_class": "measurement"},
        "last_changed": "2026-11-21T08:03:47.500823+00:00", "last_updated": "2026-11-21T08:03:47.500823+00:00",
        "last_reported": "2026-11-21T08:03:47.500823+00:00",
        "context": {"id": "01JDEMO000000000000000000C", "parent_id": null, "user_id": null}
    }))
    .unwrap();
    (0..n)
        .map(|i| {
            let mut old = template.clone();
            old.entity_id = format!("sensor.bench_{}", i % 50);
            old.state = "previous".to_owned();
            let mut new = old.clone();
            new.state = format!("{i}");
            let event = serde_json::json!({
                "type": "event",
                "event": {"event_type": "state_changed", "data": {"entity_id": old.entity_id, "old_state": old, "new_state": new},
                          "origin": "LOCAL", "time_fired": "2026-11-21T08:03:47.500823+00:00",
                          "context": {"id": "01JDEMO000000000000000000C", "parent_id": null, "user_id": null}},
                "id": 5
            });
            event.to_string()
        })
        .collect()
}

async fn dispatch(n: usize) {
    let frames = frames(n);
    let bytes: usize = frames.iter().map(String::len).sum();
    // The floor: the bare decode of the same frames.
    let t0 = Instant::now();
    for f in &frames {
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(f.as_bytes()).unwrap());
    }
    let floor = t0.elapsed();

    if let Err(e) = hassette_core::ha::decode_events(&frames[0]) {
        panic!("the bench frames do not decode: {e}: {}", frames[0]);
    }
    // Fan-out 1: each instance watches its own sensors, so each event goes to one app.
    // Fan-out 20: every instance watches every sensor (a glob), so each event goes to all 20.
    for (label, fanout) in [("fanout_1", 1usize), ("fanout_20", INSTANCES)] {
        let fake = FakeHomeAssistant::start().await.unwrap();
        let entities = move |i: usize| -> Vec<String> {
            if fanout == 1 {
                (0..50)
                    .filter(|s| s % INSTANCES == i)
                    .map(|s| format!("sensor.bench_{s}"))
                    .collect()
            } else {
                vec!["sensor.bench_*".to_owned()]
            }
        };
        let (rt, _dir) = start_runtime(&fake, entities, false).await;
        HANDLED.store(0, Ordering::SeqCst);
        let expected = (n * fanout) as u64;
        let t0 = Instant::now();
        for f in &frames {
            rt.inject_frame(f);
        }
        while HANDLED.load(Ordering::Relaxed) < expected {
            tokio::task::yield_now().await;
        }
        let whole = t0.elapsed();
        rt.shutdown().await;
        #[allow(clippy::cast_precision_loss)]
        let per_s = n as f64 / whole.as_secs_f64();
        println!(
            "{{\"bench\":\"dispatch\",\"case\":\"{label}\",\"events\":{n},\"instances\":{INSTANCES},\"bytes\":{bytes},\"decode_ms\":{:.1},\"whole_path_ms\":{:.1},\"ratio\":{:.2},\"events_per_s\":{per_s:.0}}}",
            floor.as_secs_f64() * 1e3,
            whole.as_secs_f64() * 1e3,
            whole.as_secs_f64() / floor.as_secs_f64()
        );
    }
}

async fn latency(n: usize) {
    let (handled, p50, p99, max) = latency_run(n, false).await;
    println!(
        "{{\"bench\":\"latency\",\"events\":{n},\"rate_per_s\":1000,\"instances\":{INSTANCES},\"handled\":{handled},\"p50_us\":{p50:.0},\"p99_us\":{p99:.0},\"max_us\":{max:.0}}}"
    );
}

/// One latency run (with the web server and a tab's load when `web`): handled, p50, p99, max.
async fn latency_run(n: usize, web: bool) -> (u64, f64, f64, f64) {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("sensor.latency", "init", None);
    let (rt, _dir) =
        start_runtime_with(&fake, |_| vec!["sensor.latency".to_owned()], true, web).await;
    let load = if web {
        Some(WebLoad::start(&rt).await)
    } else {
        None
    };
    SENT.get_or_init(Mutex::default).lock().unwrap().clear();
    LATENCIES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap()
        .clear();
    HANDLED.store(0, Ordering::SeqCst);
    // 1000 events per second.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for seq in 0..n {
        tick.tick().await;
        SENT.get_or_init(Mutex::default)
            .lock()
            .unwrap()
            .push(Instant::now());
        fake.set_state("sensor.latency", &seq.to_string(), None);
    }
    let expected = (n * INSTANCES) as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while HANDLED.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(load) = load {
        load.stop().await;
    }
    rt.shutdown().await;
    let mut lat = LATENCIES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap()
        .clone();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1));
        lat.get(i).copied().unwrap_or(f64::NAN)
    };
    (
        HANDLED.load(Ordering::Relaxed),
        pct(0.50),
        pct(0.99),
        pct(1.0),
    )
}

/// Dispatch (fan-out 20) and latency with the web server off and on, alternated: off, on,
/// off, on. Each line says which; the summary compares the medians of each side.
async fn web_overhead(n: usize) {
    let frames = frames(20_000);
    let mut whole = [Vec::new(), Vec::new()];
    let mut p99 = [Vec::new(), Vec::new()];
    for round in 0..4 {
        let web = round % 2 == 1;
        let fake = FakeHomeAssistant::start().await.unwrap();
        let (rt, _dir) =
            start_runtime_with(&fake, |_| vec!["sensor.bench_*".to_owned()], false, web).await;
        let load = if web {
            Some(WebLoad::start(&rt).await)
        } else {
            None
        };
        HANDLED.store(0, Ordering::SeqCst);
        let expected = (frames.len() * INSTANCES) as u64;
        let t0 = Instant::now();
        for f in &frames {
            rt.inject_frame(f);
        }
        while HANDLED.load(Ordering::Relaxed) < expected {
            tokio::task::yield_now().await;
        }
        let took = t0.elapsed().as_secs_f64() * 1e3;
        if let Some(load) = load {
            load.stop().await;
        }
        rt.shutdown().await;
        let (handled, lp50, lp99, _) = latency_run(n, web).await;
        println!(
            "{{\"bench\":\"web-overhead\",\"web\":{web},\"dispatch_fanout_20_ms\":{took:.1},\"latency_events\":{n},\"handled\":{handled},\"latency_p50_us\":{lp50:.0},\"latency_p99_us\":{lp99:.0}}}"
        );
        whole[usize::from(web)].push(took);
        p99[usize::from(web)].push(lp99);
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "{{\"bench\":\"web-overhead-summary\",\"dispatch_ms_off\":{:.1},\"dispatch_ms_on\":{:.1},\"dispatch_ratio\":{:.3},\"p99_us_off\":{:.0},\"p99_us_on\":{:.0},\"p99_ratio\":{:.3}}}",
        mean(&whole[0]),
        mean(&whole[1]),
        mean(&whole[1]) / mean(&whole[0]),
        mean(&p99[0]),
        mean(&p99[1]),
        mean(&p99[1]) / mean(&p99[0])
    );
}

/// `hassette run` (the real binary) against a fake with `n` entities and 20 app instances:
/// the time from spawning the process to its "started" line, and its resident size then.
async fn startup(bin: &str, n: usize) {
    for web in [false, true, false, true] {
        startup_once(bin, n, web).await;
    }
}

async fn startup_once(bin: &str, n: usize, web: bool) {
    use tokio::io::AsyncBufReadExt;
    let fake = FakeHomeAssistant::start().await.unwrap();
    let frames = frames(1);
    let v: serde_json::Value = serde_json::from_str(&frames[0]).unwrap();
    let state: State = serde_json::from_value(v["event"]["data"]["new_state"].clone()).unwrap();
    let mut states = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = state.clone();
        s.entity_id = format!("sensor.bench_{i}");
        states.push(s);
    }
    fake.replace_states(states);
    let dir = tempfile::tempdir().unwrap();
    let level = std::env::var("STARTUP_LOG_LEVEL").unwrap_or_else(|_| "INFO".to_owned());
    let mut text = format!(
        "[hassette]\nbase_url = \"{}\"\ndata_dir = \"data\"\nlog_level = \"{level}\"\n",
        fake.base_url()
    );
    text.push_str("[hassette.apps.lights]\nclass_name = \"MotionLight\"\n");
    for i in 0..INSTANCES {
        text.push_str(&format!(
            "[[hassette.apps.lights.config]]\ninstance_name = \"l{i}\"\nsensor = \"sensor.bench_{i}\"\nlight = \"light.l{i}\"\n"
        ));
    }
    // Port 0: a free port; the address is printed on stdout.
    text.push_str(&format!(
        "[hassette.web]\nenabled = {web}\nlisten = \"127.0.0.1:0\"\n"
    ));
    let file = dir.path().join("hassette.toml");
    std::fs::write(&file, text).unwrap();
    let t0 = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .args(["run", "-c"])
        .arg(&file)
        .env("HASSETTE__TOKEN", fake.token().expose())
        .stdout(std::process::Stdio::piped())
        .stderr(match std::env::var_os("STARTUP_STDERR") {
            Some(path) => std::process::Stdio::from(std::fs::File::create(path).unwrap()),
            None => std::process::Stdio::null(),
        })
        .spawn()
        .expect("spawn hassette");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut started = None;
    let mut web_addr: Option<std::net::SocketAddr> = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains("app instance(s) started") {
            started = Some(t0.elapsed());
        }
        if let Some(rest) = line.split("status API at http://").nth(1) {
            web_addr = rest.trim_end_matches('/').parse().ok();
        }
        if started.is_some() && (!web || web_addr.is_some()) {
            break;
        }
    }
    let started = started.unwrap_or_default();
    if let Some(addr) = web_addr {
        // What a first look costs: the page, its script and the app list.
        for path in ["/", "/app.js", "/api/apps", "/api/process"] {
            let r = tokio::task::spawn_blocking(move || {
                hassette_core::web::client::request(addr, "GET", path, &[], Duration::from_secs(10))
            })
            .await
            .unwrap()
            .unwrap();
            assert_eq!(r.status, 200, "{path}");
        }
    }
    // Let startup's transient allocations settle before reading the resident size.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = child.id().unwrap_or(0);
    let rss = rss_kib(&format!("/proc/{pid}/status"));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait().await;
    println!(
        "{{\"bench\":\"startup\",\"web\":{web},\"entities\":{n},\"instances\":{INSTANCES},\"startup_ms\":{:.1},\"rss_kib\":{rss}}}",
        started.as_secs_f64() * 1e3
    );
}

/// A tokio program that holds 5000 states and nothing else: the floor for memory.
async fn bare_states(n: usize) {
    let template = frames(1).remove(0);
    let v: serde_json::Value = serde_json::from_str(&template).unwrap();
    let state: State = serde_json::from_value(v["event"]["data"]["new_state"].clone()).unwrap();
    let states: Vec<Arc<State>> = (0..n)
        .map(|i| {
            let mut s = state.clone();
            s.entity_id = format!("sensor.bench_{i}");
            Arc::new(s)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss = rss_kib("/proc/self/status");
    println!(
        "{{\"bench\":\"bare-states\",\"states\":{},\"rss_kib\":{rss}}}",
        states.len()
    );
}

/// `VmRSS` in KiB from a `/proc/<pid>/status` file ("" if unreadable).
fn rss_kib(status: &str) -> String {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .unwrap_or_default()
}
