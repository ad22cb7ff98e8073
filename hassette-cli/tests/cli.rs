//! The real `hassette` binary, run in temp dirs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hassette(dir: &Path, args: &[&str]) -> Output {
    hassette_env(dir, args, &[])
}

fn hassette_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hassette"));
    cmd.args(args).current_dir(dir);
    // Keep the developer's own settings out of the tests.
    for (key, _) in std::env::vars() {
        if key.starts_with("HASSETTE__") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("the hassette binary runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hassette.toml.example")
}

#[test]
fn help_has_examples_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = hassette(dir.path(), &["--help"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    for word in [
        "run",
        "log",
        "check",
        "apps",
        "completions",
        "Examples:",
        "--demo",
    ] {
        assert!(stdout.contains(word), "{word} missing from:\n{stdout}");
    }
    let out = hassette(dir.path(), &["log", "--help"]);
    assert!(text(&out).0.contains("--since <WHEN>"));
}

#[test]
fn version_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = hassette(dir.path(), &["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out).0.trim(),
        format!("hassette {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(hassette(dir.path(), &["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        hassette(dir.path(), &["check", "--bogus"]).status.code(),
        Some(2)
    );
    assert_eq!(hassette(dir.path(), &[]).status.code(), Some(2));
}

#[test]
fn check_passes_on_the_example_and_prints_the_instance_table() {
    let dir = tempfile::tempdir().unwrap();
    let example = example();
    let out = hassette(dir.path(), &["check", "-c", example.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("APP "), "{stdout}");
    let counter_rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("counters "))
        .collect();
    assert_eq!(counter_rows.len(), 2, "{stdout}");
    assert!(counter_rows[0].contains("Counter") && counter_rows[0].contains("porch_motion"));
    assert!(counter_rows[0].contains("yes"));
    assert!(
        counter_rows[0].ends_with("hassette-data/Counter/cache"),
        "{}",
        counter_rows[0]
    );
    assert!(stdout.contains("ws://homeassistant.local:8123/api/websocket"));
    assert!(
        stdout.contains("ok: 6 apps (6 enabled), 7 instances"),
        "{stdout}"
    );
}

#[test]
fn check_finds_hassette_toml_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hassette.toml"), "[hassette]\n").unwrap();
    let out = hassette(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).0.contains("no apps are configured"));
    let empty = tempfile::tempdir().unwrap();
    let out = hassette(empty.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.starts_with("error: no hassette.toml found"));
}

#[test]
fn check_reports_broken_files_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[hassette\n", "hassette.toml:1:10: TOML syntax error"),
        (
            "[hassette]\nbase_ur = \"x\"\n",
            "hassette.toml:2:1: unknown key `hassette.base_ur` (did you mean `base_url`?)",
        ),
        (
            "[hassette.apps.p]\nclass_name = \"MotionLite\"\n",
            "unknown class_name `MotionLite` (did you mean `MotionLight`?); registered app classes: Counter, DailyReport, DoorWatcher, MotionLight, Notifier, WeatherSummary",
        ),
        (
            "[hassette.apps.p]\nclass_name = \"MotionLight\"\n[hassette.apps.p.config]\nsensor = \"binary_sensor.x\"\nlihgt = \"light.x\"\n",
            "app `p` instance `MotionLight.0` (MotionLight): missing field `light`",
        ),
        (
            "[hassette.apps.r]\nclass_name = \"DailyReport\"\nconfig = { at = \"25:99\" }\n",
            "app `r` instance `DailyReport.0` (DailyReport): field `at`: ",
        ),
    ];
    for (toml, expected) in cases {
        std::fs::write(dir.path().join("hassette.toml"), toml).unwrap();
        let out = hassette(dir.path(), &["check"]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{toml}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn check_never_prints_the_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hassette.toml"), "[hassette]\n").unwrap();
    let secret = "eyJ-very-secret-token-98765";
    let out = hassette_env(dir.path(), &["check"], &[("HASSETTE__TOKEN", secret)]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("token:        *** (set)"), "{stdout}");
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
}

#[test]
fn run_validates_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hassette.toml"), "[hassette]\n").unwrap();
    let out = hassette(dir.path(), &["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no access token"));
    let example = example();
    let out = hassette(
        dir.path(),
        &[
            "run",
            "--demo",
            "--app",
            "nope",
            "-c",
            example.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("--app nope: no such app"));
}

#[test]
fn apps_lists_the_registered_classes() {
    let dir = tempfile::tempdir().unwrap();
    let out = hassette(dir.path(), &["apps"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    for class in [
        "MotionLight",
        "Counter",
        "Notifier",
        "WeatherSummary",
        "DailyReport",
        "DoorWatcher",
    ] {
        assert!(stdout.contains(class), "{class} missing:\n{stdout}");
    }
}

#[test]
fn completions_print_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let out = hassette(dir.path(), &["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).0.contains("_hassette()"));
}
