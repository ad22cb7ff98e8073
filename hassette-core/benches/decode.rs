//! Decoding a recorded stream of `state_changed` frames into typed events, beside the floor:
//! a bare `serde_json::from_slice::<serde_json::Value>` of the same frames.
//!
//! The stream is built from the real states in `tests/data/ws-transcript-2024.3.3.jsonl`
//! (112 entities: lights with colour attributes, sensors, sun, ...): 10 000 frames, each an
//! event as HA sends it (`id` last), one in ten a coalesced array of two events.
//!
//! Run: `cargo bench -p hassette-core --bench decode`. One thread, best of several rounds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TRANSCRIPT: &str = include_str!("../tests/data/ws-transcript-2024.3.3.jsonl");
const FRAMES: usize = 10_000;
const ROUNDS: usize = 15;

fn recorded_states() -> Vec<Value> {
    for line in TRANSCRIPT.lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let raw = rec["raw"].as_str().unwrap();
        if rec["dir"] == "recv" && raw.contains(r#""id":4,"type":"result""#) {
            let msg: Value = serde_json::from_str(raw).unwrap();
            return msg["result"].as_array().unwrap().clone();
        }
    }
    panic!("no get_states reply in the transcript");
}

fn event(old: &Value, i: usize) -> (String, usize) {
    let mut new = old.clone();
    let ts = format!(
        "2026-11-21T08:{:02}:{:02}.{:06}+00:00",
        (i / 60) % 60,
        i % 60,
        i % 999_999
    );
    new["state"] = json!(if i.is_multiple_of(2) {
        "on".to_owned()
    } else {
        format!("{}.5", i % 40)
    });
    new["last_changed"] = json!(ts);
    new["last_updated"] = json!(ts);
    new["context"] = json!({"id": format!("01M7YJ415CVMDME8B9Z2V{i:05}"), "parent_id": null,
        "user_id": "e26ba79fbdb54ed8871449be93613f84"});
    let event = json!({
        "event_type": "state_changed",
        "data": {"entity_id": old["entity_id"], "old_state": old, "new_state": new},
        "origin": "LOCAL", "time_fired": ts, "context": new["context"],
    });
    (format!(r#"{{"type":"event","event":{event},"id":5}}"#), 1)
}

fn stream() -> (Vec<String>, usize) {
    let states = recorded_states();
    let mut frames = Vec::with_capacity(FRAMES);
    let mut events = 0;
    for i in 0..FRAMES {
        let s = &states[i % states.len()];
        if i % 10 == 9 {
            let (a, _) = event(s, i);
            let (b, _) = event(&states[(i * 7) % states.len()], i + 1);
            frames.push(format!("[{a},{b}]"));
            events += 2;
        } else {
            frames.push(event(s, i).0);
            events += 1;
        }
    }
    (frames, events)
}

fn best(mut f: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let (frames, events) = stream();
    let bytes: usize = frames.iter().map(String::len).sum();
    // Sanity: every frame decodes into typed state_changed events.
    let decoded: usize = frames
        .iter()
        .map(|f| {
            let evs = hassette_core::ha::decode_events(f).unwrap();
            assert!(evs.iter().all(|(_, e)| e.state_changed().is_some()));
            evs.len()
        })
        .sum();
    assert_eq!(decoded, events);

    let floor = best(|| {
        for f in &frames {
            black_box(serde_json::from_slice::<Value>(black_box(f.as_bytes())).unwrap());
        }
    });
    let ours = best(|| {
        for f in &frames {
            black_box(hassette_core::ha::decode_events(black_box(f)).unwrap());
        }
    });
    let rate = |d: Duration| events as f64 / d.as_secs_f64();
    println!(
        "decode: {} frames, {} state_changed events, {:.1} MiB",
        frames.len(),
        events,
        bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "floor  serde_json::from_slice::<Value>: {:>8.2} ms  {:>10.0} events/s",
        floor.as_secs_f64() * 1e3,
        rate(floor)
    );
    println!(
        "ours   ha::decode_events -> Event:      {:>8.2} ms  {:>10.0} events/s",
        ours.as_secs_f64() * 1e3,
        rate(ours)
    );
    println!(
        "ratio ours/floor: {:.2}x (target <= 1.5x)",
        ours.as_secs_f64() / floor.as_secs_f64()
    );
}
