//! The real `hassette` binary, run in temp dirs.

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
    // The default data_dir goes under the test's directory, never the developer's home.
    cmd.env("XDG_DATA_HOME", dir.join("xdg-data"));
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
    assert!(counter_rows[0].contains("Counter") && counter_rows[0].contains("hallway_motion"));
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
            "hassette.toml:5:1: app `p` instance `MotionLight.0` (MotionLight): unknown key `lihgt` (did you mean `light`?)",
        ),
        (
            "[hassette.apps.r]\nclass_name = \"DailyReport\"\nconfig = { at = \"25:99\" }\n",
            "app `r` instance `DailyReport.0` (DailyReport): field `at`: ",
        ),
        (
            "[hassette]\nlog_level = INFO\n",
            "hassette.toml:2:13: TOML syntax error: ",
        ),
        (
            "[hassette]\nlog_level = INFO\n",
            "; a string needs quotes: write log_level = \"INFO\"",
        ),
        (
            "[hassette]\nbase_url = \"homeassistant.local:8123\"\n",
            "hassette.toml:2:1: `hassette.base_url`: \"homeassistant.local:8123\" has no scheme; write base_url = \"http://homeassistant.local:8123\" (or \"https://homeassistant.local:8123\" for TLS)",
        ),
        (
            "[hassette.apps.p]\nclass_name = \"Counter\"\nrestart = \"on_failure\"\nconfig = { entity = \"switch.x\" }\n",
            "hassette.toml:3:1: `hassette.apps.p.restart`: \"on_failure\" is not a restart policy; write restart = \"on-failure\" or restart = \"never\" (did you mean \"on-failure\"?)",
        ),
        (
            "[hassette.apps.p]\nclass_name = \"Counter\"\nlog_level = \"verbose\"\nconfig = { entity = \"switch.x\" }\n",
            "hassette.toml:3:1: `hassette.apps.p.log_level`: \"verbose\" is not a log level; use TRACE, DEBUG, INFO, WARN, ERROR or OFF",
        ),
        // Two syntax errors: both are reported, the first one too.
        (
            "[hassette]\nlog_level = INFO\nverify_ssl = yes\n",
            "hassette.toml:2:13: TOML syntax error",
        ),
        (
            "[hassette]\nlog_level = INFO\nverify_ssl = yes\n",
            "hassette.toml:3:14: TOML syntax error",
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

/// A store file with `records` (JSON objects), named for its first record's time.
fn write_store(data_dir: &Path, records: &[serde_json::Value]) {
    let logs = data_dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let first: jiff::Timestamp = records[0]["ts"].as_str().unwrap().parse().unwrap();
    let name = format!("hassette-{}.jsonl", first.strftime("%Y%m%dT%H%M%S.%3fZ"));
    let mut text = String::new();
    for r in records {
        text.push_str(&r.to_string());
        text.push('\n');
    }
    std::fs::write(logs.join(name), text).unwrap();
}

fn ago(mins: i64) -> String {
    jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_mins(mins))
        .unwrap()
        .to_string()
}

fn record(mins_ago: i64, level: &str, app: &str, instance: &str, msg: &str) -> serde_json::Value {
    serde_json::json!({"ts": ago(mins_ago), "level": level, "target": "apps_example", "app": app,
        "class": "MotionLight", "instance": instance, "component": "app", "msg": msg,
        "fields": {"entity": "light.porch"}})
}

#[test]
fn log_without_a_store_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = hassette(dir.path(), &["log", "--data-dir", "data"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out).0.starts_with("no log store at "),
        "{}",
        text(&out).0
    );
}

#[test]
fn log_rejects_a_bad_since_with_the_accepted_forms() {
    let dir = tempfile::tempdir().unwrap();
    let out = hassette(
        dir.path(),
        &["log", "--data-dir", "d", "--since", "yesterday"],
    );
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("--since: \"yesterday\" is not a time; use a duration back from now (30s, 15m, 1h, 7d, 2w)"), "{stderr}");
}

