//! What users reach for next: pop, add, touch, incr with a TTL, atomic batches, entry
//! listings, stale-while-revalidate and cache-only-if, non-finite floats refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hassette_core::cache::{Cache, CacheError, CacheOptions, Compute};
use hassette_core::clock::Clock;
use jiff::SignedDuration;

use super::open;

fn manual() -> (Clock, Cache, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Clock::manual("2024-06-01T08:00:00Z".parse().unwrap());
    let cache = Cache::open(CacheOptions::new(tmp.path(), "TestApp").clock(clock.clone())).unwrap();
    (clock, cache, tmp)
}

#[test]
fn pop_returns_and_removes_and_a_wrong_type_leaves_the_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = open(tmp.path());
    cache.set("job", &"wash").unwrap();
    assert!(matches!(
        cache.pop::<i32>("job"),
        Err(CacheError::WrongType { .. })
    ));
    assert_eq!(cache.pop::<String>("job").unwrap().as_deref(), Some("wash"));
    assert_eq!(cache.pop::<String>("job").unwrap(), None);
    cache.close().unwrap();
    assert!(
        !open(tmp.path()).contains("job").unwrap(),
        "a pop is a durable delete"
    );
}

#[test]
fn add_sets_only_if_absent_or_expired() {
    let (clock, cache, _tmp) = manual();
    assert!(cache.add("lock", &1).unwrap());
    assert!(!cache.add("lock", &2).unwrap());
    assert_eq!(cache.get::<i32>("lock").unwrap(), Some(1));
    assert!(
        cache
            .add_with_ttl("lease", &"a", SignedDuration::from_mins(1))
            .unwrap()
    );
    assert!(
        !cache
            .add_with_ttl("lease", &"b", SignedDuration::from_mins(1))
            .unwrap()
    );
    clock.advance(SignedDuration::from_mins(2));
    assert!(
        cache
            .add_with_ttl("lease", &"c", SignedDuration::from_mins(1))
            .unwrap()
    );
    assert_eq!(cache.get::<String>("lease").unwrap().as_deref(), Some("c"));
}

#[test]
fn touch_sets_a_new_ttl_and_persist_removes_it() {
    let (clock, cache, tmp) = manual();
    cache
        .set_with_ttl("session", &"s", SignedDuration::from_mins(1))
        .unwrap();
    clock.advance(SignedDuration::from_secs(50));
    assert!(
        cache
            .touch("session", SignedDuration::from_mins(10))
            .unwrap()
    );
    let info = cache.info("session").unwrap().unwrap();
    assert_eq!(info.ttl, Some(SignedDuration::from_mins(10)));
    assert_eq!(
        info.age,
        SignedDuration::from_secs(50),
        "the age is unchanged"
    );
    clock.advance(SignedDuration::from_mins(5));
    assert_eq!(
        cache.get::<String>("session").unwrap().as_deref(),
        Some("s")
    );
    assert!(cache.persist("session").unwrap());
    assert_eq!(cache.info("session").unwrap().unwrap().ttl, None);
    assert!(
        !cache
            .touch("nothing", SignedDuration::from_mins(1))
            .unwrap()
    );
    cache.close().unwrap();
    clock.advance(SignedDuration::from_hours(24));
    let cache = Cache::open(CacheOptions::new(tmp.path(), "TestApp").clock(clock)).unwrap();
    assert_eq!(
        cache.get::<String>("session").unwrap().as_deref(),
        Some("s")
    );
}

#[test]
fn incr_with_ttl_is_a_rate_limit_window() {
    let (clock, cache, _tmp) = manual();
    let hour = SignedDuration::from_hours(1);
    assert_eq!(cache.incr_with_ttl("sent", 1, hour).unwrap(), 1);
    clock.advance(SignedDuration::from_mins(30));
    assert_eq!(cache.incr_with_ttl("sent", 1, hour).unwrap(), 2);
    assert_eq!(
        cache.info("sent").unwrap().unwrap().ttl,
        Some(SignedDuration::from_mins(30)),
        "incrementing keeps the window's end"
    );
    clock.advance(SignedDuration::from_mins(30));
    assert_eq!(
        cache.incr_with_ttl("sent", 1, hour).unwrap(),
        1,
        "a new window"
    );
}

