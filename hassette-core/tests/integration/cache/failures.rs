//! Failures are clear errors and never take the app down.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use hassette_core::cache::{Cache, CacheError, CacheOptions, CacheRegistry};
use hassette_core::clock::Clock;

use super::{LogBuffer, open, spawn_child};

#[test]
fn a_second_process_gets_locked_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let mut child = spawn_child("holder", &dir, "");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // libtest prints "test cache::child_process ... " before the child's own output.
    while !line.trim_end().ends_with("ready") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the holder child stopped"
        );
    }
    let err = Cache::open(CacheOptions::new(&dir, "TestApp")).unwrap_err();
    child.kill().unwrap();
    child.wait().unwrap();
    let CacheError::Locked { path } = &err else {
        panic!("expected Locked, got {err:?}");
    };
    assert!(path.starts_with(&dir));
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.display().to_string()) && msg.contains("another process"),
        "{msg}"
    );
    // Once the holder is gone the cache opens (and the killed holder's files are fine).
    open(&dir).set("k", &1).unwrap();
}

#[test]
fn a_second_open_in_the_same_process_is_locked_too() {
    let tmp = tempfile::tempdir().unwrap();
    let first = open(tmp.path());
    let err = Cache::open(CacheOptions::new(tmp.path(), "TestApp")).unwrap_err();
    assert!(matches!(err, CacheError::Locked { .. }), "{err:?}");
    first.set("still", &"working").unwrap();
}

#[test]
fn an_unusable_path_is_an_io_error_and_the_app_keeps_going() {
    let tmp = tempfile::tempdir().unwrap();
    // A regular file where the class directory must be.
    std::fs::write(tmp.path().join("Blocked"), b"not a directory").unwrap();
    let err = Cache::open(CacheOptions::new(
        tmp.path().join("Blocked/cache"),
        "Blocked",
    ))
    .unwrap_err();
    let CacheError::Io { path, .. } = &err else {
        panic!("expected Io, got {err:?}");
    };
    assert!(path.ends_with("Blocked/cache"), "{path:?}");
    assert!(err.to_string().contains("Blocked/cache"), "{err}");

    let registry = CacheRegistry::new(tmp.path(), Duration::from_secs(1), Clock::system());
    let app = registry.app_cache("Blocked", 1 << 20, "main");
    assert!(matches!(app.set("k", &1), Err(CacheError::Io { .. })));
    assert!(matches!(app.get::<i32>("k"), Err(CacheError::Io { .. })));
    // Fixing the problem lets a later call open it.
    std::fs::remove_file(tmp.path().join("Blocked")).unwrap();
    app.set("k", &1).unwrap();
    assert_eq!(app.get::<i32>("k").unwrap(), Some(1));
}

fn corrupt_then_open(damage: impl FnOnce(&std::path::Path)) {
    let tmp = tempfile::tempdir().unwrap();
    let cache = open(tmp.path());
    for i in 0..2000 {
        cache.set(&format!("k{i}"), &i).unwrap();
    }
    cache.close().unwrap();
    let db = tmp.path().join("cache.redb");
    damage(&db);

    let logs = LogBuffer::default();
    let cache = tracing::subscriber::with_default(logs.subscriber(), || open(tmp.path()));
    cache.set("fresh", &1).unwrap();
    assert_eq!(cache.get::<i32>("fresh").unwrap(), Some(1));
    let aside: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("cache.redb.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let text = logs.text();
    let errors: Vec<_> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(
        errors[0].contains(&db.display().to_string()) && errors[0].contains(&aside[0]),
        "{}",
        errors[0]
    );
    cache.close().unwrap();
    assert_eq!(open(tmp.path()).get::<i32>("fresh").unwrap(), Some(1));
}

#[test]
fn a_file_of_random_bytes_is_moved_aside() {
    corrupt_then_open(|db| {
        let len = std::fs::metadata(db).unwrap().len();
        let noise: Vec<u8> = (0..len).map(|_| fastrand::u8(..)).collect();
        std::fs::write(db, noise).unwrap();
    });
}

#[test]
fn a_truncated_file_is_moved_aside() {
    corrupt_then_open(|db| {
        let file = std::fs::OpenOptions::new().write(true).open(db).unwrap();
        file.set_len(300).unwrap();
    });
}

#[test]
fn a_zero_length_file_is_moved_aside() {
    corrupt_then_open(|db| {
        std::fs::write(db, b"").unwrap();
    });
}

#[test]
fn a_newer_format_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    open(tmp.path()).set("k", &1).unwrap();
    let db_path = tmp.path().join("cache.redb");
    {
        let db = redb::Database::open(&db_path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut info = txn
                .open_table(redb::TableDefinition::<&str, u64>::new("info"))
                .unwrap();
            info.insert("format_version", 99).unwrap();
        }
        txn.commit().unwrap();
    }
    let before = std::fs::read(&db_path).unwrap();
    let err = Cache::open(CacheOptions::new(tmp.path(), "TestApp")).unwrap_err();
    let CacheError::NewerFormat {
        path,
        found,
        supported,
    } = &err
    else {
        panic!("expected NewerFormat, got {err:?}");
    };
    assert_eq!((path, *found, *supported), (&db_path, 99, 2));
    assert!(err.to_string().contains("untouched"), "{err}");
    assert!(
        std::fs::read(&db_path).unwrap() == before,
        "the file was modified"
    );
}

#[test]
fn a_log_from_a_newer_format_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    open(tmp.path()).set("k", &1).unwrap();
    let log = tmp.path().join("wal-0000000000000007.log");
    let mut header = b"HSTWAL\0\0".to_vec();
    header.extend_from_slice(&2u64.to_le_bytes());
    std::fs::write(&log, &header).unwrap();
    let err = Cache::open(CacheOptions::new(tmp.path(), "TestApp")).unwrap_err();
    assert!(
        matches!(&err, CacheError::NewerFormat { path, found: 2, .. } if path == &log),
        "{err:?}"
    );
    assert!(
        std::fs::read(&log).unwrap() == header,
        "the log was modified"
    );
}

#[test]
fn every_operation_is_logged_at_debug() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = LogBuffer::default();
    tracing::subscriber::with_default(logs.subscriber(), || {
        let cache = Cache::open(
            CacheOptions::new(tmp.path(), "LoggedApp")
                .size_limit(1 << 20)
                .flush_interval(Duration::from_secs(3600)),
        )
        .unwrap();
        cache.set("alpha", &"x".repeat(10)).unwrap();
        cache.get::<String>("alpha").unwrap();
        cache.get::<String>("beta").unwrap();
        cache.delete("alpha").unwrap();
        let big = "y".repeat(20_000);
        for i in 0..200 {
            cache.set(&format!("fill{i}"), &big).unwrap();
        }
        cache.flush().unwrap();
        assert!(cache.stats().evictions > 0);
        cache.close().unwrap();
    });
    let text = logs.text();
    let find = |needle: &[&str]| {
        text.lines()
            .find(|l| l.contains("DEBUG") && needle.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no DEBUG line with {needle:?} in:\n{text}"))
            .to_owned()
    };
    find(&[
        "cache set",
        "class=LoggedApp",
        "key=\"alpha\"",
        "size=12",
        "hassette_core::cache",
    ]);
    find(&["cache get", "key=\"alpha\"", "hit=true", "size=12"]);
    find(&["cache get", "key=\"beta\"", "hit=false"]);
    find(&["cache delete", "key=\"alpha\"", "existed=true"]);
    find(&[
        "cache entry evicted",
        "class=LoggedApp",
        "key=\"fill",
        "size=20002",
    ]);
}
