//! Generated damage never panics: garbled pages anywhere in `cache.redb`, flipped bytes,
//! garbled runs and truncation anywhere in the write log. Every case ends in a cache that
//! opens and answers; damage that is found is quarantined beside the file with one ERROR
//! naming the file; every intact log record (also after a bad one) is replayed; nothing read
//! back is garbage.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hassette_core::cache::{Cache, CacheOptions};

use super::LogBuffer;

const ENTRIES: usize = 1500;

fn value(i: usize) -> String {
    format!("value-{i}-{}", "x".repeat(i % 300))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn quarantined(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(&format!("{name}.corrupt-")))
        .collect()
}

/// Opens the damaged cache in `dir`, reads every key, and checks what the issue promises.
/// Returns whether the damage was found (and quarantined).
fn open_damaged(dir: &Path, file: &str, must_have: impl Fn(usize) -> bool) -> bool {
    let logs = LogBuffer::default();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tracing::subscriber::with_default(logs.subscriber(), || {
            let cache = Cache::open(
                CacheOptions::new(dir, "TestApp").flush_interval(Duration::from_secs(3600)),
            )
            .expect("a damaged cache still opens");
            let mut missing = Vec::new();
            for i in 0..ENTRIES {
                match cache.get::<String>(&format!("k{i:05}")) {
                    Ok(Some(v)) => assert_eq!(v, value(i), "garbage read back for k{i}"),
                    Ok(None) | Err(_) => missing.push(i),
                }
            }
            cache.set("after", &1).expect("the cache answers writes");
            assert_eq!(cache.get::<i32>("after").unwrap(), Some(1));
            cache.close().unwrap();
            missing
        })
    }));
    let Ok(missing) = result else {
        panic!(
            "a cache call panicked on damage in {file}:\n{}",
            logs.text()
        );
    };
    let aside = quarantined(dir, file);
    let text = logs.text();
    let errors: Vec<_> = text.lines().filter(|l| l.contains("ERROR")).collect();
    if aside.is_empty() {
        assert!(errors.is_empty(), "ERROR without a quarantine: {errors:?}");
    } else {
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(errors.len(), 1, "one ERROR expected:\n{text}");
        assert!(
            errors[0].contains(file) && errors[0].contains(&aside[0]),
            "{}",
            errors[0]
        );
    }
    let lost: Vec<_> = missing.iter().copied().filter(|&i| must_have(i)).collect();
    assert!(
        lost.is_empty(),
        "intact entries lost: {:?}",
        &lost[..lost.len().min(10)]
    );
    !aside.is_empty()
}

#[test]
fn garbled_pages_in_the_database_never_panic() {
    let base = tempfile::tempdir().unwrap();
    let cache = super::open(base.path());
    for i in 0..ENTRIES {
        cache.set(&format!("k{i:05}"), &value(i)).unwrap();
    }
    cache.close().unwrap();
    let db_len = std::fs::metadata(base.path().join("cache.redb"))
        .unwrap()
        .len();
    let mut found = 0;
    for case in 0..100u64 {
        let mut rng = fastrand::Rng::with_seed(case);
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(base.path(), tmp.path());
        let db = tmp.path().join("cache.redb");
        let mut bytes = std::fs::read(&db).unwrap();
        let at = usize::try_from(rng.u64(..db_len)).unwrap() & !4095;
        let end = (at + 4096).min(bytes.len());
        for b in &mut bytes[at..end] {
            *b = rng.u8(..);
        }
        std::fs::write(&db, &bytes).unwrap();
        // Entries may be lost with their page; none may read back as garbage.
        if open_damaged(tmp.path(), "cache.redb", |_| false) {
            found += 1;
        }
    }
    // Most pages of a full file are in use: most cases must have been detected.
    assert!(
        found >= 30,
        "only {found} of 100 garbled pages were detected"
    );
}

/// A write log with one record per key, left as a killed process leaves it.
fn base_log() -> (tempfile::TempDir, PathBuf, Vec<(usize, usize)>) {
    let src = tempfile::tempdir().unwrap();
    let cache = Cache::open(
        CacheOptions::new(src.path(), "TestApp").flush_interval(Duration::from_secs(3600)),
    )
    .unwrap();
    for i in 0..ENTRIES {
        cache.set(&format!("k{i:05}"), &value(i)).unwrap();
    }
    let log = std::fs::read_dir(src.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let copy = out.path().join(log.file_name().unwrap());
    std::fs::copy(&log, &copy).unwrap();
    cache.close().unwrap();
    // Record boundaries: [len u32][checksum u64][payload], after a 16-byte header.
    let bytes = std::fs::read(&copy).unwrap();
    let mut records = Vec::new();
    let mut at = 16;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        records.push((at, at + 12 + len));
        at += 12 + len;
    }
    assert_eq!(records.len(), ENTRIES);
    (out, copy, records)
}

