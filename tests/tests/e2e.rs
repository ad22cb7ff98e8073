//! End-to-end tests of the real `hassette` binary against the fake Home Assistant (a real
//! websocket server on loopback, in this test process).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hassette_core::testing::FakeHomeAssistant;

// Against a real Home Assistant (with HASSETTE_REAL_HA=1): one test binary, so not tests/real_ha.rs.
#[path = "e2e/real_ha.rs"]
mod real_ha;
// `hassette new` and `hassette dev` in a generated crate.
#[path = "e2e/status_cli.rs"]
mod status_cli;
#[path = "e2e/user_crate.rs"]
mod user_crate;

#[path = "e2e/private_files.rs"]
mod private_files;

/// The `hassette` binary of this workspace, built if `cargo test` did not build it already.
fn hassette_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/e2e-<hash> → target/<profile>/hassette
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("hassette");
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

/// A command for `bin`, without the developer's own `HASSETTE__*` settings.
fn clean_command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars() {
        if key.starts_with("HASSETTE__") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A `hassette run` process; its stdout and stderr lines arrive on a channel.
struct Hassette {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<String>,
}

impl Hassette {
    fn start(dir: &Path, config: &Path, token: &str, args: &[&str]) -> Self {
        Self::start_bin(&hassette_bin(), dir, config, token, args)
    }

    fn start_bin(bin: &Path, dir: &Path, config: &Path, token: &str, args: &[&str]) -> Self {
        let mut cmd = clean_command(bin);
        cmd.arg("run")
            .arg("-c")
            .arg(config)
            .args(args)
            .current_dir(dir);
        cmd.env("HASSETTE__TOKEN", token);
        Self::spawn(cmd)
    }

    /// Spawns `cmd`; its stdout and stderr lines arrive on the channel, each with the instant
    /// it was read.
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send((Instant::now(), line));
                }
            });
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for an output line containing `text` (a hang guard of 20 s, not a timing check).
    fn wait_for(&mut self, text: &str) -> String {
        self.wait_for_within(text, Duration::from_secs(20)).1
    }

    /// Waits up to `limit` for an output line containing `text`; returns it with the instant it
    /// was read.
    fn wait_for_within(&mut self, text: &str, limit: Duration) -> (Instant, String) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok((at, line)) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(line.clone());
                if line.contains(text) {
                    return (at, line);
                }
            }
        }
        panic!(
            "no line with {text:?}; output so far:\n{}",
            self.seen.join("\n")
        );
    }

    /// Waits for a line with `text` unless one was seen already (stdout and stderr are two
    /// pipes: their lines can arrive in either order).
    fn seen_or_wait_for(&mut self, text: &str) -> String {
        match self.seen.iter().find(|l| l.contains(text)) {
            Some(line) => line.clone(),
            None => self.wait_for(text),
        }
    }

    fn sigterm(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok((_, line)) = self.lines.recv_timeout(Duration::from_millis(50)) {
                    self.seen.push(line);
                }
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!(
            "hassette did not exit after SIGTERM:\n{}",
            self.seen.join("\n")
        );
    }
}

