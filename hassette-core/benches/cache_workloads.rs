//! Cache workloads: our `Cache` and a bare redb loop doing the same work (the floor), printed
//! as JSON lines for `bench/cache-vs-diskcache/report.py`.
//!
//! Counts scale with `HASSETTE_BENCH_N` (small values, default 100000), `HASSETTE_BENCH_NB`
//! (1 KiB / 64 KiB values, default 10000) and `HASSETTE_BENCH_FILL` (multiples of the 100 MiB
//! limit written by the fill workload, default 3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

use hassette_core::cache::{Cache, CacheOptions};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};

const LIMIT: u64 = 100 * 1024 * 1024;
const TABLE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("values");

#[derive(Serialize, Deserialize)]
struct Prefs {
    theme: String,
    n: u64,
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Times `op` once per item and prints a result line.
fn run(implementation: &str, workload: &str, n: usize, mut op: impl FnMut(usize)) {
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        op(i);
        lat.push(t.elapsed().as_nanos() as u64);
    }
    report(implementation, workload, start.elapsed().as_secs_f64(), lat);
}

fn report(implementation: &str, workload: &str, secs: f64, mut lat: Vec<u64>) {
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0;
    println!(
        "{{\"impl\": \"{implementation}\", \"workload\": \"{workload}\", \"ops\": {}, \"ops_per_s\": {:.0}, \"p50_us\": {:.2}, \"p99_us\": {:.2}}}",
        lat.len(),
        lat.len() as f64 / secs,
        pct(0.5),
        pct(0.99)
    );
}

fn prefs(i: usize) -> Prefs {
    Prefs {
        theme: "dark".to_owned(),
        n: i as u64,
    }
}

fn open_ours(dir: &Path) -> Cache {
    Cache::open(CacheOptions::new(dir, "Bench").size_limit(LIMIT)).unwrap()
}

fn ours(n: usize, nb: usize, fill: usize) {
    let name = "hassette";
    let tmp = tempfile::tempdir().unwrap();
    let cache = open_ours(tmp.path());
    let keys: Vec<String> = (0..n).map(|i| format!("key{i}")).collect();
    let missing: Vec<String> = (0..n).map(|i| format!("missing{i}")).collect();
    run(name, "set", n, |i| cache.set(&keys[i], &prefs(i)).unwrap());
    run(name, "get_hit", n, |i| {
        assert!(cache.get::<Prefs>(&keys[i]).unwrap().is_some());
    });
    run(name, "get_miss", n, |i| {
        assert!(cache.get::<Prefs>(&missing[i]).unwrap().is_none());
    });
    run(name, "overwrite_one_key", n, |i| {
        cache.set("same", &prefs(i)).unwrap()
    });
    run(name, "delete", n, |i| {
        cache.delete(&keys[i]).unwrap();
    });
    run(name, "set_ttl", n, |i| {
        cache
            .set_with_ttl(&keys[i], &prefs(i), std::time::Duration::from_secs(3600))
            .unwrap();
    });
    cache.clear().unwrap();
    for (label, size) in [("1k", 1024), ("64k", 64 * 1024)] {
        let value = "x".repeat(size - 2);
        run(name, &format!("set_{label}"), nb, |i| {
            cache.set(&keys[i], &value).unwrap()
        });
        run(name, &format!("get_{label}"), nb, |i| {
            let _ = cache.get::<String>(&keys[i]).unwrap();
        });
        cache.clear().unwrap();
    }
    cache.close().unwrap();
    drop(tmp);

    // Reopen with n entries: open plus the first get.
    let tmp = tempfile::tempdir().unwrap();
    let cache = open_ours(tmp.path());
    for (i, key) in keys.iter().enumerate() {
        cache.set(key, &prefs(i)).unwrap();
    }
    cache.close().unwrap();
    drop(cache);
    let mut lat = Vec::new();
    let start = Instant::now();
    for round in 0..5 {
        let t = Instant::now();
        let cache = open_ours(tmp.path());
        assert!(cache.get::<Prefs>(&keys[round * 7]).unwrap().is_some());
        lat.push(t.elapsed().as_nanos() as u64);
        cache.close().unwrap();
    }
    report(name, "reopen", start.elapsed().as_secs_f64(), lat);
    drop(tmp);

    let tmp = tempfile::tempdir().unwrap();
    let cache = open_ours(tmp.path());
    let value = "x".repeat(1022);
    let count = fill * LIMIT as usize / 1024;
    run(name, "fill_3x_limit", count, |i| {
        cache.set(&format!("fill{i}"), &value).unwrap()
    });
    cache.flush().unwrap();
    eprintln!(
        "hassette fill: dir {} bytes, {:?}",
        cache.size_bytes(),
        cache.stats()
    );
}

