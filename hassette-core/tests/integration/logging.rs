//! The log store: tagging, filtering, rotation, pruning, partial records, secrets, and a store
//! read while another process writes it.

use std::path::Path;
use std::process::{Command, Stdio};

use hassette_core::config::Secret;
use hassette_core::logging::{LogOptions, LogQuery, Matcher, Record, store_layer};
use jiff::{SignedDuration, Timestamp};
use tracing_subscriber::layer::SubscriberExt;

fn query(dir: &Path, edit: impl FnOnce(&mut LogQuery)) -> Vec<Record> {
    let mut q = LogQuery::default();
    edit(&mut q);
    let (matches, _) = Matcher::new(q).unwrap().run(dir).unwrap();
    matches.into_iter().map(|m| m.record).collect()
}

/// Runs `body` with a subscriber that writes only to a store in `dir`, and flushes it.
fn with_store(options: LogOptions, body: impl FnOnce()) {
    let (layer, guard) = store_layer(&options).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, body);
    guard.flush();
}

#[test]
fn records_carry_app_tags_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    with_store(LogOptions::new(logs.clone(), "trace"), || {
        let app = tracing::info_span!(
            "app",
            app = "porch",
            class = "MotionLight",
            instance = "front"
        );
        app.in_scope(|| {
            tracing::info!(entity = "light.porch", brightness = 200, "light on");
            let cache = tracing::debug_span!("cache", component = "cache");
            cache.in_scope(|| tracing::debug!(key = "front:count", hit = true, "cache get"));
        });
        tracing::warn!(target: "hassette_core::ha::session", "connection lost");
    });
    let all = query(&logs, |_| {});
    assert_eq!(all.len(), 3);
    let on = &all[0];
    assert_eq!(
        (
            on.app.as_deref(),
            on.class.as_deref(),
            on.instance.as_deref()
        ),
        (Some("porch"), Some("MotionLight"), Some("front"))
    );
    assert_eq!(on.component.as_deref(), Some("app"));
    assert_eq!(on.level, "INFO");
    assert_eq!(on.msg, "light on");
    assert_eq!(on.fields["entity"], "light.porch");
    assert_eq!(on.fields["brightness"], 200);
    let get = &all[1];
    assert_eq!(get.app.as_deref(), Some("porch"));
    assert_eq!(get.component.as_deref(), Some("cache"));
    assert_eq!(get.fields["hit"], true);
    let lost = &all[2];
    assert_eq!(lost.app, None);
    assert_eq!(lost.component.as_deref(), Some("ha"));
}

