//! The API: value kinds, errors, keys, incr, get_or_compute, listing, lazy per-class caches.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hassette_core::cache::{Cache, CacheError, CacheOptions, CacheRegistry};
use hassette_core::clock::Clock;
use jiff::{SignedDuration, Timestamp, Zoned, civil};
use serde::{Deserialize, Serialize};

use super::open;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Prefs {
    theme: String,
    notifications: bool,
    volume: Option<u8>,
    tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Mode {
    Off,
    Dim(u8),
    Scene { name: String, at: Timestamp },
}

#[test]
fn every_value_kind_round_trips_exactly_also_after_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let zoned: Zoned = "2024-03-10T01:59:59.123456789-05:00[America/New_York]"
        .parse()
        .unwrap();
    let ts: Timestamp = "2024-05-01T12:34:56.987654321Z".parse().unwrap();
    let dt = civil::date(2024, 2, 29).at(23, 59, 59, 999_999_999);
    let dur = SignedDuration::new(-3_600, -123_456_789);
    let prefs = Prefs {
        theme: "dark".into(),
        notifications: true,
        volume: None,
        tags: vec!["a".into(), "ü".into()],
    };
    let modes = vec![
        Mode::Off,
        Mode::Dim(40),
        Mode::Scene {
            name: "evening".into(),
            at: ts,
        },
    ];
    let map: HashMap<String, i64> = [("a".to_owned(), 1), ("b".to_owned(), -2)].into();
    let bmap: BTreeMap<u32, Vec<f64>> = [(1, vec![0.5, 1.25]), (7, vec![])].into();

    let check = |cache: &Cache| {
        assert_eq!(cache.get::<Zoned>("zoned").unwrap().as_ref(), Some(&zoned));
        assert_eq!(cache.get::<Timestamp>("ts").unwrap(), Some(ts));
        assert_eq!(cache.get::<civil::DateTime>("dt").unwrap(), Some(dt));
        assert_eq!(cache.get::<SignedDuration>("dur").unwrap(), Some(dur));
        assert_eq!(cache.get::<Prefs>("prefs").unwrap().as_ref(), Some(&prefs));
        assert_eq!(
            cache.get::<Vec<Mode>>("modes").unwrap().as_ref(),
            Some(&modes)
        );
        assert_eq!(
            cache.get::<HashMap<String, i64>>("map").unwrap().as_ref(),
            Some(&map)
        );
        assert_eq!(
            cache
                .get::<BTreeMap<u32, Vec<f64>>>("bmap")
                .unwrap()
                .as_ref(),
            Some(&bmap)
        );
        assert_eq!(cache.get::<Option<u8>>("none").unwrap(), Some(None));
        assert_eq!(cache.get::<Option<u8>>("some").unwrap(), Some(Some(3)));
        assert_eq!(cache.get::<bool>("bool").unwrap(), Some(true));
        assert_eq!(cache.get::<f64>("float").unwrap(), Some(0.1 + 0.2));
        assert_eq!(cache.get::<u64>("u64").unwrap(), Some(u64::MAX));
        assert_eq!(cache.get::<i64>("i64").unwrap(), Some(i64::MIN));
        assert_eq!(
            cache.get::<String>("str").unwrap().as_deref(),
            Some("héllo \"x\"\n")
        );
        assert_eq!(cache.get::<()>("unit").unwrap(), Some(()));
        assert_eq!(cache.get::<String>("missing").unwrap(), None);
        assert_eq!(
            cache.get_json("prefs").unwrap(),
            Some(
                serde_json::json!({"theme": "dark", "notifications": true, "volume": null, "tags": ["a", "ü"]})
            )
        );
    };
    let cache = open(tmp.path());
    cache.set("zoned", &zoned).unwrap();
    cache.set("ts", &ts).unwrap();
    cache.set("dt", &dt).unwrap();
    cache.set("dur", &dur).unwrap();
    cache.set("prefs", &prefs).unwrap();
    cache.set("modes", &modes).unwrap();
    cache.set("map", &map).unwrap();
    cache.set("bmap", &bmap).unwrap();
    cache.set("none", &None::<u8>).unwrap();
    cache.set("some", &Some(3u8)).unwrap();
    cache.set("bool", &true).unwrap();
    cache.set("float", &(0.1 + 0.2)).unwrap();
    cache.set("u64", &u64::MAX).unwrap();
    cache.set("i64", &i64::MIN).unwrap();
    cache.set("str", "héllo \"x\"\n").unwrap();
    cache.set("unit", &()).unwrap();
    check(&cache);
    cache.close().unwrap();
    let cache = open(tmp.path());
    check(&cache);
}

