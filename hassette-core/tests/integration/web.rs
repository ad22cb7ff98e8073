//! The status API against a real runtime and the fake Home Assistant, over real HTTP on
//! 127.0.0.1: process, instances, actions, reload, caches, logs, health, and its safety rules.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hassette_core::app::{App, AppContext, AppRegistry, BoxError};
use hassette_core::config::{Config, LoadOptions, WebConfig};
use hassette_core::runtime::{self, ConfigReloader, RunOptions, Runtime};
use hassette_core::testing::FakeHomeAssistant;
use hassette_core::web::{self, WebError, WebServer, client};
use serde_json::Value;

#[derive(serde::Deserialize)]
struct ProbeConfig {
    sensor: String,
    #[serde(default)]
    fail_init: bool,
}

#[derive(Clone)]
enum Msg {
    Changed,
    Tick,
}

/// Subscribes, schedules, writes its cache; a change to `bad` makes the handler fail.
struct Probe {}

impl App for Probe {
    type Config = ProbeConfig;
    type Message = Msg;

    async fn initialize(c: ProbeConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        if c.fail_init {
            return Err("the sensor is not configured on purpose".into());
        }
        ctx.bus().on(c.sensor.as_str()).to("on").send(Msg::Changed);
        ctx.scheduler()
            .run_every(Duration::from_secs(3600), Msg::Tick)?;
        let key = ctx.cache().scoped_key("started");
        ctx.cache()
            .set(&key, &serde_json::json!({"sensor": c.sensor}))?;
        ctx.cache()
            .set_with_ttl("weather:today", &21.5, std::time::Duration::from_secs(3600))?;
        Ok(Self {})
    }

    async fn handle(&mut self, _: &AppContext<Self>, m: Msg) -> Result<(), BoxError> {
        match m {
            Msg::Changed => Err("the light did not answer".into()),
            Msg::Tick => Ok(()),
        }
    }
}

const APPS: &str = r#"
[hassette.apps.probe]
class_name = "Probe"
[[hassette.apps.probe.config]]
instance_name = "one"
sensor = "binary_sensor.one"
[[hassette.apps.probe.config]]
instance_name = "two"
sensor = "binary_sensor.two"
"#;

struct Setup {
    fake: FakeHomeAssistant,
    runtime: Option<Runtime>,
    server: Option<WebServer>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        if let Some(r) = self.runtime.take() {
            r.shutdown().await;
        }
        drop(self.fake);
    }
}

fn write_config(dir: &Path, base_url: &str, apps: &str, web: &str) -> std::path::PathBuf {
    let file = dir.join("hassette.toml");
    std::fs::write(
        &file,
        format!(
            "[hassette]\nbase_url = \"{base_url}\"\ndata_dir = \"data\"\napp_shutdown_timeout = \"500ms\"\n{web}\n{apps}"
        ),
    )
    .unwrap();
    file
}

fn load(file: &Path) -> Result<Config, String> {
    let mut registry = AppRegistry::new();
    registry.register::<Probe>();
    let options = LoadOptions {
        config_file: Some(file.to_path_buf()),
        env: Some(Vec::new()),
        ..LoadOptions::default()
    };
    hassette_core::config::load(&options, &registry).map_err(|e| e.to_string())
}

async fn setup_with(apps: &str, web_section: &str) -> Setup {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let web = format!("[hassette.web]\nlisten = \"127.0.0.1:0\"\n{web_section}");
    let file = write_config(dir.path(), fake.base_url().as_str(), apps, &web);
    let config = load(&file).unwrap();
    let mut registry = AppRegistry::new();
    registry.register::<Probe>();
    let client_options = runtime::client_options(&config, fake.base_url(), fake.token());
    let mut options = RunOptions::from_config(&config);
    let reload_file = file.clone();
    options.reload = Some(ConfigReloader::new(move || load(&reload_file)));
    let runtime = Runtime::start(&config, &registry, client_options, options)
        .await
        .unwrap();
    let server = web::serve(runtime.status(), &config.web).await.unwrap();
    let addr = server.local_addr();
    Setup {
        fake,
        runtime: Some(runtime),
        server: Some(server),
        addr,
        dir,
    }
}

async fn setup() -> Setup {
    setup_with(APPS, "").await
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> client::Response {
    let (method, path) = (method.to_owned(), path.to_owned());
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        client::request(addr, &method, &path, &h, Duration::from_secs(20)).unwrap()
    })
    .await
    .unwrap()
}

