//! `hassette status` and `hassette cache` against a real `hassette run`: through its status
//! API while it runs, from the files when none runs, and one clear error when a process holds
//! the files and no API answers.

use hassette_core::testing::FakeHomeAssistant;
use std::path::Path;

use super::{COUNTER_APP, Hassette, clean_command, hassette_bin, write_config_with};

/// A free loopback port for `[hassette.web] listen` (the CLI reads the port from the file).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cli(dir: &Path, config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = clean_command(&hassette_bin())
        .args(args)
        .arg("-c")
        .arg(config)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn counted_run(dir: &Path, web: &str) -> (FakeHomeAssistant, std::path::PathBuf, Hassette) {
    let fake = FakeHomeAssistant::start().await.unwrap();
    fake.set_state("input_boolean.guest_mode", "off", None);
    fake.set_state("switch.coffee_maker", "off", None);
    let config = write_config_with(dir, &fake, "", &format!("{web}\n{COUNTER_APP}"));
    let mut h = Hassette::start(dir, &config, fake.token().expose(), &[]);
    h.wait_for("2 app instance(s) started");
    fake.set_state("input_boolean.guest_mode", "on", None);
    h.wait_for("counters/guest: counted count=1");
    (fake, config, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_cache_go_through_the_running_hassettes_api() {
    let dir = tempfile::tempdir().unwrap();
    let web = format!("[hassette.web]\nlisten = \"127.0.0.1:{}\"", free_port());
    let (_fake, config, mut h) = counted_run(dir.path(), &web).await;

    let (ok, out, err) = cli(dir.path(), &config, &["status"]);
    assert!(ok, "{err}");
    assert!(out.contains("connected"), "{out}");
    assert!(out.contains("counters  guest"), "{out}");
    assert!(out.contains("running"), "{out}");
    let (ok, out, _) = cli(dir.path(), &config, &["status", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["apps"][0]["state"], "running");
    assert_eq!(v["process"]["connection"], "connected");

    let (ok, out, err) = cli(dir.path(), &config, &["cache", "ls", "--class", "Counter"]);
    assert!(ok, "{err}");
    assert!(out.contains("guest:count"), "{out}");
    let (ok, out, _) = cli(
        dir.path(),
        &config,
        &["cache", "get", "Counter", "guest:count"],
    );
    assert!(ok);
    assert_eq!(out.trim(), "1");
    let (ok, out, err) = cli(dir.path(), &config, &["cache", "stats"]);
    assert!(ok, "{err}");
    assert!(out.contains("Counter") && out.contains("HIT RATE"), "{out}");
    let (ok, _, err) = cli(
        dir.path(),
        &config,
        &["cache", "rm", "Counter", "guest:count"],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = cli(
        dir.path(),
        &config,
        &["cache", "get", "Counter", "guest:count"],
    );
    assert!(!ok);
    assert!(
        err.contains("no key \"guest:count\" in the Counter cache"),
        "{err}"
    );
    let (ok, _, err) = cli(dir.path(), &config, &["cache", "ls", "--class", "Nope"]);
    assert!(!ok);
    assert!(
        err.contains("no app class \"Nope\"") && err.contains("Counter"),
        "{err}"
    );
    assert_eq!(h.sigterm(), Some(0));

    // Nothing runs now: the files are read directly, and `status` says nobody answers.
    let (ok, _, err) = cli(dir.path(), &config, &["status"]);
    assert!(!ok);
    assert!(err.contains("no running hassette answers"), "{err}");
    let (ok, out, err) = cli(dir.path(), &config, &["cache", "ls"]);
    assert!(ok, "{err}");
    assert!(
        !out.contains("guest:count"),
        "deleted through the API: {out}"
    );
    let (ok, out, err) = cli(dir.path(), &config, &["cache", "clear", "Counter"]);
    assert!(ok, "{err}");
    assert!(out.contains("cleared the Counter cache"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_files_held_by_a_hassette_without_an_api_give_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_fake, config, mut h) = counted_run(dir.path(), "[hassette.web]\nenabled = false").await;
    let (ok, out, err) = cli(dir.path(), &config, &["cache", "ls", "--class", "Counter"]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("is held by a running process, and no hassette status API answers"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one error: {err}");
    assert_eq!(h.sigterm(), Some(0));
    let (ok, out, err) = cli(
        dir.path(),
        &config,
        &["cache", "get", "Counter", "guest:count"],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "1");
}