#[test]
fn a_batch_applies_all_or_nothing_and_survives_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(CacheOptions::new(tmp.path(), "TestApp").size_limit(1 << 20)).unwrap();
    cache.set("old", &1).unwrap();
    cache
        .batch()
        .set("a", &1)
        .unwrap()
        .set_with_ttl("b", &2, SignedDuration::from_hours(1))
        .unwrap()
        .delete("old")
        .unwrap()
        .commit()
        .unwrap();
    assert_eq!(cache.get::<i32>("a").unwrap(), Some(1));
    assert!(cache.info("b").unwrap().unwrap().ttl.is_some());
    assert!(!cache.contains("old").unwrap());
    // One bad change and nothing is applied.
    let too_big = "x".repeat(1 << 19);
    let err = cache
        .batch()
        .set("c", &3)
        .unwrap()
        .set("huge", &too_big)
        .unwrap()
        .commit()
        .unwrap_err();
    assert!(matches!(err, CacheError::ValueTooLarge { .. }), "{err:?}");
    assert!(!cache.contains("c").unwrap());
    assert!(cache.batch().set("nan", &f64::NAN).is_err());
    cache.close().unwrap();
    let cache = open(tmp.path());
    assert_eq!(cache.get::<i32>("b").unwrap(), Some(2));
    assert!(!cache.contains("old").unwrap());
}

#[test]
fn entries_list_size_age_and_expiry_without_values() {
    let (clock, cache, _tmp) = manual();
    cache.set("sensor:b", &"xx").unwrap();
    clock.advance(SignedDuration::from_mins(1));
    cache
        .set_with_ttl("sensor:a", &1234, SignedDuration::from_mins(5))
        .unwrap();
    cache
        .set_with_ttl("sensor:gone", &1, SignedDuration::from_secs(1))
        .unwrap();
    cache.set("other", &1).unwrap();
    clock.advance(SignedDuration::from_secs(2));
    let entries = cache.entries_with_prefix("sensor:").unwrap();
    let keys: Vec<_> = entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["sensor:a", "sensor:b"]);
    let (_, a) = &entries[0];
    assert_eq!((a.size, a.age), (4, SignedDuration::from_secs(2)));
    assert_eq!(a.ttl, Some(SignedDuration::from_secs(298)));
    let (_, b) = &entries[1];
    assert_eq!((b.size, b.ttl), (4, None));
    assert_eq!(b.age, SignedDuration::from_secs(62));
}

#[test]
fn set_refuses_non_finite_floats_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = open(tmp.path());
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = cache.set("temperature", &bad).unwrap_err();
        assert!(matches!(err, CacheError::NonFinite { .. }), "{err:?}");
        assert!(err.to_string().contains("\"temperature\""), "{err}");
    }
    let err = cache
        .set("readings", &vec![Some(1.0), None, Some(f64::NAN)])
        .unwrap_err();
    assert!(
        err.to_string().contains("readings") && err.to_string().contains("NaN"),
        "{err}"
    );
    assert!(!cache.contains("temperature").unwrap());
    cache.set("readings", &vec![Some(1.0), None]).unwrap();
    assert_eq!(
        cache.get::<Vec<Option<f64>>>("readings").unwrap(),
        Some(vec![Some(1.0), None])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_values_are_served_while_one_refresh_runs_in_the_background() {
    let (clock, cache, _tmp) = manual();
    let calls = Arc::new(AtomicUsize::new(0));
    let how = || {
        Compute::fresh_for(SignedDuration::from_mins(5))
            .stale_while_revalidate(SignedDuration::from_hours(1))
    };
    let loader = |calls: Arc<AtomicUsize>| {
        move || async move {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, CacheError>(n)
        }
    };
    assert_eq!(
        cache
            .get_or_compute_with("v", how(), loader(calls.clone()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        cache
            .get_or_compute_with("v", how(), loader(calls.clone()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "fresh: no loader");
    clock.advance(SignedDuration::from_mins(6));
    // Stale: served at once, several callers start one refresh between them.
    for _ in 0..5 {
        assert_eq!(
            cache
                .get_or_compute_with("v", how(), loader(calls.clone()))
                .await
                .unwrap(),
            1
        );
    }
    for _ in 0..200 {
        if cache.get::<usize>("v").unwrap() == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        cache.get::<usize>("v").unwrap(),
        Some(2),
        "refreshed in the background"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one refresh for five stale reads"
    );
    // Past the stale window the entry is gone: the caller waits for a new value.
    clock.advance(SignedDuration::from_hours(2));
    assert_eq!(
        cache
            .get_or_compute_with("v", how(), loader(calls.clone()))
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn cache_if_keeps_only_what_it_accepts() {
    let (_clock, cache, _tmp) = manual();
    let how = || Compute::forever().cache_if(|v: &Vec<i32>| !v.is_empty());
    let empty = cache
        .get_or_compute_with("list", how(), || async { Ok::<_, CacheError>(Vec::new()) })
        .await
        .unwrap();
    assert!(empty.is_empty());
    assert!(
        !cache.contains("list").unwrap(),
        "an empty list is not kept"
    );
    let full = cache
        .get_or_compute_with("list", how(), || async { Ok::<_, CacheError>(vec![1]) })
        .await
        .unwrap();
    assert_eq!(full, vec![1]);
    assert_eq!(cache.get::<Vec<i32>>("list").unwrap(), Some(vec![1]));
}