fn damage_log(
    case: u64,
    log: &Path,
    records: &[(usize, usize)],
    damage: impl Fn(&mut fastrand::Rng, &mut Vec<u8>) -> (usize, usize),
) -> bool {
    let mut rng = fastrand::Rng::with_seed(case);
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(log).unwrap();
    let (from, to) = damage(&mut rng, &mut bytes);
    let name = log.file_name().unwrap().to_str().unwrap().to_owned();
    std::fs::write(tmp.path().join(&name), &bytes).unwrap();
    open_damaged(tmp.path(), &name, |i| {
        let (start, end) = records[i];
        end <= from || start >= to
    })
}

#[test]
fn flipped_bytes_garbled_runs_and_truncation_in_the_log_never_panic() {
    let (_keep, log, records) = base_log();
    let len = std::fs::metadata(&log).unwrap().len() as usize;
    let mut cases = 0;
    for case in 0..60u64 {
        // One flipped byte anywhere after the header (a header claiming a newer format is
        // refused on purpose, see `failures`).
        assert!(damage_log(case, &log, &records, |rng, bytes| {
            let at = rng.usize(16..len);
            bytes[at] ^= 1 << rng.u8(0..8);
            (at, at + 1)
        }));
        cases += 1;
    }
    for case in 0..30u64 {
        assert!(damage_log(1000 + case, &log, &records, |rng, bytes| {
            let at = rng.usize(16..len - 64);
            let run = rng.usize(1..64);
            for b in &mut bytes[at..at + run] {
                *b = !*b;
            }
            (at, at + run)
        }));
        cases += 1;
    }
    for case in 0..40u64 {
        let found = damage_log(2000 + case, &log, &records, |rng, bytes| {
            let at = rng.usize(16..len);
            bytes.truncate(at);
            (at, usize::MAX)
        });
        // Cut exactly at a record boundary, nothing is damaged: nothing to report.
        let _ = found;
        cases += 1;
    }
    assert!(cases >= 130);
}

/// Damage that redb's own checks cannot see (a heap blob missing from a consistent file) is
/// found when compaction moves the value: the entry is dropped from the file and from memory
/// alike, so `contains`, `get`, `len` and the listings agree, now and after a reopen.
#[test]
fn an_entry_compaction_finds_unreadable_is_gone_from_memory_too() {
    const HEAP: redb::TableDefinition<'_, u64, &[u8]> = redb::TableDefinition::new("heap");
    let tmp = tempfile::tempdir().unwrap();
    let open = || {
        Cache::open(
            CacheOptions::new(tmp.path(), "TestApp").flush_interval(Duration::from_secs(3600)),
        )
        .unwrap()
    };
    // Values of 100 bytes as stored, about 40 to a heap blob: k00000 begins blob 0.
    let value = "v".repeat(98);
    let cache = open();
    for i in 0..3000 {
        cache.set(&format!("k{i:05}"), &value).unwrap();
    }
    cache.close().unwrap();
    {
        let db = redb::Database::create(tmp.path().join("cache.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut heap = txn.open_table(HEAP).unwrap();
            assert!(heap.remove(0).unwrap().is_some());
        }
        txn.commit().unwrap();
    }
    let cache = open();
    // k00000 stays alone in blob 0 (the emptiest blob); half the rest dies, enough dead bytes
    // for a compaction pass.
    let deleted = |i: usize| (1..=40).contains(&i) || i.is_multiple_of(2) && i > 0;
    for i in (0..3000).filter(|&i| deleted(i)) {
        assert!(cache.delete(&format!("k{i:05}")).unwrap());
    }
    let kept = (0..3000).filter(|&i| !deleted(i)).count() - 1;
    cache.flush().unwrap();
    assert!(cache.stats().flushes > 0);
    let check = |cache: &Cache| {
        assert!(!cache.contains("k00000").unwrap());
        assert_eq!(cache.get::<String>("k00000").unwrap(), None);
        assert_eq!(cache.len().unwrap(), kept);
        assert_eq!(cache.keys_with_prefix("k").unwrap().len(), kept);
        assert_eq!(cache.get::<String>("k00041").unwrap(), Some(value.clone()));
    };
    check(&cache);
    cache.close().unwrap();
    check(&open());
}