impl Drop for Hassette {
    fn drop(&mut self) {
        if std::thread::panicking() {
            while let Ok((_, line)) = self.lines.try_recv() {
                self.seen.push(line);
            }
            eprintln!("--- hassette's output:\n{}", self.seen.join("\n"));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, fake: &FakeHomeAssistant, apps: &str) -> PathBuf {
    write_config_with(dir, fake, "log_level = \"DEBUG\"", apps)
}

fn write_config_with(dir: &Path, fake: &FakeHomeAssistant, settings: &str, apps: &str) -> PathBuf {
    let path = dir.join("hassette.toml");
    // The status API on a free port unless the test says otherwise: parallel tests would
    // contend for the default 8126.
    let web = if apps.contains("[hassette.web]") {
        ""
    } else {
        "[hassette.web]\nlisten = \"127.0.0.1:0\"\n"
    };
    let text = format!(
        "[hassette]\nbase_url = \"{}\"\ndata_dir = \"data\"\ncache_flush_interval = \"100ms\"\n{settings}\n{web}\n{apps}",
        fake.base_url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits (hang guard) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const MOTION_APP: &str = r#"
[hassette.apps.hallway_light]
class_name = "MotionLight"
[hassette.apps.hallway_light.config]
sensor = "binary_sensor.hallway_motion"
light = "light.kitchen"
off_after = "1s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_example_app_reacts_to_state_changes_and_sigterm_exits_0() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("light.kitchen", "off", None);
    fake.set_state("binary_sensor.hallway_motion", "off", None);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake, MOTION_APP);
    let mut h = Hassette::start(dir.path(), &config, fake.token().expose(), &[]);
    h.wait_for("1 app instance(s) started, 0 failed");

    fake.set_state("binary_sensor.hallway_motion", "on", None);
    eventually("the light to turn on", || {
        fake.state("light.kitchen").is_some_and(|s| s.state == "on")
    })
    .await;
    fake.set_state("binary_sensor.hallway_motion", "off", None);
    // off_after = "1s": the duration filter turns it off after a quiet second.
    eventually("the light to turn off", || {
        fake.state("light.kitchen")
            .is_some_and(|s| s.state == "off")
    })
    .await;
    let calls: Vec<String> = fake
        .service_calls()
        .iter()
        .map(|c| format!("{}.{}", c.domain, c.service))
        .collect();
    assert_eq!(calls, ["light.turn_on", "light.turn_off"]);

    assert_eq!(h.sigterm(), Some(0), "{}", h.seen.join("\n"));
    assert!(
        h.seen.iter().any(|l| l.contains("stopped")),
        "{}",
        h.seen.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_filter_runs_only_the_named_apps() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let apps = format!(
        "{MOTION_APP}\n[hassette.apps.doors]\nclass_name = \"DoorWatcher\"\nconfig = {{ doors = [\"binary_sensor.front_door\"] }}\n"
    );
    let config = write_config(dir.path(), &fake, &apps);
    let mut h = Hassette::start(
        dir.path(),
        &config,
        fake.token().expose(),
        &["--app", "doors"],
    );
    h.wait_for("1 app instance(s) started, 0 failed, 1 app(s) disabled");
    fake.set_state("binary_sensor.hallway_motion", "on", None);
    fake.set_state("binary_sensor.front_door", "on", None);
    h.wait_for("door opened");
    assert!(
        fake.service_calls().is_empty(),
        "the motion light must not run"
    );
    assert_eq!(h.sigterm(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_is_one_clear_error_and_exit_1() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake, MOTION_APP);
    let mut h = Hassette::start(dir.path(), &config, "not-the-token", &[]);
    let line = h.wait_for("error:");
    assert!(line.contains("cannot connect to Home Assistant"), "{line}");
    let status = h.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert_eq!(fake.auth_attempts(), 1, "no retry after auth_invalid");
    assert!(
        h.seen
            .iter()
            .chain(std::iter::once(&line))
            .all(|l| !l.contains(fake.token().expose()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_before_home_assistant_it_waits_and_starts_the_apps_when_it_is_up() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    // Not up yet: its port is closed, as after a power cut with hassette's box up first.
    fake.go_down();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake, DOOR_APP);
    let mut h = Hassette::start(dir.path(), &config, fake.token().expose(), &[]);
    let line = h.wait_for("waiting for Home Assistant");
    assert!(
        line.contains(&fake.address().to_string()),
        "names the URL: {line}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    fake.come_up();
    h.wait_for("1 app instance(s) started, 0 failed");
    fake.set_state("binary_sensor.front_door", "on", None);
    h.wait_for("door opened");
    assert_eq!(h.sigterm(), Some(0));
    let waits = h
        .seen
        .iter()
        .filter(|l| l.contains("waiting for Home Assistant"))
        .count();
    assert_eq!(waits, 1, "said once: {}", h.seen.join("\n"));
    assert!(
        h.seen.iter().all(|l| !l.contains(" ERROR ")),
        "{}",
        h.seen.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_can_never_work_is_one_clear_error_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    // Something answers on the port, but not with Home Assistant's websocket: a 404.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let config = dir.path().join("hassette.toml");
    let text = format!(
        "[hassette]\nbase_url = \"http://127.0.0.1:{port}\"\ndata_dir = \"data\"\n\n{DOOR_APP}"
    );
    std::fs::write(&config, text).unwrap();
    let mut h = Hassette::start(dir.path(), &config, "token", &[]);
    let line = h.wait_for("error:");
    assert!(line.contains("cannot connect to Home Assistant"), "{line}");
    assert!(line.contains("404"), "says why: {line}");
    let status = h.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_connecting_reading_states_or_starting_apps_is_a_clean_exit_0() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let apps = "[hassette.apps.slow]\nclass_name = \"SlowStart\"\nconfig = {}\n";
    let config = write_config(dir.path(), &fake, apps);
    let start = || {
        Hassette::start_bin(
            &test_apps_bin(),
            dir.path(),
            &config,
            fake.token().expose(),
            &[],
        )
    };

    // 1. While connecting: Home Assistant is not up.
    fake.go_down();
    let mut h = start();
    h.wait_for("waiting for Home Assistant");
    assert_eq!(h.sigterm(), Some(0), "{}", h.seen.join("\n"));
    h.seen_or_wait_for("stopped before the apps started");
    fake.come_up();

    // 2. While reading the states: Home Assistant reads each frame slowly.
    let before = fake.received_commands().len();
    fake.set_slow_reader(Some(Duration::from_millis(1500)));
    let mut h = start();
    eventually("hassette to ask for the configuration", || {
        fake.received_commands()[before..]
            .iter()
            .any(|c| c == "get_config")
    })
    .await;
    assert_eq!(h.sigterm(), Some(0), "{}", h.seen.join("\n"));
    h.seen_or_wait_for("stopped before the apps started");
    fake.set_slow_reader(None);

    // 3. While starting the apps: SlowStart takes two seconds; its cache write is flushed.
    let mut h = start();
    h.wait_for("slow start: initializing starts=1");
    assert_eq!(h.sigterm(), Some(0), "{}", h.seen.join("\n"));
    h.seen_or_wait_for("stopped");
    let mut h = start();
    h.wait_for("slow start: initializing starts=2");
    assert_eq!(h.sigterm(), Some(0), "{}", h.seen.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_with_no_home_assistant() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hassette.toml.example");
    let mut cmd = clean_command(&hassette_bin());
    cmd.args(["run", "--demo", "-c"])
        .arg(&example)
        .args(["--data-dir"])
        .arg(dir.path())
        .current_dir(dir.path());
    let mut h = Hassette::spawn(cmd);
    h.wait_for("app instance(s) started, 0 failed");
    // The demo's motion sensor trips every few seconds; the example motion light follows it.
    h.wait_for("motion: light on");
    assert_eq!(h.sigterm(), Some(0));
    // DoorWatcher never touches its cache: no directory for it.
    assert!(!dir.path().join("DoorWatcher").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hassette_log_shows_what_an_app_did_and_never_the_token() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("binary_sensor.front_door", "off", None);
    let dir = tempfile::tempdir().unwrap();
    let apps = "[hassette.apps.doors]\nclass_name = \"DoorWatcher\"\nconfig = { doors = [\"binary_sensor.front_door\"] }\n\
                [hassette.apps.hallway_light]\nclass_name = \"MotionLight\"\n\
                config = { sensor = \"binary_sensor.hallway_motion\", light = \"light.kitchen\" }\n";
    let config = write_config(dir.path(), &fake, apps);
    let token = fake.token();
    let mut h = Hassette::start(dir.path(), &config, token.expose(), &[]);
    h.wait_for("app instance(s) started");
    fake.set_state("binary_sensor.front_door", "on", None);
    h.wait_for("door opened");
    assert_eq!(h.sigterm(), Some(0));

    let log = |args: &[&str]| -> String {
        let out = Command::new(hassette_bin())
            .args(["log", "-c"])
            .arg(&config)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let doors = log(&["--app", "doors", "--since", "1h"]);
    assert!(
        doors.contains("doors/DoorWatcher.0: door opened door=binary_sensor.front_door"),
        "{doors}"
    );
    assert!(doors.lines().all(|l| l.contains("doors/")), "{doors}");
    let json = log(&["--app", "hallway_light", "--json"]);
    assert!(json.lines().count() >= 2, "{json}");
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["app"], "hallway_light");
        assert_eq!(v["class"], "MotionLight");
    }
    // DEBUG framework records (the websocket frames included) are in the store too: none of
    // them, and no console line, holds the token.
    let everything = log(&["--json"]);
    assert!(everything.contains("\"component\":\"ha\""), "{everything}");
    assert!(!everything.contains(token.expose()));
    assert!(h.seen.iter().all(|l| !l.contains(token.expose())));
    for entry in std::fs::read_dir(dir.path().join("data/logs")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(token.expose()));
    }
}

const COUNTER_APP: &str = r#"
[hassette.apps.counters]
class_name = "Counter"
[[hassette.apps.counters.config]]
instance_name = "guest"
entity = "input_boolean.guest_mode"
[[hassette.apps.counters.config]]
instance_name = "coffee"
entity = "switch.coffee_maker"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_survives_a_restart_and_sigterm_flushes_the_cache() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("input_boolean.guest_mode", "off", None);
    fake.set_state("switch.coffee_maker", "off", None);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake, COUNTER_APP);
    let token = fake.token();

    let mut h = Hassette::start(dir.path(), &config, token.expose(), &[]);
    h.wait_for("2 app instance(s) started");
    for _ in 0..3 {
        fake.set_state("input_boolean.guest_mode", "on", None);
        h.wait_for("counted");
        fake.set_state("input_boolean.guest_mode", "off", None);
    }
    fake.set_state("switch.coffee_maker", "on", None);
    h.wait_for("counters/coffee: counted count=1");
    assert_eq!(h.sigterm(), Some(0), "{}", h.seen.join("\n"));
    assert!(
        h.seen
            .iter()
            .any(|l| l.contains("counters/guest: counted count=3")),
        "{}",
        h.seen.join("\n")
    );

    // A second run reads the counts back: each instance its own key in the shared cache.
    let mut h = Hassette::start(dir.path(), &config, token.expose(), &[]);
    // Not before the apps have started: a change before the app subscribed is not counted.
    h.wait_for("2 app instance(s) started");
    h.seen_or_wait_for("counters/guest: counter restored entity=input_boolean.guest_mode count=3");
    fake.set_state("input_boolean.guest_mode", "on", None);
    h.wait_for("counters/guest: counted count=4");
    assert!(
        h.seen
            .iter()
            .any(|l| l
                .contains("counters/coffee: counter restored entity=switch.coffee_maker count=1")),
        "{}",
        h.seen.join("\n")
    );
    assert_eq!(h.sigterm(), Some(0));
    assert!(dir.path().join("data/Counter/cache").is_dir());

    // The seed's "verify it works": at DEBUG, cache reads and writes are in the log, with keys.
    let out = Command::new(hassette_bin())
        .args(["log", "-c"])
        .arg(&config)
        .args(["--app", "counters", "--since", "1h", "--grep", "cache"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("key=guest:count"), "{text}");
    assert!(text.contains("cache incr"), "{text}");
}

/// A user's own binary (`tests/src/bin/test_apps.rs`): the CLI with apps that misbehave.
fn test_apps_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hassette-test-apps"))
}

const DOOR_APP: &str = "[hassette.apps.doors]\nclass_name = \"DoorWatcher\"\nconfig = { doors = [\"binary_sensor.front_door\"] }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_app_is_isolated() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("input_boolean.guest_mode", "off", None);
    fake.set_state("binary_sensor.front_door", "off", None);
    let dir = tempfile::tempdir().unwrap();
    let apps = format!(
        "{DOOR_APP}[hassette.apps.panicky]\nclass_name = \"Panicky\"\nrestart = \"never\"\nconfig = {{ entity = \"input_boolean.guest_mode\" }}\n"
    );
    let config = write_config(dir.path(), &fake, &apps);
    let mut h = Hassette::start_bin(
        &test_apps_bin(),
        dir.path(),
        &config,
        fake.token().expose(),
        &[],
    );
    h.wait_for("2 app instance(s) started, 0 failed");
    fake.set_state("input_boolean.guest_mode", "on", None);
    let line = h.wait_for("handler panicked");
    assert!(line.contains("panicky/Panicky.0"), "{line}");
    assert!(line.contains("Panicky was told to panic"), "{line}");
    fake.set_state("binary_sensor.front_door", "on", None);
    h.wait_for("doors/DoorWatcher.0: door opened");
    // The stopped instance sees nothing more; the process carries on and stops cleanly.
    fake.set_state("input_boolean.guest_mode", "off", None);
    fake.set_state("binary_sensor.front_door", "off", None);
    h.wait_for("door closed");
    assert!(!h.seen.iter().any(|l| l.contains("panicky saw a change")));
    assert_eq!(h.sigterm(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicked_app_is_restarted_and_hears_the_next_change() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("input_boolean.guest_mode", "off", None);
    let dir = tempfile::tempdir().unwrap();
    let apps = "[hassette.apps.panicky]\nclass_name = \"Panicky\"\nrestart_delay = \"50ms\"\nconfig = { entity = \"input_boolean.guest_mode\" }\n";
    let config = write_config(dir.path(), &fake, apps);
    let mut h = Hassette::start_bin(
        &test_apps_bin(),
        dir.path(),
        &config,
        fake.token().expose(),
        &[],
    );
    h.wait_for("1 app instance(s) started, 0 failed");
    fake.set_state("input_boolean.guest_mode", "on", None);
    let line = h.wait_for("the instance failed; restarting in 50ms (restart 1 of at most 5");
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("Panicky was told to panic"), "{line}");
    h.wait_for("panicky/Panicky.0: started");
    fake.set_state("input_boolean.guest_mode", "off", None);
    h.wait_for("panicky saw a change");
    assert_eq!(h.sigterm(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_to_an_unknown_entity_warns_at_startup_and_after_reconnect() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("input_boolean.harness_switch", "off", None);
    let dir = tempfile::tempdir().unwrap();
    let apps = "[hassette.apps.typo]\nclass_name = \"Panicky\"\nconfig = { entity = \"input_boolean.harness_swtich\" }\n[hassette.apps.glob]\nclass_name = \"Mirror\"\nconfig = { entity = \"light.nothing_*\", target = \"input_boolean.harness_switch\" }\n";
    let config = write_config_with(
        dir.path(),
        &fake,
        "reconnect_initial_delay = \"50ms\"\nreconnect_max_delay = \"100ms\"",
        apps,
    );
    let mut h = Hassette::start_bin(
        &test_apps_bin(),
        dir.path(),
        &config,
        fake.token().expose(),
        &[],
    );
    let warning = "a subscription names an entity Home Assistant does not have (did you mean `input_boolean.harness_switch`?)";
    let line = h.wait_for(warning);
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("typo/Panicky.0"), "{line}");
    assert!(line.contains("input_boolean.harness_swtich"), "{line}");
    h.seen_or_wait_for("a subscription's pattern matches no entity Home Assistant has");
    h.seen_or_wait_for("2 app instance(s) started");
    fake.drop_connections();
    h.wait_for(warning);
    assert_eq!(h.sigterm(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_own_log_level_applies_to_it_alone() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("input_boolean.guest_mode", "off", None);
    let dir = tempfile::tempdir().unwrap();
    let app = |key: &str, level: &str| {
        format!(
            "[hassette.apps.{key}]\nclass_name = \"Panicky\"\n{level}config = {{ instance_name = \"{key}\", entity = \"input_boolean.guest_mode\" }}\n"
        )
    };
    let apps = [
        app("quiet", "log_level = \"WARN\"\n"),
        app("plain", ""),
        app("verbose", "log_level = \"Debug\"\n"),
    ]
    .concat();
    let config = write_config_with(dir.path(), &fake, "log_level = \"INFO\"", &apps);
    let mut h = Hassette::start_bin(
        &test_apps_bin(),
        dir.path(),
        &config,
        fake.token().expose(),
        &[],
    );
    h.wait_for("3 app instance(s) started, 0 failed");
    fake.set_state("input_boolean.guest_mode", "half", None);
    h.seen_or_wait_for("plain/plain: panicky saw a change");
    h.seen_or_wait_for("verbose/verbose: panicky saw a change");
    // The bus logs each subscription at DEBUG, inside the app that makes it.
    let debug = |key: &str| format!("{key}/{key}: subscribed");
    assert!(
        h.seen.iter().any(|l| l.contains(&debug("verbose"))),
        "{}",
        h.seen.join("\n")
    );
    assert_eq!(h.sigterm(), Some(0));
    for key in ["quiet", "plain"] {
        assert!(
            !h.seen.iter().any(|l| l.contains(&debug(key))),
            "{}",
            h.seen.join("\n")
        );
    }
    assert!(
        !h.seen
            .iter()
            .any(|l| l.contains("quiet/quiet: panicky saw")),
        "{}",
        h.seen.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_no_app_can_run_hassette_run_says_so_and_exits_1() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let apps = "[hassette.apps.broken]\nclass_name = \"NeverStarts\"\nrestart_delay = \"20ms\"\nmax_restarts = 2\nconfig = { entity = \"sensor.far_away\" }\n\n[hassette.apps.stubborn]\nclass_name = \"NeverStarts\"\nrestart = \"never\"\nconfig = { instance_name = \"s\", entity = \"sensor.gone\" }\n";
    let config = write_config(dir.path(), &fake, apps);
    let out = clean_command(&test_apps_bin())
        .args(["run", "-c"])
        .arg(&config)
        .env("HASSETTE__TOKEN", fake.token().expose())
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    // Two restarts of `broken`, each an ERROR with the cause, then it gives up.
    let restarts = text
        .lines()
        .filter(|l| {
            l.contains("ERROR")
                && l.contains("sensor.far_away is not reachable")
                && l.contains("restarting in")
        })
        .count();
    assert_eq!(restarts, 2, "{text}");
    assert!(
        text.contains("not restarting: it was restarted 2 times"),
        "{text}"
    );
    assert!(text.contains("stubborn/s: initialize failed: sensor.gone is not reachable; not restarting (restart = \"never\")"), "{text}");
    assert!(
        text.contains("0 app instance(s) started, 2 failed"),
        "{text}"
    );
    assert!(
        text.contains("error: no app can run: every app instance failed"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_app_does_not_delay_another() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("binary_sensor.front_door", "off", None);
    let dir = tempfile::tempdir().unwrap();
    let apps = format!(
        "{DOOR_APP}[hassette.apps.slow]\nclass_name = \"Sluggish\"\nconfig = {{ entity = \"sensor.outside_temperature\" }}\n"
    );
    let config = write_config_with(dir.path(), &fake, "app_shutdown_timeout = \"1s\"", &apps);
    let mut h = Hassette::start_bin(
        &test_apps_bin(),
        dir.path(),
        &config,
        fake.token().expose(),
        &[],
    );
    h.wait_for("2 app instance(s) started, 0 failed");
    for t in ["10.0", "10.5", "11.0"] {
        fake.set_state("sensor.outside_temperature", t, None);
    }
    // The sluggish app is busy for ten seconds per change; the door watcher is not held up.
    fake.set_state("binary_sensor.front_door", "on", None);
    h.wait_for("door opened");
    assert!(
        !h.seen
            .iter()
            .any(|l| l.contains("sluggish finally handled")),
        "{}",
        h.seen.join("\n")
    );
    // Shutdown does not wait out the slow handler for ever.
    assert_eq!(h.sigterm(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_hassette_on_the_same_data_dir_gets_a_clear_cache_error() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("input_boolean.guest_mode", "off", None);
    fake.set_state("switch.coffee_maker", "off", None);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake, COUNTER_APP);
    let token = fake.token();
    let mut first = Hassette::start(dir.path(), &config, token.expose(), &[]);
    first.wait_for("2 app instance(s) started, 0 failed");
    fake.set_state("input_boolean.guest_mode", "on", None);
    first.wait_for("counters/guest: counted count=1");

    let mut second = Hassette::start(dir.path(), &config, token.expose(), &[]);
    let summary = second.wait_for("app instance(s) started");
    assert!(
        summary.contains("0 app instance(s) started, 2 failed"),
        "{summary}"
    );
    let failure = second.wait_for("failed: counters/");
    assert!(failure.contains("another process"), "{failure}");
    assert!(failure.contains("Counter/cache"), "{failure}");
    assert_eq!(second.sigterm(), Some(0));

    // The first is unharmed and its data intact.
    fake.set_state("input_boolean.guest_mode", "off", None);
    fake.set_state("input_boolean.guest_mode", "on", None);
    first.wait_for("counters/guest: counted count=2");
    assert_eq!(first.sigterm(), Some(0));
    let cache = hassette_core::cache::Cache::open(hassette_core::cache::CacheOptions::new(
        dir.path().join("data/Counter/cache"),
        "Counter",
    ))
    .unwrap();
    assert_eq!(cache.get::<i64>("guest:count").unwrap(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_heavy_cache_writes_loses_nothing_completed() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_with(
        dir.path(),
        &fake,
        "log_level = \"INFO\"",
        "[hassette.apps.writer]\nclass_name = \"Writer\"\nconfig = {}\n",
    );
    let mut rng = fastrand::Rng::with_seed(20);
    let mut acknowledged = 0u64;
    for round in 0..20 {
        let mut h = Hassette::start_bin(
            &test_apps_bin(),
            dir.path(),
            &config,
            fake.token().expose(),
            &[],
        );
        h.wait_for("1 app instance(s) started, 0 failed");
        h.wait_for("written");
        std::thread::sleep(Duration::from_millis(rng.u64(10..200)));
        h.child.kill().unwrap(); // SIGKILL
        h.child.wait().unwrap();
        while let Ok((_, line)) = h.lines.recv_timeout(Duration::from_millis(50)) {
            h.seen.push(line);
        }
        // The last batch the app reported as written before it died.
        let reported = h
            .seen
            .iter()
            .filter(|l| l.contains("written"))
            .filter_map(|l| l.rsplit("next=").next()?.trim().parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        assert!(
            reported >= acknowledged,
            "round {round}: numbering went back"
        );
        acknowledged = reported;
        let cache = hassette_core::cache::Cache::open(hassette_core::cache::CacheOptions::new(
            dir.path().join("data/Writer/cache"),
            "Writer",
        ))
        .unwrap_or_else(|e| panic!("round {round}: the cache does not open after SIGKILL: {e}"));
        for k in 0..acknowledged {
            assert_eq!(
                cache.get::<u64>(&format!("k{k}")).unwrap(),
                Some(k),
                "round {round}: k{k} lost"
            );
        }
        cache.close().unwrap();
    }
    assert!(
        acknowledged > 1000,
        "only {acknowledged} writes in 20 rounds"
    );
    eprintln!("20 SIGKILLs: {acknowledged} acknowledged writes, none lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_truncated_and_empty_cache_files_are_quarantined_and_the_app_runs() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_with(dir.path(), &fake, "log_level = \"INFO\"", COUNTER_APP);
    let cache_dir = dir.path().join("data/Counter/cache");
    let mut rng = fastrand::Rng::with_seed(4);
    let garbage: Vec<u8> = (0..65536).map(|_| rng.u8(..)).collect();
    for (what, bytes) in [
        ("random bytes", garbage.clone()),
        ("truncated", garbage[..1000].to_vec()),
        ("empty", Vec::new()),
    ] {
        std::fs::create_dir_all(&cache_dir).unwrap();
        for entry in std::fs::read_dir(&cache_dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().contains(".corrupt-") {
                std::fs::remove_file(path).unwrap();
            }
        }
        std::fs::write(cache_dir.join("cache.redb"), &bytes).unwrap();
        fake.set_state("input_boolean.guest_mode", "off", None);
        let mut h = Hassette::start(dir.path(), &config, fake.token().expose(), &[]);
        h.wait_for("2 app instance(s) started, 0 failed");
        let error = h.seen_or_wait_for(".corrupt-");
        assert!(
            error.contains("ERROR") && error.contains("cache.redb"),
            "{what}: {error}"
        );
        fake.set_state("input_boolean.guest_mode", "on", None);
        h.wait_for("counters/guest: counted count=1");
        assert_eq!(h.sigterm(), Some(0), "{what}");
    }
    let quarantined = std::fs::read_dir(&cache_dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".corrupt-")
        })
        .count();
    assert_eq!(quarantined, 3, "each corrupt file is kept aside");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let fake = FakeHomeAssistant::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let apps = "[hassette.apps.slow]\nclass_name = \"Sluggish\"\nconfig = { entity = \"sensor.outside_temperature\" }\n";
    let config = write_config_with(dir.path(), &fake, "app_shutdown_timeout = \"60s\"", apps);
    let mut h = Hassette::start_bin(
        &test_apps_bin(),
        dir.path(),
        &config,
        fake.token().expose(),
        &[],
    );
    h.wait_for("1 app instance(s) started");
    // The app is busy for ten seconds: an orderly shutdown would wait for it.
    fake.set_state("sensor.outside_temperature", "30.0", None);
    std::thread::sleep(Duration::from_millis(200));
    let pid = h.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    h.wait_for("signal received: shutting down");
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    // 130 comes only from the second-signal path; an orderly exit would be 0, after the wait.
    let status = h.child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}
