//! The size limit holds on the directory's real size, with LRU eviction.

use std::time::Duration;

use hassette_core::cache::{Cache, CacheError, CacheOptions};

use super::dir_size;

const LIMIT: u64 = 8 << 20;

fn limited(dir: &std::path::Path) -> Cache {
    limited_to(dir, LIMIT)
}

fn limited_to(dir: &std::path::Path, limit: u64) -> Cache {
    Cache::open(
        CacheOptions::new(dir, "TestApp")
            .size_limit(limit)
            .flush_interval(Duration::from_millis(20)),
    )
    .unwrap()
}

/// Writes three times `limit` in `value_len`-byte values, checking the directory size every
/// few writes: it never passes 110% of the limit, half the limit written evicts nothing, at
/// least `min_kept` of the limit is kept as values (the design's promise: half with 100 B
/// values, three quarters with 1 KiB and more), and the most recent entries are the ones
/// left.
fn fill_three_times(limit: u64, value_len: usize, min_kept: f64) {
    let tmp = tempfile::tempdir().unwrap();
    let cache = limited_to(tmp.path(), limit);
    let value = "v".repeat(value_len - 2); // JSON quotes make it value_len bytes
    let count = usize::try_from(3 * limit).unwrap() / value_len;
    let half = usize::try_from(limit / 2).unwrap() / value_len;
    // Sampled about 2000 times over the fill, and after every write of a large value.
    let every = (count / 2000).max(1);
    let mut largest = 0;
    let mut evicted_at_half = None;
    for i in 0..count {
        cache.set(&format!("k{i:07}"), &value).unwrap();
        if i % every == 0 {
            largest = largest.max(dir_size(tmp.path()));
        }
        if i + 1 == half {
            cache.flush().unwrap();
            evicted_at_half = Some((cache.stats(), cache.len().unwrap()));
        }
    }
    cache.flush().unwrap();
    largest = largest.max(dir_size(tmp.path()));
    let stats = cache.stats();
    let kept = cache.len().unwrap() * value_len;
    let (kept_ratio, dir_ratio) = (kept as f64 / limit as f64, largest as f64 / limit as f64);
    eprintln!(
        "{value_len} B values: kept {kept_ratio:.3} of the limit, dir at most {dir_ratio:.3}, \
         {} evicted at half",
        evicted_at_half.as_ref().map_or(0, |(s, _)| s.evictions)
    );
    let (at_half, len_at_half) = evicted_at_half.unwrap();
    assert_eq!(
        at_half.evictions, 0,
        "half the limit written evicted: {at_half:?}"
    );
    assert_eq!(len_at_half, half);
    assert!(
        largest <= limit / 10 * 11,
        "directory reached {largest} bytes, over 110% of {limit} ({stats:?})"
    );
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(
        kept_ratio >= min_kept,
        "only {kept} bytes of values kept, {kept_ratio:.3} of {limit} ({stats:?})"
    );

    // The most recently written entries are kept, the oldest ones are gone.
    let recent = usize::try_from(limit / 10).unwrap() / value_len;
    for i in count - recent..count {
        assert!(
            cache.contains(&format!("k{i:07}")).unwrap(),
            "recent k{i} was evicted ({stats:?})"
        );
    }
    for i in 0..recent {
        assert!(
            !cache.contains(&format!("k{i:07}")).unwrap(),
            "old k{i} is still there"
        );
    }
    cache.close().unwrap();
    assert!(dir_size(tmp.path()) <= limit / 10 * 11);
}

#[test]
fn size_limit_holds_with_100b_values() {
    fill_three_times(2 << 20, 100, 0.5);
}

#[test]
fn size_limit_holds_with_1kib_values() {
    fill_three_times(8 << 20, 1024, 0.75);
}

#[test]
fn size_limit_holds_with_16kib_values() {
    fill_three_times(8 << 20, 16 * 1024, 0.75);
}

#[test]
fn size_limit_holds_with_64kib_values() {
    fill_three_times(16 << 20, 64 * 1024, 0.75);
}

