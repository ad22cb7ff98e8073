//! The web UI in a real browser: headless Chromium, driven through chromedriver, against the
//! real `hassette run --demo`. Screenshots of every page land in `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "browser/webdriver.rs"]
mod webdriver;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hassette_core::cache::{Cache, CacheOptions};
use hassette_core::web::client;
use webdriver::Browser;

/// target/<profile>/deps/browser-<hash> → target/<profile>
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn hassette_bin() -> PathBuf {
    let bin = profile_dir().join("hassette");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--bin", "hassette"])
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --bin hassette failed");
    }
    bin
}

fn screenshots_dir() -> PathBuf {
    let dir = profile_dir().parent().unwrap().join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `hassette run --demo` with the example configuration, its web UI on a free port.
struct Demo {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Demo {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hassette.toml.example");
        let text = std::fs::read_to_string(example).unwrap();
        assert!(text.contains("listen = \"127.0.0.1:8126\""));
        // A free port: tests run in parallel, and a developer's own hassette may hold 8126.
        let text = text.replace("listen = \"127.0.0.1:8126\"", "listen = \"127.0.0.1:0\"");
        let config = dir.path().join("hassette.toml");
        std::fs::write(&config, text).unwrap();
        // A key none of the demo's apps touch, for the cache browser to delete.
        let cache_dir = dir.path().join("hassette-data/Notifier/cache");
        let options = CacheOptions::new(&cache_dir, "Notifier").size_limit(16 << 20);
        let cache = Cache::open(options).unwrap();
        cache
            .set("browser-test:doomed", &serde_json::json!({"delete": "me"}))
            .unwrap();
        cache.close().unwrap();
        let mut cmd = Command::new(hassette_bin());
        for (key, _) in std::env::vars() {
            if key.starts_with("HASSETTE__") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .args(["run", "--demo", "-c"])
            .arg(&config)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let marker = "web UI and status API at http://";
        let addr = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("hassette printed no web UI address");
            if let Some(rest) = line.split(marker).nth(1) {
                break rest.trim_end_matches('/').parse().unwrap();
            }
        };
        Self {
            child,
            addr,
            _dir: dir,
        }
    }

    fn url(&self, fragment: &str) -> String {
        format!("http://{}/{fragment}", self.addr)
    }

    fn api(&self, method: &str, path: &str) -> client::Response {
        client::request(self.addr, method, path, &[], Duration::from_secs(20)).unwrap()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn every_page_works_in_a_real_browser() {
    let demo = Demo::start();
    let browser = Browser::start();
    let shots = screenshots_dir();

    // Dashboard: every instance of the demo, running.
    browser.goto(&demo.url("#/"));
    let rows = browser.wait(
        "the apps on the dashboard",
        "const r = document.querySelectorAll('#apps tr'); return r.length >= 8 && r.length",
    );
    assert_eq!(rows, 8, "the example configures 8 instances");
    browser.wait(
        "hallway_light running",
        "const r = document.querySelector('#apps tr[data-app=\"hallway_light/hallway\"] [data-state]'); return r && r.dataset.state === 'running'",
    );
    browser.wait(
        "the connection pill",
        "return document.getElementById('conn').textContent.includes('connected')",
    );
    browser.screenshot(&shots.join("dashboard.png"));

    // App page: subscriptions, timers; stop and start, and see the state change.
    browser.goto(&demo.url("#/app/counters/front_door"));
    browser.wait(
        "the counter's subscription",
        "return document.querySelector('#subscriptions').innerText.includes('binary_sensor.front_door')",
    );
    browser.wait(
        "running",
        "const s = document.querySelector('#app-state [data-state]'); return s && s.dataset.state === 'running'",
    );
    browser.click("button[data-action=stop]");
    browser.wait(
        "the state to turn stopped",
        "const s = document.querySelector('#app-state [data-state]'); return s && s.dataset.state === 'stopped'",
    );
    assert_eq!(
        demo.api("GET", "/api/apps/counters/front_door")
            .json()
            .unwrap()["state"],
        "stopped"
    );
    browser.click("button[data-action=start]");
    browser.wait(
        "the state to turn running again",
        "const s = document.querySelector('#app-state [data-state]'); return s && s.dataset.state === 'running'",
    );
    browser.click("button[data-action=restart]");
    browser.wait(
        "two restarts counted",
        "return document.getElementById('app-head').innerText.includes('2\\nrestarts')",
    );
    browser.wait(
        "the instance's recent logs",
        "return document.querySelector('#app-logs').innerText.includes('started')",
    );
    browser.screenshot(&shots.join("app.png"));

    // Cache browser: the classes, then one class's keys; delete one and see it gone.
    browser.goto(&demo.url("#/cache"));
    browser.wait(
        "the cache classes",
        "return document.querySelector('#classes tr[data-class=\"WeatherSummary\"]') !== null",
    );
    browser.screenshot(&shots.join("cache.png"));
    browser.goto(&demo.url("#/cache/Notifier"));
    let key = "browser-test:doomed";
    browser.wait(
        "the key in the list",
        &format!("return document.querySelector('#keys tr[data-key=\"{key}\"]') !== null"),
    );
    browser.click(&format!("#keys tr[data-key=\"{key}\"] a"));
    browser.wait(
        "the value as JSON",
        "return document.getElementById('value').textContent.includes('\"delete\": \"me\"')",
    );
    browser.screenshot(&shots.join("cache-class.png"));
    browser.click(&format!("button[data-delete=\"{key}\"]"));
    browser.wait(
        "the key gone from the list",
        &format!("return document.querySelector('#keys tr[data-key=\"{key}\"]') === null"),
    );
    let gone = demo.api("GET", "/api/caches/Notifier/keys/browser-test%3Adoomed");
    assert_eq!(gone.status, 404, "{}", gone.text());

    // Live logs: a new line arrives without reloading the page.
    browser.goto(&demo.url("#/logs"));
    browser.wait(
        "log lines",
        "return document.querySelectorAll('#log-lines .log-line').length > 0",
    );
    browser.js(
        "document.getElementById('grep').value = 'restarting'; document.querySelector('#log-filters button').click(); return true",
    );
    std::thread::sleep(Duration::from_millis(500));
    let before = browser
        .js("return document.querySelectorAll('#log-lines .log-line').length")
        .as_u64()
        .unwrap();
    let r = demo.api("POST", "/api/apps/door_watcher/DoorWatcher.0/restart");
    assert_eq!(r.status, 200, "{}", r.text());
    browser.wait(
        "the new log line",
        &format!(
            "const l = document.querySelectorAll('#log-lines .log-line'); return l.length > {before} && l[l.length - 1].innerText.includes('door_watcher')"
        ),
    );
    browser.screenshot(&shots.join("logs.png"));
}
