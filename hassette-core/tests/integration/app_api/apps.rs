//! Apps talking to each other, the scheduler's named jobs, job list, jitter and dawn/dusk,
//! and the harness running several instances and two app classes.

use std::time::Duration;

use hassette_core::prelude::*;
use hassette_core::testing::AppHarness;
use jiff::SignedDuration;
use serde_json::json;

use super::{record, seen, tag};

#[derive(serde::Deserialize)]
struct TagConfig {
    tag: String,
}

/// An alarm, published on the `alarm` topic.
#[derive(Clone, Debug)]
struct Alarm {
    zone: String,
}

/// Publishes an alarm on the topic and tells the siren (an instance of [`Siren`]) directly,
/// when the front door opens.
struct Doorman {
    tag: String,
}

impl App for Doorman {
    type Config = TagConfig;
    type Message = ();

    async fn initialize(c: TagConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on("binary_sensor.front_door").to("on").send(());
        Ok(Self { tag: c.tag })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, (): ()) -> Result<(), BoxError> {
        let heard = ctx.publish(
            "alarm",
            Alarm {
                zone: "front".into(),
            },
        );
        record(&self.tag, format!("published to {heard}"));
        ctx.send_to::<Siren>("loud", SirenMsg::Sound(3))?;
        let missing = ctx
            .send_to::<Siren>("nobody", SirenMsg::Sound(1))
            .unwrap_err();
        record(&self.tag, missing.to_string());
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum SirenMsg {
    Alarm(Alarm),
    Sound(u8),
}

/// Listens on the `alarm` topic and takes direct orders.
struct Siren {
    tag: String,
}

#[derive(serde::Deserialize)]
struct SirenConfig {
    tag: String,
}

impl App for Siren {
    type Config = SirenConfig;
    type Message = SirenMsg;

    async fn initialize(c: SirenConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on_topic("alarm", SirenMsg::Alarm);
        Ok(Self { tag: c.tag })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, m: SirenMsg) -> Result<(), BoxError> {
        let what = match m {
            SirenMsg::Alarm(a) => format!("alarm {}", a.zone),
            SirenMsg::Sound(n) => format!("sound x{n}"),
        };
        record(&self.tag, format!("{}: {what}", ctx.instance_name()));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_talk_directly_and_on_a_topic() {
    let t = tag("talk");
    let h = AppHarness::<Siren>::builder()
        .config(&format!("tag = \"{t}\"\ninstance_name = \"loud\""))
        .instance(&format!("tag = \"{t}\"\ninstance_name = \"quiet\""))
        .with_app::<Doorman>("doorman", &format!("tag = \"{t}-door\""))
        .state("binary_sensor.front_door", "off", None)
        .start()
        .await
        .unwrap();
    h.set_state("binary_sensor.front_door", "on").await;
    let mut sirens = seen(&t);
    sirens.sort();
    // Both instances hear the topic; only `loud` gets the direct order.
    assert_eq!(
        sirens,
        ["loud: alarm front", "loud: sound x3", "quiet: alarm front"]
    );
    assert_eq!(
        seen(&format!("{t}-door")),
        [
            "published to 2",
            "no running instance \"nobody\" of app class Siren"
        ]
    );
    h.stop().await;
}

#[derive(Clone, Debug)]
enum TimerMsg {
    Tick(&'static str),
    Arm,
}

/// Re-arms a named job on every `Arm`, and schedules dawn, dusk and jittered jobs.
struct Timers {
    tag: String,
}

impl App for Timers {
    type Config = TagConfig;
    type Message = TimerMsg;

    async fn initialize(c: TagConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        let s = ctx.scheduler();
        s.run_at_dawn(SignedDuration::ZERO, TimerMsg::Tick("dawn"))?;
        s.run_at_dusk(SignedDuration::from_mins(-10), TimerMsg::Tick("dusk-10m"))?;
        ctx.scheduler()
            .named("jittered")
            .jitter(Duration::from_secs(60))
            .run_in(Duration::from_secs(600), TimerMsg::Tick("jittered"))?;
        ctx.bus().on("input_boolean.arm").send(TimerMsg::Arm);
        Ok(Self { tag: c.tag })
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, m: TimerMsg) -> Result<(), BoxError> {
        match m {
            TimerMsg::Arm => {
                ctx.scheduler()
                    .named("off")
                    .run_in(Duration::from_secs(60), TimerMsg::Tick("off"))?;
                let names: Vec<String> = (ctx.scheduler().jobs().into_iter())
                    .filter_map(|j| j.name.map(|n| format!("{n}@{}", j.next_due.is_some())))
                    .collect();
                record(&self.tag, format!("jobs {}", names.join(",")));
            }
            TimerMsg::Tick(what) => {
                record(
                    &self.tag,
                    format!("{what} at {}", ctx.now().timestamp().as_second()),
                );
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_jobs_replace_list_jitter_and_dawn_dusk() {
    let t = tag("timers");
    let start = jiff::Timestamp::from_second(1_750_000_000).unwrap();
    let at = |secs: i64| {
        jiff::Timestamp::from_second(1_750_000_000 + secs)
            .unwrap()
            .to_string()
    };
    let h = AppHarness::<Timers>::builder()
        .config(&format!("tag = \"{t}\""))
        .at(start)
        .state(
            "sun.sun",
            "below_horizon",
            Some(json!({
                "next_dawn": at(3600), "next_rising": at(5400),
                "next_setting": at(40_000), "next_dusk": at(42_000),
            })),
        )
        .state("input_boolean.arm", "off", None)
        .start()
        .await
        .unwrap();
    // Armed three times within a minute: one "off" job, 60 s after the last arm.
    h.set_state("input_boolean.arm", "on").await;
    h.advance(Duration::from_secs(20)).await;
    h.set_state("input_boolean.arm", "off").await;
    h.advance(Duration::from_secs(20)).await;
    h.set_state("input_boolean.arm", "on").await;
    assert_eq!(seen(&t)[2], "jobs jittered@true,off@true");
    h.advance(Duration::from_secs(59)).await;
    assert_eq!(seen(&t).len(), 3, "{:?}", seen(&t));
    h.advance(Duration::from_secs(2)).await;
    assert_eq!(seen(&t)[3], "off at 1750000100");
    // The jittered job: at 600 s plus at most 60 s.
    h.advance(Duration::from_secs(600)).await;
    let jittered: Vec<i64> = (seen(&t).iter())
        .filter_map(|s| s.strip_prefix("jittered at "))
        .map(|s| s.parse::<i64>().unwrap() - 1_750_000_000)
        .collect();
    assert_eq!(jittered.len(), 1, "{:?}", seen(&t));
    assert!((600..=660).contains(&jittered[0]), "{jittered:?}");
    h.advance(Duration::from_secs(3000)).await;
    assert!(
        seen(&t).contains(&"dawn at 1750003600".to_owned()),
        "{:?}",
        seen(&t)
    );
    h.advance(Duration::from_secs(40_000)).await;
    assert!(
        seen(&t).contains(&"dusk-10m at 1750041400".to_owned()),
        "{:?}",
        seen(&t)
    );
    assert_eq!(seen(&t).iter().filter(|s| s.starts_with("off")).count(), 1);
    h.stop().await;
}

/// Counts in its cache under its instance's key.
struct Tally;

impl App for Tally {
    type Config = TagConfig;
    type Message = ();

    async fn initialize(_: TagConfig, ctx: &AppContext<Self>) -> Result<Self, BoxError> {
        ctx.bus().on("input_boolean.count").to("on").send(());
        Ok(Self)
    }

    async fn handle(&mut self, ctx: &AppContext<Self>, (): ()) -> Result<(), BoxError> {
        ctx.cache().incr(&ctx.cache().scoped_key("n"), 1)?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_instances_and_a_restart_that_keeps_the_cache() {
    let mut h = AppHarness::<Tally>::builder()
        .config("tag = \"a\"\ninstance_name = \"a\"")
        .instance("tag = \"b\"\ninstance_name = \"b\"")
        .state("input_boolean.count", "off", None)
        .start()
        .await
        .unwrap();
    h.set_state("input_boolean.count", "on").await;
    h.set_state("input_boolean.count", "off").await;
    h.restart().await.unwrap();
    h.set_state("input_boolean.count", "on").await;
    let cache = h.cache();
    assert_eq!(cache.get::<i64>("a:n").unwrap(), Some(2));
    assert_eq!(cache.get::<i64>("b:n").unwrap(), Some(2));
    h.stop().await;
}