#[test]
fn wrong_type_is_an_error_naming_key_and_type() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = open(tmp.path());
    cache.set("greeting", "hello").unwrap();
    let err = cache.get::<Prefs>("greeting").unwrap_err();
    let CacheError::WrongType { key, expected, .. } = &err else {
        panic!("expected WrongType, got {err:?}");
    };
    assert_eq!(key, "greeting");
    assert!(expected.ends_with("Prefs"), "{expected}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"greeting\"") && msg.contains("Prefs"),
        "{msg}"
    );
    assert!(std::error::Error::source(&err).is_some());
    assert!(matches!(
        cache.get::<i64>("greeting"),
        Err(CacheError::WrongType {
            expected: "i64",
            ..
        })
    ));
    assert!(matches!(
        cache.incr("greeting", 1),
        Err(CacheError::WrongType { .. })
    ));
    // The cache keeps working.
    assert_eq!(
        cache.get::<String>("greeting").unwrap().as_deref(),
        Some("hello")
    );
}

#[test]
fn keys_must_be_non_empty_and_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = open(tmp.path());
    let err = cache.set("", &1).unwrap_err();
    assert!(matches!(err, CacheError::InvalidKey { .. }), "{err:?}");
    assert!(err.to_string().contains("empty"), "{err}");
    let long = "x".repeat(1025);
    let err = cache.get::<i32>(&long).unwrap_err();
    assert!(err.to_string().contains("1024"), "{err}");
    assert!(matches!(
        cache.delete(""),
        Err(CacheError::InvalidKey { .. })
    ));
    let max = "é".repeat(512); // 1024 bytes
    cache.set(&max, &1).unwrap();
    assert_eq!(cache.get::<i32>(&max).unwrap(), Some(1));
}

#[test]
fn get_or_delete_contains() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = open(tmp.path());
    assert_eq!(cache.get_or("run_count", 0).unwrap(), 0);
    cache.set("run_count", &5).unwrap();
    assert_eq!(cache.get_or("run_count", 0).unwrap(), 5);
    assert!(cache.contains("run_count").unwrap());
    assert!(cache.delete("run_count").unwrap());
    assert!(!cache.delete("run_count").unwrap());
    assert!(!cache.contains("run_count").unwrap());
    assert_eq!(cache.get::<i32>("run_count").unwrap(), None);
}

#[test]
fn incr_is_atomic_across_threads_and_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = open(tmp.path());
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..500 {
                    cache.incr("n", 1).unwrap();
                }
            });
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    for _ in 0..100 {
                        cache.incr("n", 2).unwrap();
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(cache.get::<i64>("n").unwrap(), Some(8 * 500 + 32 * 100 * 2));
    assert_eq!(cache.incr("n", -10_400).unwrap(), 0);
    cache.set("big", &i64::MAX).unwrap();
    assert!(matches!(
        cache.incr("big", 1),
        Err(CacheError::Overflow { .. })
    ));
    cache.close().unwrap();
    assert_eq!(open(tmp.path()).get::<i64>("n").unwrap(), Some(0));
}