#[test]
fn reads_count_for_lru() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = limited(tmp.path());
    let value = "v".repeat(1022);
    cache.set("favourite", &value).unwrap();
    cache.set("forgotten", &value).unwrap();
    let count = usize::try_from(3 * LIMIT).unwrap() / 1024;
    for i in 0..count {
        cache.set(&format!("k{i:07}"), &value).unwrap();
        if i % 64 == 0 {
            // Read (never rewritten): least recently *stored*, but recently used.
            assert!(
                cache.get::<String>("favourite").unwrap().is_some(),
                "favourite evicted at {i}"
            );
        }
    }
    cache.flush().unwrap();
    assert!(cache.contains("favourite").unwrap());
    assert!(!cache.contains("forgotten").unwrap());
    // Recency survives a restart (access ticks are persisted in the batched flush).
    cache.close().unwrap();
    let cache = limited(tmp.path());
    assert!(cache.contains("favourite").unwrap());
}

#[test]
fn a_value_larger_than_allowed_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = limited(tmp.path());
    let huge = "x".repeat(usize::try_from(LIMIT).unwrap() + 1);
    let err = cache.set("huge", &huge).unwrap_err();
    let CacheError::ValueTooLarge { key, size, limit } = &err else {
        panic!("expected ValueTooLarge, got {err:?}");
    };
    assert_eq!((key.as_str(), *size), ("huge", LIMIT + 3));
    assert!(*limit <= LIMIT);
    assert!(err.to_string().contains("huge"), "{err}");
    assert!(!cache.contains("huge").unwrap());
    cache.set("small", &1).unwrap();
}

/// A 1 MiB cache has a log cap of about 40 KiB: every 60 KB value is larger than it. The
/// first write into an empty log is admitted alone, the next ones wait for the flusher, and
/// none waits forever, from plain threads and from tasks on a multi-threaded runtime.
#[test]
fn values_larger_than_the_log_cap_are_admitted_one_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(
        CacheOptions::new(tmp.path(), "TestApp")
            .size_limit(1 << 20)
            .flush_interval(Duration::from_millis(5)),
    )
    .unwrap();
    let value = "v".repeat(60_000);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (cache, value) = (&cache, &value);
            s.spawn(move || {
                for i in 0..20 {
                    cache.set(&format!("t{t}-{i}"), value).unwrap();
                }
            });
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let (cache, value) = (cache.clone(), value.clone());
                tokio::spawn(async move {
                    for i in 0..10 {
                        cache.set(&format!("r{t}-{i}"), &value).unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let stats = cache.stats();
    assert!(
        stats.log_waits > 0,
        "no writer waited at the cap: {stats:?}"
    );
    assert_eq!(stats.sets, 160, "{stats:?}");
    // And the cache still takes a write and keeps it.
    cache.set("last", &value).unwrap();
    cache.flush().unwrap();
    assert!(cache.contains("last").unwrap(), "{stats:?}");
    cache.close().unwrap();
}

/// Values are packed end to end in page-sized blobs, a long one across several: overwriting
/// one with a shorter or longer value, or deleting it, leaves nothing stale behind, and each
/// reads back exactly from the file after a reopen.
#[test]
fn values_stored_in_pieces_read_back_exactly_after_overwrites_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let open = || {
        Cache::open(
            CacheOptions::new(tmp.path(), "TestApp").flush_interval(Duration::from_secs(3600)),
        )
        .unwrap()
    };
    let big = |n: usize, c: char| c.to_string().repeat(n);
    let cache = open();
    cache.set("a", &big(20_000, 'a')).unwrap();
    cache.set("b", &big(9_000, 'b')).unwrap();
    cache.close().unwrap();
    let cache = open();
    assert_eq!(cache.get::<String>("a").unwrap(), Some(big(20_000, 'a')));
    cache.set("a", &big(5_000, 'c')).unwrap();
    cache.set("b", &"small").unwrap();
    cache.close().unwrap();
    let cache = open();
    assert_eq!(cache.get::<String>("a").unwrap(), Some(big(5_000, 'c')));
    assert_eq!(cache.get::<String>("b").unwrap().as_deref(), Some("small"));
    cache.set("a", &big(30_000, 'd')).unwrap();
    cache.set("b", &big(12_000, 'e')).unwrap();
    cache.close().unwrap();
    let cache = open();
    assert_eq!(cache.get::<String>("a").unwrap(), Some(big(30_000, 'd')));
    assert_eq!(cache.get::<String>("b").unwrap(), Some(big(12_000, 'e')));
    assert!(cache.delete("b").unwrap());
    cache.close().unwrap();
    let cache = open();
    assert_eq!(cache.get::<String>("b").unwrap(), None);
    cache.set("b", &big(4_500, 'f')).unwrap();
    cache.close().unwrap();
    let cache = open();
    assert_eq!(cache.get::<String>("b").unwrap(), Some(big(4_500, 'f')));
    cache.close().unwrap();
}

/// Random overwrites (a cache's usual life) leave dead bytes in the heap's blobs, beside live
/// values that keep each blob alive; the heap moves the live values of its emptiest blobs so
/// that dead bytes do not crowd out live data: nothing is evicted while the live data is far
/// under the limit, the directory stays within 110%, and every value reads back exactly, also
/// after a reopen. Small values and large ones are mixed, so values span blobs too.
#[test]
fn random_overwrites_are_compacted_and_read_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let limit = 4u64 << 20;
    let cache = limited_to(tmp.path(), limit);
    let mut model = std::collections::HashMap::new();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut largest = 0;
    // 4,000 keys, mostly under 300 bytes and one in 50 up to 9 KB: about 1 MB live, a
    // quarter of the limit; 60,000 writes, about 15 MB.
    for i in 0..60_000u64 {
        let key = format!("key{}", next() % 4_000);
        let len = if next() % 50 == 0 {
            next() % 9_000
        } else {
            next() % 300
        };
        let len = usize::try_from(len).unwrap() + 1;
        let value = char::from(b'a' + u8::try_from(i % 26).unwrap())
            .to_string()
            .repeat(len);
        cache.set(&key, &value).unwrap();
        model.insert(key, value);
        if i % 100 == 0 {
            largest = largest.max(dir_size(tmp.path()));
        }
    }
    cache.flush().unwrap();
    let stats = cache.stats();
    assert_eq!(
        stats.evictions, 0,
        "dead bytes crowded out live data: {stats:?}"
    );
    assert!(
        largest <= limit / 10 * 11,
        "directory reached {largest} bytes, over 110% of {limit}"
    );
    cache.close().unwrap();
    let cache = limited_to(tmp.path(), limit);
    for (key, value) in &model {
        assert_eq!(
            cache.get::<String>(key).unwrap().as_ref(),
            Some(value),
            "{key}"
        );
    }
    cache.close().unwrap();
}

