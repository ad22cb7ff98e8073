//! Cache workloads: our `Cache` and a bare redb loop doing the same work (the floor), printed
//! as JSON lines for `bench/cache-vs-diskcache/report.py`.
//!
//! Counts scale with `HASSETTE_BENCH_N` (small values, default 100000), `HASSETTE_BENCH_NB`
//! (1 KiB / 64 KiB values, default 10000) and `HASSETTE_BENCH_FILL` (multiples of the 100 MiB
//! limit written by the fill workload, default 3).
//!
//! Also: capacity (`HASSETTE_BENCH_CAP_LIMIT`, default 20 MiB: kept/limit and the largest
//! dir/limit seen while writing 3x the limit, and evictions after writing half of it, for
//! 100 B, 1 KiB, 16 KiB and 64 KiB values), bytes written to disk by a read-only workload
//! (`HASSETTE_BENCH_READ_SECS`, default 20), and how late a 5 ms timer fires on a runtime
//! whose other tasks write 16 KiB values (`HASSETTE_BENCH_TIMER_SECS`, default 20), the timer
//! awaited in a spawned task (as hassette's scheduler runs timers) and on the `block_on` thread,
//! beside three floors without the cache (see [`Beside`]), and beside a task that opens a
//! cache for the first time again and again, each time replaying an 8 MiB log. A tokio timer on a quiet runtime is
//! itself 0-2 ms late: its wheel rounds the deadline up to the next millisecond, and a parked
//! worker sleeps in whole milliseconds counted from the millisecond it parked in.
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

/// Writes 3x `limit` of `value_len`-byte values; reports kept/limit, the largest dir/limit
/// sampled every 32 writes, and the evictions once half the limit was written.
fn capacity(limit: u64, value_len: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(CacheOptions::new(tmp.path(), "Bench").size_limit(limit)).unwrap();
    let value = "v".repeat(value_len - 2);
    let count = usize::try_from(3 * limit).unwrap() / value_len;
    let (mut max_dir, mut evicted_at_half) = (0, None);
    for i in 0..count {
        cache.set(&format!("k{i:08}"), &value).unwrap();
        if i % 32 == 0 {
            max_dir = max_dir.max(cache.size_bytes());
        }
        if evicted_at_half.is_none() && (i + 1) * value_len >= limit as usize / 2 {
            cache.flush().unwrap();
            evicted_at_half = Some(cache.stats().evictions);
        }
    }
    cache.flush().unwrap();
    max_dir = max_dir.max(cache.size_bytes());
    let kept = cache.len().unwrap() * value_len;
    println!(
        "{{\"impl\": \"hassette\", \"workload\": \"capacity_{value_len}\", \"kept_ratio\": {:.3}, \"max_dir_ratio\": {:.3}, \"evicted_at_half\": {}}}",
        kept as f64 / limit as f64,
        max_dir as f64 / limit as f64,
        evicted_at_half.unwrap_or(0)
    );
}

/// `write_bytes` of this process from `/proc/self/io`: bytes it sent (or dirtied) for disk.
fn written_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("write_bytes: "))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A read-only workload with the default settings, then the cost of one recency commit.
fn read_only(secs: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let keys: Vec<String> = (0..10_000).map(|i| format!("key{i}")).collect();
    let fill = |opts: CacheOptions| {
        let cache = Cache::open(opts).unwrap();
        for (i, key) in keys.iter().enumerate() {
            cache.set(key, &prefs(i)).unwrap();
        }
        cache.flush().unwrap();
        cache
    };
    let cache = fill(CacheOptions::new(tmp.path().join("a"), "Bench"));
    let before = written_bytes();
    let start = Instant::now();
    let mut reads = 0u64;
    while start.elapsed().as_secs() < secs {
        let _ = cache
            .get::<Prefs>(&keys[fastrand::usize(..keys.len())])
            .unwrap();
        reads += 1;
    }
    let during = written_bytes() - before;
    let flushes = cache.stats().flushes;
    drop(cache);
    // What one recency commit (every 5 minutes by default) writes.
    let cache = fill(CacheOptions::new(tmp.path().join("b"), "Bench"));
    for key in &keys {
        let _ = cache.get::<Prefs>(key).unwrap();
    }
    let before = written_bytes();
    cache.flush().unwrap();
    let per_recency_commit = written_bytes() - before;
    let per_hour = during as f64 * 3600.0 / secs as f64
        + per_recency_commit as f64 * 3600.0
            / hassette_core::cache::DEFAULT_RECENCY_INTERVAL.as_secs_f64();
    println!(
        "{{\"impl\": \"hassette\", \"workload\": \"read_only_disk\", \"secs\": {secs}, \"reads\": {reads}, \"bytes_written\": {during}, \"commits\": {flushes}, \"recency_commit_bytes\": {per_recency_commit}, \"bytes_per_hour\": {per_hour:.0}}}"
    );
}