#[test]
fn log_filters_the_store() {
    let dir = tempfile::tempdir().unwrap();
    write_store(
        dir.path(),
        &[
            record(180, "INFO", "porch", "front", "three hours ago"),
            record(50, "DEBUG", "porch", "front", "cache get front:count"),
            record(40, "INFO", "garage", "g", "door open"),
            record(30, "ERROR", "porch", "back", "service call failed"),
            record(1, "INFO", "porch", "front", "light on"),
        ],
    );
    let run = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["log", "--data-dir", "."];
        all.extend_from_slice(args);
        let out = hassette(dir.path(), &all);
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        text(&out).0.lines().map(str::to_owned).collect()
    };
    let lines = run(&["--app", "porch", "--since", "1h"]);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].contains(" DEBUG porch/front: cache get front:count entity=light.porch"),
        "{}",
        lines[0]
    );
    assert_eq!(run(&["--instance", "back"]).len(), 1);
    assert_eq!(run(&["--level", "error"]).len(), 1);
    assert_eq!(run(&["--grep", "door|light on"]).len(), 2);
    // The fields too, as printed (`entity=light.porch`); -i ignores case.
    assert_eq!(run(&["--grep", "entity=light.porch"]).len(), 5);
    assert_eq!(run(&["--grep", "LIGHT ON"]).len(), 0);
    assert_eq!(run(&["--grep", "LIGHT ON", "-i"]).len(), 1);
    assert_eq!(run(&["--grep", "front:count"]).len(), 1);
    assert_eq!(run(&["--until", "2h"]).len(), 1);
    let last = run(&["--app", "porch", "--limit", "1"]);
    assert_eq!(last.len(), 1);
    assert!(last[0].ends_with("light on entity=light.porch"));
    for line in run(&["--json"]) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v["ts"].is_string() && v["msg"].is_string());
    }
}

#[test]
fn log_follow_prints_records_written_later() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    write_store(dir.path(), &[record(5, "INFO", "porch", "front", "before")]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hassette"))
        .args([
            "log",
            "--data-dir",
            ".",
            "--follow",
            "--since",
            "1h",
            "--app",
            "porch",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .ends_with("before entity=light.porch")
    );
    // Appended to the same file, then a new file.
    let file = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(
        &mut f,
        format!("{}\n", record(0, "INFO", "garage", "g", "other app")).as_bytes(),
    )
    .unwrap();
    std::io::Write::write_all(
        &mut f,
        format!("{}\n", record(0, "INFO", "porch", "front", "after")).as_bytes(),
    )
    .unwrap();
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .ends_with("after entity=light.porch")
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::io::Read;
    let example = example();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hassette"))
        .args(["check", "-c", example.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end at once, like `hassette check | head -0`.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(0));
}

/// A directory nothing can be written in: a read-only tmpfs as root (where permissions do not
/// stop writes), a mode 0555 directory otherwise. `None` (the test says SKIPPED) when root
/// cannot mount.
struct ReadOnlyDir {
    path: PathBuf,
    mounted: bool,
    _dir: tempfile::TempDir,
}

impl ReadOnlyDir {
    fn new() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro");
        std::fs::create_dir(&path).unwrap();
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        if root {
            let mounted = Command::new("mount")
                .args(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs"])
                .arg(&path)
                .status()
                .is_ok_and(|s| s.success());
            if !mounted {
                eprintln!("SKIPPED: cannot mount a read-only tmpfs");
                return None;
            }
            return Some(Self {
                path,
                mounted,
                _dir: dir,
            });
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).unwrap();
        Some(Self {
            path,
            mounted: false,
            _dir: dir,
        })
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.path).status();
        }
    }
}

#[test]
fn an_unusable_data_dir_is_reported_by_check_and_run_before_connecting() {
    let Some(ro) = ReadOnlyDir::new() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regular-file");
    std::fs::write(&file, "").unwrap();
    let cases = [
        // Missing, and cannot be created: a directory inside a read-only one.
        (ro.path.join("data"), "cannot create it: "),
        // Exists, and cannot be written.
        (ro.path.clone(), "cannot write to it: "),
        // A regular file is in the way.
        (file.join("data"), "cannot create it: "),
    ];
    for (data_dir, action) in cases {
        std::fs::write(
            dir.path().join("hassette.toml"),
            format!(
                "[hassette]\n# a port nothing listens on: nothing may connect\nbase_url = \"http://127.0.0.1:9\"\ndata_dir = \"{}\"\n",
                data_dir.display()
            ),
        )
        .unwrap();
        let reason = std::fs::create_dir_all(&data_dir)
            .and_then(|()| std::fs::write(data_dir.join("x"), ""))
            .unwrap_err()
            .to_string();
        for command in ["check", "run"] {
            let out = hassette_env(dir.path(), &[command], &[("HASSETTE__TOKEN", "t")]);
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(2), "{command}: {stdout}{stderr}");
            let expected = format!(
                "error: data_dir {} (set at {}:4:1) cannot be used: {action}{reason}",
                data_dir.display(),
                dir.path().join("hassette.toml").display()
            );
            assert_eq!(stderr.trim_end(), expected, "{command}");
            assert!(!stdout.contains("connect"), "{command}: {stdout}");
        }
    }
}