/// The floor: one read transaction per get, one non-durable commit per write (which, unlike
/// our cache, a killed process loses).
fn bare_redb(n: usize, nb: usize) {
    let name = "redb";
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bare.redb");
    let db = Database::create(&path).unwrap();
    let keys: Vec<String> = (0..n).map(|i| format!("key{i}")).collect();
    let missing: Vec<String> = (0..n).map(|i| format!("missing{i}")).collect();
    let put = |key: &str, value: &[u8]| {
        let mut txn = db.begin_write().unwrap();
        txn.set_durability(Durability::None).unwrap();
        txn.open_table(TABLE).unwrap().insert(key, value).unwrap();
        txn.commit().unwrap();
    };
    let get = |key: &str| -> Option<Vec<u8>> {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TABLE).unwrap();
        table.get(key).unwrap().map(|v| v.value().to_vec())
    };
    run(name, "set", n, |i| {
        put(&keys[i], &serde_json::to_vec(&prefs(i)).unwrap())
    });
    run(name, "get_hit", n, |i| {
        let bytes = get(&keys[i]).unwrap();
        let _: Prefs = serde_json::from_slice(&bytes).unwrap();
    });
    run(name, "get_miss", n, |i| assert!(get(&missing[i]).is_none()));
    run(name, "overwrite_one_key", n, |i| {
        put("same", &serde_json::to_vec(&prefs(i)).unwrap())
    });
    run(name, "delete", n, |i| {
        let mut txn = db.begin_write().unwrap();
        txn.set_durability(Durability::None).unwrap();
        txn.open_table(TABLE)
            .unwrap()
            .remove(keys[i].as_str())
            .unwrap();
        txn.commit().unwrap();
    });
    run(name, "set_ttl", n, |i| {
        // The value plus an absolute expiry, as a TTL needs.
        let mut bytes = serde_json::to_vec(&prefs(i)).unwrap();
        bytes.extend_from_slice(
            &(jiff::Timestamp::now().as_microsecond() + 3_600_000_000).to_le_bytes(),
        );
        put(&keys[i], &bytes);
    });
    for (label, size) in [("1k", 1024), ("64k", 64 * 1024)] {
        let value = serde_json::to_vec(&"x".repeat(size - 2)).unwrap();
        run(name, &format!("set_{label}"), nb, |i| put(&keys[i], &value));
        run(name, &format!("get_{label}"), nb, |i| {
            let bytes = get(&keys[i]).unwrap();
            let _: String = serde_json::from_slice(&bytes).unwrap();
        });
    }
    drop(db);
    let mut lat = Vec::new();
    let start = Instant::now();
    for round in 0..5 {
        let t = Instant::now();
        let db = Database::create(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TABLE).unwrap();
        assert!(table.get(keys[round * 7].as_str()).unwrap().is_some());
        lat.push(t.elapsed().as_nanos() as u64);
    }
    report(name, "reopen", start.elapsed().as_secs_f64(), lat);
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let n = env("HASSETTE_BENCH_N", 100_000);
    let nb = env("HASSETTE_BENCH_NB", 10_000).min(n);
    let fill = env("HASSETTE_BENCH_FILL", 3);
    ours(n, nb, fill);
    bare_redb(n, nb);
}