/// Writes records with chosen times straight into a store file, as the writer would.
/// The file's modification time is set to its last record's, as if written then.
fn write_records(dir: &Path, name_ts: Timestamp, records: &[serde_json::Value]) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!(
        "hassette-{}.jsonl",
        name_ts.strftime("%Y%m%dT%H%M%S.%3fZ")
    ));
    let mut text = String::new();
    for r in records {
        text.push_str(&r.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    let last: Timestamp = records
        .last()
        .map_or(name_ts, |r| r["ts"].as_str().unwrap().parse().unwrap());
    let file = std::fs::File::options().append(true).open(&path).unwrap();
    file.set_modified(std::time::SystemTime::from(last))
        .unwrap();
}

fn rec(ts: Timestamp, level: &str, app: &str, instance: &str, msg: &str) -> serde_json::Value {
    serde_json::json!({"ts": ts, "level": level, "target": "apps", "app": app, "instance": instance, "msg": msg})
}

#[test]
fn filters_by_app_instance_level_time_grep_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let t0: Timestamp = "2026-11-20T10:00:00Z".parse().unwrap();
    let at = |mins: i64| t0.checked_add(SignedDuration::from_mins(mins)).unwrap();
    write_records(
        dir.path(),
        t0,
        &[
            rec(at(0), "INFO", "porch", "front", "motion on"),
            rec(at(1), "DEBUG", "porch", "back", "cache get"),
            rec(at(2), "WARN", "garage", "g", "door open"),
            rec(at(30), "ERROR", "porch", "front", "service failed"),
        ],
    );
    write_records(
        dir.path(),
        at(60),
        &[
            rec(at(61), "INFO", "porch", "front", "motion off"),
            rec(at(62), "INFO", "porch", "front", "motion on"),
        ],
    );
    let msgs = |q: &dyn Fn(&mut LogQuery)| -> Vec<String> {
        query(dir.path(), |x| q(x))
            .into_iter()
            .map(|r| r.msg)
            .collect()
    };
    assert_eq!(msgs(&|q| q.app = Some("porch".into())).len(), 5);
    assert_eq!(msgs(&|q| q.instance = Some("back".into())), ["cache get"]);
    assert_eq!(
        msgs(&|q| q.min_level = Some("warn".into())),
        ["door open", "service failed"]
    );
    assert_eq!(
        msgs(&|q| q.since = Some(at(30))),
        ["service failed", "motion off", "motion on"]
    );
    assert_eq!(
        msgs(&|q| {
            q.since = Some(at(1));
            q.until = Some(at(30))
        }),
        ["cache get", "door open"]
    );
    assert_eq!(
        msgs(&|q| q.grep = Some(regex::Regex::new("^motion o(n|ff)$").unwrap())),
        ["motion on", "motion off", "motion on"]
    );
    assert_eq!(
        msgs(&|q| {
            q.app = Some("porch".into());
            q.limit = Some(2)
        }),
        ["motion off", "motion on"]
    );
    assert!(
        Matcher::new({
            let mut q = LogQuery::default();
            q.min_level = Some("loud".into());
            q
        })
        .is_err()
    );
}

#[test]
fn a_recent_window_reads_only_recent_files() {
    let dir = tempfile::tempdir().unwrap();
    let old: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
    write_records(
        dir.path(),
        old,
        &[rec(old, "INFO", "porch", "front", "old")],
    );
    // An unopenable file (a symlink to itself) in the old file's place proves the query never
    // opens it.
    let old_file = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&old_file).unwrap();
    std::os::unix::fs::symlink(&old_file, &old_file).unwrap();
    let new: Timestamp = "2026-11-02T00:00:00Z".parse().unwrap();
    write_records(
        dir.path(),
        new,
        &[rec(new, "INFO", "porch", "front", "new")],
    );
    let mut q = LogQuery::default();
    q.since = Some(new);
    let windowed = Matcher::new(q).unwrap();
    let (got, _) = windowed.run(dir.path()).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].record.msg, "new");
    assert!(windowed.take_warnings().is_empty());
    // Without the window the old file is tried: skipped, with a warning naming it.
    let all = Matcher::new(LogQuery::default()).unwrap();
    let (got, _) = all.run(dir.path()).unwrap();
    assert_eq!(got.len(), 1);
    let warnings = all.take_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(&format!("skipped {}: ", old_file.display())),
        "{warnings:?}"
    );
}

#[test]
fn a_partial_last_record_is_skipped_and_the_next_write_starts_a_new_line() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    with_store(LogOptions::new(logs.clone(), "info"), || {
        tracing::info!("first")
    });
    let file = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // A crash in the middle of a record.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"ts\":\"2026-11-21T10:00:00Z\",\"level\":\"IN");
    std::fs::write(&file, &text).unwrap();
    assert_eq!(query(&logs, |_| {}).len(), 1);
    // The restarted writer continues the file on a fresh line.
    with_store(LogOptions::new(logs.clone(), "info"), || {
        tracing::info!("second")
    });
    let msgs: Vec<String> = query(&logs, |_| {}).into_iter().map(|r| r.msg).collect();
    assert_eq!(msgs, ["first", "second"]);
}

#[test]
fn files_rotate_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let mut options = LogOptions::new(logs.clone(), "info");
    options.max_file_bytes = 4096;
    with_store(options, || {
        for i in 0..200 {
            tracing::info!(i, "record number {i}");
        }
    });
    let files = std::fs::read_dir(&logs).unwrap().count();
    assert!(files >= 5, "{files} files");
    let all = query(&logs, |_| {});
    assert_eq!(all.len(), 200);
    assert!(
        all.windows(2)
            .all(|w| w[0].fields["i"].as_u64() < w[1].fields["i"].as_u64())
    );
}