#[test]
fn the_default_data_dir_is_printed_by_check_and_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let default = dir.path().join("xdg-data/hassette");
    let out = hassette(dir.path(), &["check", "-c", example().to_str().unwrap()]);
    // The example sets data_dir; a file without one gets the default, said as such.
    assert!(!text(&out).0.contains("(the default"), "{}", text(&out).0);
    std::fs::write(dir.path().join("hassette.toml"), "[hassette]\n").unwrap();
    let out = hassette(dir.path(), &["check"]);
    let said = format!(
        "{} (the default; set data_dir in [hassette] to choose another)",
        default.display()
    );
    assert!(text(&out).0.contains(&said), "{}", text(&out).0);
    assert!(default.is_dir(), "check creates the data_dir");
    // `hassette run` says it first thing, before it connects (nothing listens here).
    std::fs::write(
        dir.path().join("hassette.toml"),
        "[hassette]\nbase_url = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hassette"))
        .arg("run")
        .env("HASSETTE__TOKEN", "t")
        .current_dir(dir.path())
        .env("XDG_DATA_HOME", dir.path().join("xdg-data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(first.trim_end(), format!("hassette: data dir {said}"));
}

#[test]
fn an_os_cause_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hassette.toml"),
        "[hassette]\ntoken_file = \"no-such-token\"\n",
    )
    .unwrap();
    let out = hassette(dir.path(), &["check"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let os = std::fs::read("/nonexistent/x").unwrap_err().to_string();
    assert!(stderr.contains(&os), "{stderr}");
    assert_eq!(stderr.matches(&os).count(), 1, "{stderr}");
}

#[test]
fn log_follow_alone_starts_at_the_end() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    write_store(
        dir.path(),
        &[record(5, "INFO", "porch", "front", "history")],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_hassette"))
        .args(["log", "--data-dir", ".", "--follow"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    stderr.read_line(&mut said).unwrap();
    assert!(said.starts_with("following "), "{said}");
    let file = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(
        &mut f,
        format!("{}\n", record(0, "INFO", "porch", "front", "new")).as_bytes(),
    )
    .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.ends_with("new entity=light.porch"), "{first}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn log_with_an_unknown_app_lists_the_configured_ones() {
    let dir = tempfile::tempdir().unwrap();
    let example = example();
    let out = hassette(
        dir.path(),
        &[
            "log",
            "-c",
            example.to_str().unwrap(),
            "--app",
            "hallway_lihgt",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--app hallway_lihgt: no such app in "),
        "{stderr}"
    );
    assert!(stderr.contains("configured apps: "), "{stderr}");
    assert!(stderr.contains("hallway_light"), "{stderr}");
}

#[test]
fn log_skips_a_bad_file_a_directory_and_an_overlong_line_with_a_warning_each() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(2 * 1024 * 1024);
    write_store(
        dir.path(),
        &[
            record(30, "INFO", "porch", "front", "before the long line"),
            record(29, "INFO", "porch", "front", &huge),
            record(28, "INFO", "porch", "front", "after the long line"),
        ],
    );
    let logs = dir.path().join("logs");
    // A later store file that cannot be opened (a symlink to itself), and a directory, one
    // named like a store file and one not.
    let looped = logs.join("hassette-20990101T000000.000Z.jsonl");
    assert!(looped.starts_with(dir.path()));
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    std::fs::create_dir(logs.join("hassette-20980101T000000.000Z.jsonl")).unwrap();
    std::fs::create_dir(logs.join("stray")).unwrap();
    let out = hassette(dir.path(), &["log", "--data-dir", "."]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout:.300}");
    assert!(lines[0].contains("before the long line"));
    assert!(lines[1].contains("after the long line"));
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), 4, "{stderr}");
    assert!(
        stderr.contains("warning: skipped ./logs/hassette-20990101T000000.000Z.jsonl: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: skipped ./logs/stray: a directory"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: skipped ./logs/hassette-20980101T000000.000Z.jsonl: a directory"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: skipped a line of 2097"),
        "{stderr}"
    );
    assert!(stderr.contains("(more than 1048576)"), "{stderr}");
}