/// Where the timer of [`timer_lateness`] waits.
#[derive(Clone, Copy, PartialEq)]
enum TimerOn {
    /// A task spawned on the runtime, as hassette's scheduler runs an app's timers.
    Task,
    /// The `block_on` thread: one more thread that must get a CPU when the timer fires.
    BlockOn,
}

/// What runs beside the timer of [`timer_lateness`].
#[derive(Clone, Copy, PartialEq)]
enum Beside {
    /// Nothing: the timer alone.
    Nothing,
    /// 8 tasks encoding 16 KiB values without the cache: the same CPU work, every core busy.
    Encoders,
    /// A thread waking a task at random moments (0-2 ms apart), so that the workers park and
    /// wake at random phases, as cache writers waiting for the disk make them do: what a
    /// tokio timer gets from the runtime itself then, without the cache.
    Wakeups,
    /// 8 tasks writing 16 KiB values to the cache as fast as it takes them.
    CacheWriters,
    /// A task opening an app's cache again and again, each time for the first time, with a
    /// log of 8 MiB left to replay (as after a crash), and reading one key from it.
    FirstOpens,
}

impl Beside {
    fn name(self) -> &'static str {
        match self {
            Beside::Nothing => "0_encoders",
            Beside::Encoders => "8_encoders",
            Beside::Wakeups => "random_wakeups",
            Beside::CacheWriters => "8_cache_writers",
            Beside::FirstOpens => "first_opens",
        }
    }
}

/// The size limit of the caches [`unreplayed_log`] writes and [`Beside::FirstOpens`] opens:
/// large enough that an 8 MiB log stays under the size at which the flusher starts early.
const OPEN_LIMIT: u64 = 1 << 30;