/// A cache file written before values moved to the heap (format 1: values in the `values`
/// table, 32-byte metadata) opens, reads back, and is converted as its keys are rewritten.
#[test]
fn a_format_1_file_is_read_and_converted() {
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};
    let values_t = TableDefinition::<&str, &[u8]>::new("values");
    let meta_t = TableDefinition::<&str, &[u8]>::new("meta");
    let info_t = TableDefinition::<&str, u64>::new("info");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("cache.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut values = txn.open_table(values_t).unwrap();
            let mut meta = txn.open_table(meta_t).unwrap();
            for (n, (key, json)) in [("old", "\"kept\""), ("rewritten", "1")].iter().enumerate() {
                values.insert(*key, json.as_bytes()).unwrap();
                // created (µs), expires (i64::MIN: none), size, tick: little-endian words.
                let mut m = Vec::new();
                m.extend_from_slice(&1_700_000_000_000_000i64.to_le_bytes());
                m.extend_from_slice(&i64::MIN.to_le_bytes());
                m.extend_from_slice(&(json.len() as u64).to_le_bytes());
                m.extend_from_slice(&(n as u64).to_le_bytes());
                meta.insert(*key, m.as_slice()).unwrap();
            }
            let mut info = txn.open_table(info_t).unwrap();
            info.insert("format_version", 1).unwrap();
            info.insert("next_tick", 2).unwrap();
        }
        txn.commit().unwrap();
    }
    let cache = limited(tmp.path());
    assert_eq!(cache.get::<String>("old").unwrap().as_deref(), Some("kept"));
    assert_eq!(cache.get::<u32>("rewritten").unwrap(), Some(1));
    cache.set("rewritten", &2u32).unwrap();
    cache.set("new", &3u32).unwrap();
    cache.close().unwrap();
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let values = txn.open_table(values_t).unwrap();
        assert_eq!(
            values.len().unwrap(),
            1,
            "only the untouched old value stays in `values`"
        );
        let info = txn.open_table(info_t).unwrap();
        assert_eq!(info.get("format_version").unwrap().unwrap().value(), 2);
    }
    let cache = limited(tmp.path());
    assert_eq!(cache.get::<String>("old").unwrap().as_deref(), Some("kept"));
    assert_eq!(cache.get::<u32>("rewritten").unwrap(), Some(2));
    assert_eq!(cache.get::<u32>("new").unwrap(), Some(3));
    cache.close().unwrap();
}
