//! A user's path: `hassette new` writes a crate whose own test passes, and `hassette dev` in it
//! rebuilds and restarts on a source change (new behaviour, cache kept), keeps the running
//! version through a failing build, and restarts without a build on a config-only change.
//!
//! The generated crate builds in `<target>/user-crates`, shared with `.ci/run`'s own
//! generated crate, so its dependencies compile once. The first build of those dependencies
//! takes minutes on a busy machine: the hang guards here are long on purpose.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Hassette, clean_command, hassette_bin};

/// Covers a first build of every dependency on a loaded 2-core machine.
const FIRST_BUILD: Duration = Duration::from_secs(20 * 60);
/// A rebuild of the user's crate alone.
const REBUILD: Duration = Duration::from_secs(5 * 60);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `<target>/user-crates`, beside this test binary's `<target>/<profile>/deps/`.
fn user_target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("user-crates")
}

fn generate(parent: &Path, name: &str) -> PathBuf {
    let dir = parent.join(name);
    let out = clean_command(&hassette_bin())
        .arg("new")
        .arg(&dir)
        .arg("--path")
        .arg(workspace_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "hassette new: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cargo run -- run --demo"), "{text}");
    dir
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn hassette_new_writes_a_crate_whose_test_passes_and_that_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = generate(tmp.path(), "new-apps");
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "hassette.toml",
        ".gitignore",
        "README.md",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"new-apps\""), "{manifest}");
    assert!(manifest.contains("features = [\"demo\"]"), "{manifest}");
    assert!(manifest.contains("features = [\"testing\"]"), "{manifest}");

    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("test")
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", user_target_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "cargo test in the generated crate:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let again = clean_command(&hassette_bin())
        .arg("new")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    let bad = clean_command(&hassette_bin())
        .arg("new")
        .arg(tmp.path().join("9lives"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--name"));
}

/// The number after `motions=` in a log line.
fn motions(line: &str) -> u64 {
    let rest = &line[line.find("motions=").unwrap() + "motions=".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn hassette_dev_rebuilds_restarts_keeps_the_cache_and_survives_a_failed_build() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = generate(tmp.path(), "dev-apps");
    let main_rs = dir.join("src/main.rs");
    let mut cmd = clean_command(&hassette_bin());
    cmd.args(["dev", "--demo"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", user_target_dir());
    let mut dev = Hassette::spawn(cmd);

    dev.wait_for_within("motion counter started", FIRST_BUILD);
    let first = dev.wait_for("motion: light on");
    let before = motions(&first);

    // A source change: rebuilt, restarted, the new behaviour handles events, the cache kept.
    let saved = Instant::now();
    edit(
        &main_rs,
        "\"motion: light on\"",
        "\"motion: light on (v2)\"",
    );
    let (_, built) = dev.wait_for_within("hassette dev: built in", REBUILD);
    let started = dev.wait_for("motion counter started");
    assert!(motions(&started) >= before, "cache lost: {started}");
    let (handled_at, handled) = dev.wait_for_within("motion: light on (v2)", REBUILD);
    assert!(motions(&handled) > before, "{handled}");
    let restarted = match dev
        .seen
        .iter()
        .rev()
        .find(|l| l.contains("new version started"))
    {
        Some(line) => line.clone(),
        None => dev.wait_for("new version started"),
    };
    eprintln!(
        "figures: {built}; {restarted}; save -> the new version handling its first event: {:.2} s (the demo's motion sensor trips every 6 s)",
        (handled_at - saved).as_secs_f64()
    );

    // A failing build: the compiler's errors are shown and the running version carries on.
    let good = std::fs::read_to_string(&main_rs).unwrap();
    std::fs::write(&main_rs, format!("{good}\nfn broken( {{\n")).unwrap();
    dev.wait_for_within("unclosed delimiter", REBUILD);
    dev.wait_for("the running version carries on");
    dev.wait_for("motion: light on (v2)");

    // The fix builds again.
    std::fs::write(&main_rs, &good).unwrap();
    dev.wait_for_within("hassette dev: built in", REBUILD);
    dev.wait_for("new version started");

    // A config-only change: a restart without a build, with the new setting.
    let marker = dev.seen.len();
    edit(
        &dir.join("hassette.toml"),
        "report_every = \"15s\"",
        "report_every = \"1s\"",
    );
    dev.wait_for("hassette.toml changed: restarting without a build");
    dev.wait_for("new version started");
    dev.wait_for("reports=");
    let after: Vec<&String> = dev.seen[marker..].iter().collect();
    assert!(
        !after
            .iter()
            .any(|l| l.contains("building") || l.contains("built in")),
        "a config-only change built: {after:?}"
    );

    assert_eq!(dev.sigterm(), Some(0));
    assert!(dev.seen.iter().any(|l| l.contains("hassette dev: stopped")));
}