#[test]
fn get_or_compute_runs_one_loader_per_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = open(tmp.path());
    let calls = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(async {
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let cache = cache.clone();
                let calls = calls.clone();
                tokio::spawn(async move {
                    cache
                        .get_or_compute("forecast", Some(Duration::from_secs(300)), || async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok::<_, CacheError>(format!("sunny from {i}"))
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(results.iter().all(|r| r == &results[0]), "{results:?}");
    let info = cache.info("forecast").unwrap().unwrap();
    assert!(info.expires_at.is_some());

    // A failing loader stores nothing and reports its error.
    let err = rt
        .block_on(cache.get_or_compute("broken", None, || async {
            Err::<i32, Box<dyn std::error::Error + Send + Sync>>("upstream down".into())
        }))
        .unwrap_err();
    assert_eq!(err.to_string(), "upstream down");
    assert!(!cache.contains("broken").unwrap());
}

#[test]
fn prefix_len_clear_info_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Clock::manual("2024-01-01T00:00:00Z".parse().unwrap());
    let cache = Cache::open(CacheOptions::new(tmp.path(), "TestApp").clock(clock.clone())).unwrap();
    for key in ["kitchen:a", "kitchen:b", "hall:a", "kitchen:c"] {
        cache.set(key, &key.len()).unwrap();
    }
    cache
        .set_with_ttl("kitchen:tmp", &1, Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        cache.keys_with_prefix("kitchen:").unwrap(),
        ["kitchen:a", "kitchen:b", "kitchen:c", "kitchen:tmp"]
    );
    assert_eq!(cache.len().unwrap(), 5);
    clock.advance(SignedDuration::from_secs(30));
    let info = cache.info("kitchen:tmp").unwrap().unwrap();
    assert_eq!(info.age, Duration::from_secs(30));
    assert_eq!(info.ttl, Some(Duration::from_secs(30)));
    assert_eq!(
        info.expires_at,
        Some("2024-01-01T00:01:00Z".parse().unwrap())
    );
    assert_eq!(info.size, 1);
    let info = cache.info("hall:a").unwrap().unwrap();
    assert_eq!((info.expires_at, info.ttl, info.size), (None, None, 1));
    assert_eq!(cache.info("nope").unwrap(), None);

    clock.advance(SignedDuration::from_secs(30));
    assert_eq!(cache.len().unwrap(), 4);
    assert_eq!(cache.keys_with_prefix("kitchen:").unwrap().len(), 3);

    assert_eq!(cache.get::<usize>("hall:a").unwrap(), Some(6));
    assert_eq!(cache.get::<usize>("hall:zzz").unwrap(), None);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.expirations), (1, 1, 1));
    assert_eq!(stats.sets, 5);
    assert_eq!(stats.entries, 4);
    assert!(stats.disk_bytes > 0 && cache.size_bytes() > 0);

    cache.clear().unwrap();
    assert_eq!(cache.len().unwrap(), 0);
    assert!(cache.is_empty().unwrap());
    cache.set("after", &1).unwrap();
    cache.close().unwrap();
    let cache = open(tmp.path());
    assert_eq!(cache.keys_with_prefix("").unwrap(), ["after"]);
}

#[test]
fn concurrent_readers_and_writers() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(
        CacheOptions::new(tmp.path(), "TestApp").flush_interval(Duration::from_millis(5)),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    for i in 0..300u32 {
                        cache.set(&format!("t{t}:{i}"), &(t, i)).unwrap();
                        assert_eq!(
                            cache.get::<(u32, u32)>(&format!("t{t}:{i}")).unwrap(),
                            Some((t, i))
                        );
                        let other = (t + 1) % 16;
                        if let Some(v) = cache.get::<(u32, u32)>(&format!("t{other}:{i}")).unwrap()
                        {
                            assert_eq!(v, (other, i));
                        }
                        if i % 3 == 0 {
                            assert!(cache.delete(&format!("t{t}:{i}")).unwrap());
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(cache.len().unwrap(), 16 * 200);
    cache.close().unwrap();
    let cache = open(tmp.path());
    assert_eq!(cache.len().unwrap(), 16 * 200);
    assert_eq!(cache.get::<(u32, u32)>("t7:299").unwrap(), Some((7, 299)));
    assert_eq!(cache.get::<(u32, u32)>("t7:297").unwrap(), None);
}

#[test]
fn app_caches_are_lazy_shared_per_class_and_closed_with_the_last_instance() {
    let tmp = tempfile::tempdir().unwrap();
    let registry = CacheRegistry::new(tmp.path(), Duration::from_secs(1), Clock::system());
    let kitchen = registry.app_cache("MotionLight", 16 << 20, "kitchen");
    let hall = registry.app_cache("MotionLight", 16 << 20, "hall");
    let idle = registry.app_cache("IdleApp", 16 << 20, "idle");
    assert!(!tmp.path().join("MotionLight").exists());

    assert_eq!(kitchen.scoped_key("last_motion"), "kitchen:last_motion");
    kitchen.set(&kitchen.scoped_key("last_motion"), &1).unwrap();
    hall.set(&hall.scoped_key("last_motion"), &2).unwrap();
    assert!(tmp.path().join("MotionLight/cache").is_dir());
    assert!(std::ptr::eq(
        kitchen.cache().unwrap(),
        hall.cache().unwrap()
    ));
    assert_eq!(hall.get::<i32>("kitchen:last_motion").unwrap(), Some(1));
    assert_eq!(
        kitchen.keys_with_prefix("").unwrap(),
        ["hall:last_motion", "kitchen:last_motion"]
    );
    assert_eq!(
        (kitchen.instance_name(), kitchen.class_name()),
        ("kitchen", "MotionLight")
    );

    // Dropping every instance of the class closes its cache (the lock is released).
    drop((kitchen, hall));
    let again = Cache::open(CacheOptions::new(
        tmp.path().join("MotionLight/cache"),
        "MotionLight",
    ))
    .unwrap();
    assert_eq!(again.get::<i32>("hall:last_motion").unwrap(), Some(2));
    again.close().unwrap();

    drop(idle);
    assert!(
        !tmp.path().join("IdleApp").exists(),
        "an untouched cache leaves no directory"
    );

    let a = registry.app_cache("Other", 16 << 20, "a");
    a.set("k", &1).unwrap();
    registry.close_all().unwrap();
    assert!(matches!(a.get::<i32>("k"), Err(CacheError::Closed { .. })));
    let reopened = Cache::open(CacheOptions::new(tmp.path().join("Other/cache"), "Other")).unwrap();
    assert_eq!(reopened.get::<i32>("k").unwrap(), Some(1));
}