/// A write log of 8 MiB (512 values of 16 KiB) that no commit has moved into a database, as
/// a killed process leaves it, and the directory that keeps it.
fn unreplayed_log() -> std::sync::Arc<(std::path::PathBuf, tempfile::TempDir)> {
    let src = tempfile::tempdir().unwrap();
    let cache = Cache::open(
        CacheOptions::new(src.path(), "Bench")
            .size_limit(OPEN_LIMIT)
            .flush_interval(std::time::Duration::from_secs(3600)),
    )
    .unwrap();
    let value = "x".repeat(16 * 1024 - 2);
    for i in 0..512 {
        // The record is in the log when `set` returns.
        cache.set(&format!("k{i}"), &value).unwrap();
    }
    let log = std::fs::read_dir(src.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    let keep = tempfile::tempdir().unwrap();
    let copy = keep.path().join(log.file_name().unwrap());
    std::fs::copy(&log, &copy).unwrap();
    cache.close().unwrap();
    std::sync::Arc::new((copy, keep))
}

/// How late a 5 ms timer fires on a 2-worker runtime while `beside` runs on it.
fn timer_lateness(secs: u64, beside: Beside, on: TimerOn) {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(CacheOptions::new(tmp.path(), "Bench").size_limit(LIMIT)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (late, writes) = rt.block_on(async move {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut workers = Vec::new();
        let tasks = match beside {
            Beside::Encoders | Beside::CacheWriters => 8,
            Beside::Nothing | Beside::Wakeups | Beside::FirstOpens => 0,
        };
        for w in 0..tasks {
            let cache = cache.clone();
            let stop = stop.clone();
            workers.push(tokio::spawn(async move {
                let value = "x".repeat(16 * 1024 - 2);
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let key = format!("w{w}:{}", n % 2000);
                    if beside == Beside::CacheWriters {
                        cache.set(&key, &value).unwrap();
                    } else {
                        std::hint::black_box(serde_json::to_vec(&(&key, &value)).unwrap());
                    }
                    n += 1;
                    tokio::task::yield_now().await;
                }
                n
            }));
        }
        if beside == Beside::FirstOpens {
            let log = unreplayed_log();
            let stop = stop.clone();
            workers.push(tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Planting the log is the crash's doing, not the open's: off the workers.
                    let (log, data) = (log.clone(), log.1.path().join(format!("run{n}")));
                    let planted = data.clone();
                    tokio::task::spawn_blocking(move || {
                        let dir = planted.join("Bench/cache");
                        std::fs::create_dir_all(&dir).unwrap();
                        std::fs::copy(&log.0, dir.join(log.0.file_name().unwrap())).unwrap();
                    })
                    .await
                    .unwrap();
                    let registry = hassette_core::cache::CacheRegistry::new(
                        &data,
                        std::time::Duration::from_secs(3600),
                        hassette_core::clock::Clock::system(),
                    );
                    let app = registry.app_cache("Bench", OPEN_LIMIT, "main");
                    // The class's cache itself: the log holds unscoped keys.
                    let cache = app.cache().unwrap();
                    assert_eq!(cache.len().unwrap(), 512);
                    tokio::task::spawn_blocking(move || {
                        registry.close_all().unwrap();
                        std::fs::remove_dir_all(data).unwrap();
                    })
                    .await
                    .unwrap();
                    n += 1;
                }
                n
            }));
        }
        if beside == Beside::Wakeups {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_micros(fastrand::u64(0..2000)));
                    if tx.send(()).is_err() {
                        break;
                    }
                }
            });
            workers.push(tokio::spawn(async move {
                let mut n = 0;
                while rx.recv().await.is_some() {
                    n += 1;
                }
                n
            }));
        }
        let timer = async move {
            let mut late = Vec::new();
            let start = Instant::now();
            while start.elapsed().as_secs() < secs {
                let t = Instant::now();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                let over = t
                    .elapsed()
                    .saturating_sub(std::time::Duration::from_millis(5));
                late.push(over.as_nanos() as u64);
            }
            late
        };
        let late = match on {
            TimerOn::Task => tokio::spawn(timer).await.unwrap(),
            TimerOn::BlockOn => timer.await,
        };
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut writes = 0;
        for w in workers {
            writes += w.await.unwrap();
        }
        (late, writes)
    });
    let mut late = late;
    late.sort_unstable();
    let pct = |p: f64| late[((late.len() as f64 - 1.0) * p) as usize] as f64 / 1e6;
    println!(
        "{{\"impl\": \"hassette\", \"workload\": \"timer_lateness_{}{}\", \"timers\": {}, \"writes\": {writes}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"max_ms\": {:.3}}}",
        beside.name(),
        if on == TimerOn::BlockOn {
            "_block_on"
        } else {
            ""
        },
        late.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let n = env("HASSETTE_BENCH_N", 100_000);
    let nb = env("HASSETTE_BENCH_NB", 10_000).min(n);
    let fill = env("HASSETTE_BENCH_FILL", 3);
    let only = std::env::var("HASSETTE_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "workloads" {
        ours(n, nb, fill);
        bare_redb(n, nb);
    }
    if only.is_empty() || only == "capacity" {
        let limit = env("HASSETTE_BENCH_CAP_LIMIT", 20 << 20) as u64;
        for value_len in [100, 1024, 16 * 1024, 64 * 1024] {
            capacity(limit, value_len);
        }
    }
    if only.is_empty() || only == "disk" {
        read_only(env("HASSETTE_BENCH_READ_SECS", 20) as u64);
    }
    if only.is_empty() || only == "timer" {
        // The floors first: the timer alone, beside the same CPU work without the cache, and
        // on a runtime woken at random moments without the cache.
        let secs = env("HASSETTE_BENCH_TIMER_SECS", 20) as u64;
        for on in [TimerOn::Task, TimerOn::BlockOn] {
            for beside in [
                Beside::Nothing,
                Beside::Encoders,
                Beside::Wakeups,
                Beside::CacheWriters,
                Beside::FirstOpens,
            ] {
                timer_lateness(secs, beside, on);
            }
        }
    }
}
