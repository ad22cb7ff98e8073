//! Durability: reopen, TTL across restarts, SIGKILL at random moments.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use hassette_core::cache::{Cache, CacheOptions};
use hassette_core::clock::Clock;
use jiff::SignedDuration;

use super::{open, spawn_child};

#[test]
fn writes_survive_close_and_drop_without_close() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(
        CacheOptions::new(tmp.path(), "TestApp").flush_interval(Duration::from_secs(3600)),
    )
    .unwrap();
    cache.set("a", &1).unwrap();
    cache.set("b", &2).unwrap();
    assert!(cache.delete("b").unwrap());
    cache.close().unwrap();
    let cache = open(tmp.path());
    assert_eq!(cache.get::<i32>("a").unwrap(), Some(1));
    assert_eq!(cache.get::<i32>("b").unwrap(), None);
    cache.set("c", &3).unwrap();
    drop(cache);
    assert_eq!(open(tmp.path()).get::<i32>("c").unwrap(), Some(3));
}

#[test]
fn ttl_is_absolute_and_survives_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Clock::manual("2024-06-01T08:00:00Z".parse().unwrap());
    let opts = CacheOptions::new(tmp.path(), "TestApp").clock(clock.clone());
    let cache = Cache::open(opts.clone()).unwrap();
    cache
        .set_with_ttl("weather", &"sunny", Duration::from_secs(3600))
        .unwrap();
    cache
        .set_with_ttl("short", &1, Duration::from_secs(60))
        .unwrap();
    cache.set("forever", &1).unwrap();
    cache.close().unwrap();

    clock.advance(SignedDuration::from_mins(59));
    let cache = Cache::open(opts.clone()).unwrap();
    assert_eq!(
        cache.get::<String>("weather").unwrap().as_deref(),
        Some("sunny")
    );
    assert_eq!(
        cache.info("weather").unwrap().unwrap().ttl,
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        cache.get::<i32>("short").unwrap(),
        None,
        "expired while closed"
    );
    cache.close().unwrap();

    clock.advance(SignedDuration::from_mins(1));
    let cache = Cache::open(opts).unwrap();
    assert_eq!(
        cache.get::<String>("weather").unwrap(),
        None,
        "expired exactly at its time"
    );
    assert!(!cache.contains("weather").unwrap());
    assert_eq!(cache.get::<i32>("forever").unwrap(), Some(1));
}

#[test]
fn expired_entries_are_purged_in_the_background() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Clock::manual("2024-06-01T08:00:00Z".parse().unwrap());
    let cache = Cache::open(
        CacheOptions::new(tmp.path(), "TestApp")
            .clock(clock.clone())
            .flush_interval(Duration::from_millis(5)),
    )
    .unwrap();
    for i in 0..50 {
        cache
            .set_with_ttl(&format!("k{i}"), &i, Duration::from_secs(10))
            .unwrap();
    }
    cache.set("keep", &1).unwrap();
    clock.advance(SignedDuration::from_secs(11));
    // No call touches the expired keys: the flusher finds them.
    let mut waited = 0;
    while cache.stats().expirations < 50 {
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
        assert!(
            waited < 1000,
            "expired entries were not purged: {:?}",
            cache.stats()
        );
    }
    assert_eq!(cache.len().unwrap(), 1);
}

/// A writer child is SIGKILLed at random moments, 20 times on the same cache: every write it
/// had acknowledged is there afterwards, and the cache opens every time.
#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    for run in 0..20 {
        let tag = format!("r{run}");
        let mut child = spawn_child("writer", &dir, &tag);
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let kill_after = fastrand::u64(0..4000);
        let mut acked: Option<u64> = None;
        let mut line = String::new();
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            // libtest may print "test cache::child_process ... " before the first ack.
            if let Some(n) = line
                .split("ack ")
                .nth(1)
                .and_then(|s| s.trim_end().parse().ok())
                && line.ends_with('\n')
            {
                acked = Some(n);
                if n == kill_after {
                    child.kill().unwrap();
                }
            }
        }
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "the child should have been killed, not have stopped: {status:?}"
        );
        let cache = open(&dir);
        if let Some(last) = acked {
            for n in 0..=last {
                assert_eq!(
                    cache.get::<u64>(&format!("{tag}:k{n}")).unwrap(),
                    Some(n),
                    "run {run} lost k{n} (last ack {last})"
                );
            }
            let stored = cache.get::<u64>(&format!("{tag}:last")).unwrap().unwrap();
            assert!(
                stored >= last,
                "run {run}: last = {stored} < acknowledged {last}"
            );
        }
        cache.close().unwrap();
    }
}