#[test]
fn old_files_and_oversize_stores_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let now = Timestamp::now();
    let days_ago = |d: i64| now.checked_sub(SignedDuration::from_hours(24 * d)).unwrap();
    write_records(
        &logs,
        days_ago(10),
        &[rec(days_ago(10), "INFO", "a", "i", "ten days")],
    );
    write_records(
        &logs,
        days_ago(9),
        &[rec(days_ago(9), "INFO", "a", "i", "nine days")],
    );
    write_records(
        &logs,
        days_ago(2),
        &[rec(days_ago(2), "INFO", "a", "i", "two days")],
    );
    with_store(LogOptions::new(logs.clone(), "info"), || {
        tracing::info!("now")
    });
    let msgs: Vec<String> = query(&logs, |_| {}).into_iter().map(|r| r.msg).collect();
    assert_eq!(msgs, ["two days", "now"]);

    // Size cap: many files, a cap of a few of them; the newest survive.
    let capped = dir.path().join("capped");
    let mut options = LogOptions::new(capped.clone(), "info");
    options.max_file_bytes = 2048;
    options.max_total_bytes = 8192;
    with_store(options, || {
        for i in 0..300 {
            tracing::info!(i, "record {i} with some padding to fill the files faster");
        }
    });
    let total: u64 = std::fs::read_dir(&capped)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(total <= 8192 + 2048 + 512, "{total} bytes");
    let all = query(&capped, |_| {});
    if all.last().unwrap().fields["i"] != 299 {
        for e in std::fs::read_dir(&capped).unwrap() {
            let p = e.unwrap().path();
            let t = std::fs::read_to_string(&p).unwrap();
            eprintln!(
                "{} {} first={:?} last={:?}",
                p.display(),
                t.len(),
                t.lines().next().map(|l| &l[..60]),
                t.lines().last().map(|l| &l[..60])
            );
        }
    }
    assert_eq!(all.last().unwrap().fields["i"], 299);
    assert!(all.len() < 300);
}

#[test]
fn the_token_never_reaches_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let token = "eyJhbGciOiJIUzI1NiJ9.secret-part";
    let mut options = LogOptions::new(logs.clone(), "trace");
    options.secret = Some(Secret::new(token));
    with_store(options, || {
        tracing::debug!(frame = %format!("{{\"type\":\"auth\",\"access_token\":\"{token}\"}}"), "sent");
        tracing::error!("connect failed for token {token}");
    });
    for entry in std::fs::read_dir(&logs).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(token), "{text}");
        assert!(text.contains("***"));
    }
}

const CHILD_ENV: &str = "HASSETTE_TEST_LOG_WRITER_DIR";

/// Run as a child process: writes numbered records until killed.
#[test]
fn log_writer_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mut options = LogOptions::new(dir.into(), "info");
    options.max_file_bytes = 64 * 1024;
    let (layer, _guard) = store_layer(&options).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0u64.. {
            let span = tracing::info_span!("app", app = "writer", instance = "w");
            span.in_scope(|| tracing::info!(i, "tick"));
            if i % 100 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    });
}

#[test]
fn a_store_is_readable_while_another_process_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "logging::log_writer_child", "--nocapture"])
        .env(CHILD_ENV, &logs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut last_seen = 0usize;
    let mut rounds_with_growth = 0;
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let Ok((matches, _)) = Matcher::new(LogQuery::default()).unwrap().run(&logs) else {
            continue;
        };
        // Every record read is whole and in order: no torn reads.
        for (n, m) in matches.iter().enumerate() {
            assert_eq!(m.record.fields["i"].as_u64(), Some(n as u64));
        }
        if matches.len() > last_seen {
            rounds_with_growth += 1;
        }
        last_seen = matches.len();
        if rounds_with_growth >= 5 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        rounds_with_growth >= 5,
        "the reader saw the store grow only {rounds_with_growth} times"
    );
}
