//! SIGKILL at random moments of every kind of write: deletes, `clear`, `incr`, TTL writes,
//! batches, eviction and compaction, and while writers wait at the log cap. After each kill
//! everything acknowledged is there and nothing deleted comes back.

use std::time::Duration;

use super::workload::Run;

fn kill_during(mode: &str, rounds: u64, ready: impl Fn(&super::workload::Model) -> bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    for round in 0..rounds {
        let mut run = Run::start(&dir, mode, None);
        run.until("the workload to get going", &ready);
        // A random moment within the next stretch of work.
        let more = run.model.acks + 20 + fastrand::u64(0..400);
        run.until("more acknowledgements", |m| m.acks >= more);
        let model = run.kill();
        model.check(&dir, matches!(mode, "evict" | "logcap"));
        let _ = round;
        // The next round's child writes the same keys again on top of what is there.
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn sigkill_during_deletes_clears_incr_ttl_writes_and_batches() {
    kill_during("mixed", 8, |m| m.acks >= 400 + fastrand::u64(0..300));
}

#[test]
fn sigkill_during_eviction_and_compaction() {
    kill_during("evict", 5, |m| m.stats.0 > 0 && m.stats.1 > 0);
}

#[test]
fn sigkill_while_writers_wait_at_the_log_cap() {
    kill_during("logcap", 5, |m| m.stats.2 > 0);
}

#[test]
fn close_moves_everything_into_the_database_itself() {
    // Checked on the database file, not through the cache (whose log replay would hide a
    // close that flushed nothing).
    let tmp = tempfile::tempdir().unwrap();
    let cache = hassette_core::cache::Cache::open(
        hassette_core::cache::CacheOptions::new(tmp.path(), "TestApp")
            .flush_interval(Duration::from_secs(3600)),
    )
    .unwrap();
    for i in 0..100 {
        cache.set(&format!("k{i}"), &i).unwrap();
    }
    assert!(cache.delete("k7").unwrap());
    cache.close().unwrap();
    let logs: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".log"))
        .collect();
    assert!(logs.is_empty(), "log files left after close: {logs:?}");
    let db = redb::Database::open(tmp.path().join("cache.redb")).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    // Format 2: `meta` holds each entry's metadata and where its value starts in the heap (a
    // tag byte, then created, expires, size, tick and position as LEB128 varints); the heap
    // is a stream cut into 4064-byte blobs.
    let meta = txn
        .open_table(redb::TableDefinition::<&str, &[u8]>::new("meta"))
        .unwrap();
    let varints = |bytes: &[u8]| -> Vec<u64> {
        assert_eq!(bytes[0], 2, "not a format 2 meta value");
        let (mut out, mut v, mut shift) = (Vec::new(), 0u64, 0);
        for &b in &bytes[1..] {
            v |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                out.push(v);
                (v, shift) = (0, 0);
            }
        }
        out
    };
    let heap = txn
        .open_table(redb::TableDefinition::<u64, &[u8]>::new("heap"))
        .unwrap();
    let mut stream = Vec::new();
    for (n, item) in redb::ReadableTable::iter(&heap).unwrap().enumerate() {
        let (blob, bytes) = item.unwrap();
        assert_eq!(
            blob.value(),
            n as u64,
            "the heap's blobs are not consecutive"
        );
        stream.extend_from_slice(bytes.value());
    }
    for i in 0..100 {
        let got = meta.get(format!("k{i}").as_str()).unwrap().map(|m| {
            let fields = varints(m.value());
            let (size, pos) = (fields[2] as usize, fields[4] as usize);
            stream[pos..pos + size].to_vec()
        });
        if i == 7 {
            assert!(got.is_none(), "the delete is not in the database");
        } else {
            assert_eq!(
                got,
                Some(i.to_string().into_bytes()),
                "k{i} not in the database"
            );
        }
    }
}