async fn get(addr: SocketAddr, path: &str) -> Value {
    let r = send(addr, "GET", path, &[]).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json().unwrap()
}

async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_and_instances_with_subscriptions_timers_and_errors() {
    let s = setup().await;
    let p = get(s.addr, "/api/process").await;
    assert_eq!(p["connection"], "connected");
    assert_eq!(p["version"], env!("CARGO_PKG_VERSION"));
    assert!(p["entities"].as_u64().unwrap() > 0);
    assert!(p["ha_version"].is_string());
    assert_eq!(p["instances"]["running"], 2);
    assert!(p["events_per_sec"].is_number() && p["dropped_events"].is_number());

    let apps = get(s.addr, "/api/apps").await;
    let apps = apps.as_array().unwrap();
    assert_eq!(apps.len(), 2);
    let one = &apps[0];
    assert_eq!(
        (one["app"].as_str(), one["instance"].as_str()),
        (Some("probe"), Some("one"))
    );
    assert_eq!(one["state"], "running");
    assert_eq!(one["class"], "Probe");
    let subs = one["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["kind"], "state");
    assert_eq!(subs[0]["description"], "binary_sensor.one to \"on\"");
    let timers = one["timers"].as_array().unwrap();
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0]["trigger"], "every 1h");
    let next: jiff::Timestamp = timers[0]["next_fire"].as_str().unwrap().parse().unwrap();
    assert!(next > jiff::Timestamp::now());
    assert!(one["last_error"].is_null());

    // A failing handler: counted, timed, and its error shown with a time.
    s.fake.set_state("binary_sensor.one", "on", None);
    eventually("the failed handler", async || {
        let one = get(s.addr, "/api/apps/probe/one").await;
        one["handled"].as_u64() == Some(1) && !one["last_error"].is_null()
    })
    .await;
    let one = get(s.addr, "/api/apps/probe/one").await;
    assert_eq!(
        one["last_error"]["message"],
        "handler failed: the light did not answer"
    );
    assert!(one["last_error"]["at"].is_string());
    assert!(one["handler_p50_us"].is_u64() && one["handler_p99_us"].is_u64());
    assert_eq!(one["state"], "running", "an error is survived");
    let two = get(s.addr, "/api/apps/probe/two").await;
    assert_eq!(two["handled"], 0);

    let r = send(s.addr, "GET", "/api/apps/probe/three", &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("probe/one, probe/two"), "{}", r.text());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_stop_and_start_an_instance() {
    let s = setup().await;
    let r = send(s.addr, "POST", "/api/apps/probe/one/restart", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().unwrap()["state"], "running");
    let one = get(s.addr, "/api/apps/probe/one").await;
    assert_eq!(one["restarts"], 1);
    assert_eq!(
        one["subscriptions"].as_array().unwrap().len(),
        1,
        "subscribed once again"
    );
    assert_eq!(one["timers"].as_array().unwrap().len(), 1);

    let r = send(s.addr, "POST", "/api/apps/probe/one/stop", &[]).await;
    assert_eq!(
        (r.status, r.json().unwrap()["state"].as_str()),
        (200, Some("stopped"))
    );
    let one = get(s.addr, "/api/apps/probe/one").await;
    assert_eq!(one["state"], "stopped");
    assert!(one["subscriptions"].as_array().unwrap().is_empty());
    assert!(one["timers"].as_array().unwrap().is_empty());
    let health = send(s.addr, "GET", "/healthz", &[]).await;
    assert_eq!(health.status, 503);
    assert!(
        health.text().contains("probe/one is stopped"),
        "{}",
        health.text()
    );

    let again = send(s.addr, "POST", "/api/apps/probe/one/stop", &[]).await;
    assert_eq!(again.status, 409);
    assert!(again.text().contains("probe/one is not running"));
    let r = send(s.addr, "POST", "/api/apps/probe/one/start", &[]).await;
    assert_eq!(
        (r.status, r.json().unwrap()["state"].as_str()),
        (200, Some("running"))
    );
    let r = send(s.addr, "POST", "/api/apps/probe/one/start", &[]).await;
    assert_eq!(r.status, 409);
    assert_eq!(send(s.addr, "GET", "/healthz", &[]).await.status, 200);

    let r = send(s.addr, "POST", "/api/apps/probe/one/explode", &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("use restart, stop or start"));
    let r = send(s.addr, "GET", "/api/apps/probe/one/restart", &[]).await;
    assert_eq!(r.status, 405, "actions are POST only");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_names_a_failed_instance() {
    let apps = format!(
        "{APPS}[[hassette.apps.probe.config]]\ninstance_name = \"broken\"\nsensor = \"x.y\"\nfail_init = true\n"
    );
    let s = setup_with(&apps, "").await;
    let r = send(s.addr, "GET", "/healthz", &[]).await;
    assert_eq!(r.status, 503);
    let body = r.json().unwrap();
    assert_eq!(body["healthy"], false);
    assert_eq!(
        body["reasons"][0],
        "probe/broken is failed: initialize failed: the sensor is not configured on purpose"
    );
    let broken = get(s.addr, "/api/apps/probe/broken").await;
    assert_eq!(broken["state"], "failed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_classes_keys_values_delete_and_clear() {
    let s = setup().await;
    let classes = get(s.addr, "/api/caches").await;
    let probe = &classes[0];
    assert_eq!(probe["class"], "Probe");
    assert_eq!(probe["exists"], true);
    assert_eq!(probe["entries"], 3);
    assert!(probe["bytes"].as_u64().unwrap() > 0);
    assert_eq!(probe["limit"], 104_857_600);
    assert!(probe["evictions"].is_u64());

    let keys = get(s.addr, "/api/caches/Probe/keys?prefix=one").await;
    assert_eq!(keys["total"], 1);
    assert_eq!(keys["keys"][0]["key"], "one:started");
    assert!(keys["keys"][0]["size"].as_u64().unwrap() > 0);
    assert!(keys["keys"][0]["ttl_secs"].is_null());
    let weather = get(s.addr, "/api/caches/Probe/keys?prefix=weather%3A").await;
    let ttl = weather["keys"][0]["ttl_secs"].as_i64().unwrap();
    assert!((3500..=3600).contains(&ttl), "{ttl}");
    assert!(weather["keys"][0]["expires_at"].is_string());

    let value = get(s.addr, "/api/caches/Probe/keys/one%3Astarted").await;
    assert_eq!(value["value"]["sensor"], "binary_sensor.one");

    let r = send(
        s.addr,
        "DELETE",
        "/api/caches/Probe/keys/one%3Astarted",
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(s.addr, "GET", "/api/caches/Probe/keys/one%3Astarted", &[]).await;
    assert_eq!(r.status, 404);
    assert!(
        r.text()
            .contains("no key \\\"one:started\\\" in the Probe cache"),
        "{}",
        r.text()
    );
    let r = send(
        s.addr,
        "DELETE",
        "/api/caches/Probe/keys/one%3Astarted",
        &[],
    )
    .await;
    assert_eq!(r.status, 404);

    // Bad input: a 4xx with a clear message.
    let long = "k".repeat(2000);
    let r = send(
        s.addr,
        "GET",
        &format!("/api/caches/Probe/keys?prefix={long}"),
        &[],
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("prefix is 2000 bytes"), "{}", r.text());
    let r = send(s.addr, "GET", "/api/caches/Probe/keys?limit=0", &[]).await;
    assert_eq!(r.status, 400);
    let r = send(s.addr, "GET", "/api/caches/Nope/keys", &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("classes: Probe"));
    let r = send(s.addr, "GET", "/api/caches/Probe/keys?limit=lots", &[]).await;
    assert_eq!(r.status, 400);
    let huge = format!("/api/logs?grep={}", "a".repeat(5000));
    assert_eq!(send(s.addr, "GET", &huge, &[]).await.status, 414);

    let r = send(s.addr, "DELETE", "/api/caches/Probe", &[]).await;
    assert_eq!(r.json().unwrap()["cleared"], 2);
    assert_eq!(get(s.addr, "/api/caches/Probe").await["entries"], 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_and_foreign_host_requests_are_refused() {
    let s = setup().await;
    let evil = [("Origin", "http://evil.example")];
    let r = send(s.addr, "POST", "/api/apps/probe/one/stop", &evil).await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("another origin"));
    let r = send(
        s.addr,
        "DELETE",
        "/api/caches/Probe",
        &[("Sec-Fetch-Site", "cross-site")],
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(get(s.addr, "/api/apps/probe/one").await["state"], "running");
    assert_eq!(get(s.addr, "/api/caches/Probe").await["entries"], 3);
    // DNS rebinding: the page's own name arrives as Host.
    let r = send(s.addr, "GET", "/api/apps", &[("Host", "evil.example:8126")]).await;
    assert_eq!(r.status, 403);
    let own = format!("http://{}", s.addr);
    let r = send(
        s.addr,
        "POST",
        "/api/apps/probe/two/restart",
        &[("Origin", &own), ("Sec-Fetch-Site", "same-origin")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_when_set() {
    let token = "0123456789abcdef0123456789";
    let s = setup_with(APPS, &format!("token = \"{token}\"\n")).await;
    let r = send(s.addr, "GET", "/api/apps", &[]).await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("Authorization: Bearer"));
    let r = send(
        s.addr,
        "GET",
        "/api/apps",
        &[("Authorization", "Bearer wrong-token-of-some-length")],
    )
    .await;
    assert_eq!(r.status, 401);
    let auth = format!("Bearer {token}");
    let r = send(s.addr, "GET", "/api/apps", &[("Authorization", &auth)]).await;
    assert_eq!(r.status, 200);
    // The UI itself and /healthz load without it (the UI then asks for the token).
    assert_eq!(send(s.addr, "GET", "/", &[]).await.status, 200);
    assert_eq!(send(s.addr, "GET", "/healthz", &[]).await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn listening_beyond_loopback_without_a_token_is_refused() {
    // Refused before anything is bound: nothing listens on a non-loopback address.
    let fake = FakeHomeAssistant::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(
        dir.path(),
        fake.base_url().as_str(),
        APPS,
        "[hassette.web]\nlisten = \"0.0.0.0:8126\"",
    );
    let err = load(&file).unwrap_err();
    assert!(err.contains("hassette.web.listen"), "{err}");
    assert!(err.contains("not a loopback address"), "{err}");
    let file = write_config(dir.path(), fake.base_url().as_str(), APPS, "");
    let config = load(&file).unwrap();
    let mut registry = AppRegistry::new();
    registry.register::<Probe>();
    let runtime = Runtime::start(
        &config,
        &registry,
        runtime::client_options(&config, fake.base_url(), fake.token()),
        RunOptions::from_config(&config),
    )
    .await
    .unwrap();
    let mut web = WebConfig::default();
    web.listen = "0.0.0.0:0".parse().unwrap();
    let err = web::serve(runtime.status(), &web).await.unwrap_err();
    assert!(matches!(err, WebError::NoToken(_)), "{err}");
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_response_carries_the_home_assistant_token() {
    let s = setup().await;
    let secret = s.fake.token().expose().to_owned();
    let mut bodies = Vec::new();
    for path in [
        "/",
        "/app.js",
        "/app.css",
        "/healthz",
        "/api/process",
        "/api/apps",
        "/api/apps/probe/one",
        "/api/caches",
        "/api/caches/Probe",
        "/api/caches/Probe/keys",
        "/api/caches/Probe/keys/one%3Astarted",
        "/api/logs",
        "/api/nothing",
    ] {
        bodies.push((path, send(s.addr, "GET", path, &[]).await));
    }
    bodies.push((
        "restart",
        send(s.addr, "POST", "/api/apps/probe/one/restart", &[]).await,
    ));
    bodies.push(("reload", send(s.addr, "POST", "/api/reload", &[]).await));
    for (path, r) in &bodies {
        assert!(r.status < 500, "{path}: {}", r.status);
        assert!(!r.text().contains(&secret), "{path} shows the token");
        assert!(
            r.headers.iter().all(|(_, v)| !v.contains(&secret)),
            "{path}"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_restarts_changed_instances_and_starts_new_ones() {
    let s = setup().await;
    let base = s.fake.base_url().to_string();
    let web = "[hassette.web]\nlisten = \"127.0.0.1:0\"";
    let changed = APPS.replace(
        "sensor = \"binary_sensor.two\"",
        "sensor = \"binary_sensor.deux\"",
    ) + "[[hassette.apps.probe.config]]\ninstance_name = \"three\"\nsensor = \"binary_sensor.three\"\n";
    write_config(s.dir.path(), &base, &changed, web);
    let r = send(s.addr, "POST", "/api/reload", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json().unwrap();
    assert_eq!(report["restarted"], serde_json::json!(["probe/two"]));
    assert_eq!(report["started"], serde_json::json!(["probe/three"]));
    assert_eq!(report["unchanged"], 1);
    let two = get(s.addr, "/api/apps/probe/two").await;
    assert_eq!(
        two["subscriptions"][0]["description"],
        "binary_sensor.deux to \"on\""
    );
    assert_eq!(
        get(s.addr, "/api/apps/probe/three").await["state"],
        "running"
    );

    // A broken file changes nothing and says why.
    write_config(
        s.dir.path(),
        &base,
        &changed.replace("sensor = \"binary_sensor.three\"", "sensr = 1"),
        web,
    );
    let r = send(s.addr, "POST", "/api/reload", &[]).await;
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("nothing changed") && r.text().contains("sensr"),
        "{}",
        r.text()
    );
    assert_eq!(
        get(s.addr, "/api/apps/probe/three").await["state"],
        "running"
    );

    // Removing an instance stops it; a [hassette] change is reported as needing a restart.
    write_config(
        s.dir.path(),
        &base,
        APPS,
        &format!("{web}\n").replace("[hassette.web]", "log_level = \"DEBUG\"\n[hassette.web]"),
    );
    let report = send(s.addr, "POST", "/api/reload", &[])
        .await
        .json()
        .unwrap();
    assert_eq!(
        report["stopped"],
        serde_json::json!(["probe/three"]),
        "{report}"
    );
    assert_eq!(
        report["needs_process_restart"],
        serde_json::json!(["hassette.log_level"])
    );
    assert_eq!(
        send(s.addr, "GET", "/api/apps/probe/three", &[])
            .await
            .status,
        404
    );
    s.stop().await;
}

/// Writes records into the runtime's log store as app `porch` would.
fn log_as_porch(logs: &Path, records: &[(tracing::Level, &str)]) {
    use tracing_subscriber::layer::SubscriberExt;
    let options = hassette_core::logging::LogOptions::new(logs.to_path_buf(), "debug");
    let (layer, guard) = hassette_core::logging::store_layer(&options).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("app", app = "porch", class = "Probe", instance = "front");
        span.in_scope(|| {
            for (level, msg) in records {
                match *level {
                    tracing::Level::WARN => tracing::warn!("{msg}"),
                    tracing::Level::ERROR => tracing::error!("{msg}"),
                    _ => tracing::info!("{msg}"),
                }
            }
        });
    });
    guard.flush();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_take_the_log_filters_and_stream_new_records() {
    let s = setup().await;
    let logs = s.dir.path().join("data/logs");
    log_as_porch(
        &logs,
        &[
            (tracing::Level::INFO, "light on"),
            (tracing::Level::WARN, "sensor slow"),
            (tracing::Level::ERROR, "light unreachable"),
        ],
    );
    let all = get(s.addr, "/api/logs?app=porch&instance=front&since=1h").await;
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    let warn = get(s.addr, "/api/logs?app=porch&level=warn").await;
    assert_eq!(warn.as_array().unwrap().len(), 2);
    let grep = get(s.addr, "/api/logs?app=porch&grep=light%20(on|off)").await;
    assert_eq!(grep.as_array().unwrap().len(), 1);
    assert_eq!(grep[0]["msg"], "light on");
    assert_eq!(grep[0]["instance"], "front");
    let last = get(s.addr, "/api/logs?app=porch&limit=1").await;
    assert_eq!(last[0]["msg"], "light unreachable");
    assert_eq!(
        get(s.addr, "/api/logs?app=nobody").await,
        serde_json::json!([])
    );
    for (bad, says) in [
        ("/api/logs?since=yesterday-ish", "since"),
        ("/api/logs?level=loud", "level"),
        ("/api/logs?limit=999999", "limit must be at most"),
    ] {
        let r = send(s.addr, "GET", bad, &[]).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.text().contains(says), "{bad}: {}", r.text());
    }

    // The live tail: the last record first, then a new one as it is stored.
    let addr = s.addr;
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        write!(
            stream,
            "GET /api/logs/stream?app=porch&limit=1 HTTP/1.1\r\nHost: {addr}\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut told = 0;
        while std::time::Instant::now() < deadline {
            if let Ok(n) = stream.read(&mut buf) {
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            let records = text.matches("data: {").count();
            if records > told {
                told = records;
                let _ = seen_tx.send(text.clone());
                if records >= 2 {
                    return;
                }
            }
        }
    });
    let first = seen_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(first.contains("text/event-stream"), "{first}");
    assert!(first.contains("light unreachable"));
    assert!(
        !first.contains("sensor slow"),
        "limit=1: only the last record first"
    );
    log_as_porch(&logs, &[(tracing::Level::INFO, "a new record")]);
    let second = seen_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(second.contains("a new record"), "{second}");
    reader.join().unwrap();
    s.stop().await;
}
