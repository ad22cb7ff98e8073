//! Log store benchmarks, driven by `bench/log-query/run`.

#![allow(clippy::expect_used)]
//!
//! - `generate DIR [RECORDS] [APPS] [DAYS]`: fills `DIR/logs` with a store as `hassette run`
//!   writes it (hourly files of at most 16 MiB, named for their first record), ending now.
//! - `emit [RECORDS]`: records per second a handler can log with the store on, beside
//!   `tracing` formatting to a null sink.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use hassette_core::logging::{LogOptions, store_layer};
use jiff::{SignedDuration, Timestamp};
use tracing_subscriber::layer::SubscriberExt;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("generate") => {
            let dir = args.get(1).map_or("log-store", String::as_str);
            let n = arg(&args, 2, 10_000_000);
            let apps = arg(&args, 3, 50);
            let days = arg(&args, 4, 7);
            generate(Path::new(dir), n, apps, days);
        }
        Some("emit") => emit(arg(&args, 1, 1_000_000)),
        _ => {
            eprintln!("usage: log_store generate DIR [RECORDS] [APPS] [DAYS] | emit [RECORDS]");
        }
    }
}

fn arg(args: &[String], i: usize, default: u64) -> u64 {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

const LEVELS: [&str; 4] = ["DEBUG", "INFO", "INFO", "WARN"];
const MESSAGES: [&str; 4] = [
    "cache get",
    "light turned on",
    "state changed",
    "service call took long",
];

fn generate(dir: &Path, n: u64, apps: u64, days: u64) {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("create the store directory");
    let end = Timestamp::now();
    let span_ns = i128::from(days) * 86_400 * 1_000_000_000;
    let start = end
        .checked_sub(SignedDuration::from_hours(
            i64::try_from(days * 24).unwrap_or(168),
        ))
        .expect("start");
    let step = span_ns / i128::from(n.max(1));
    let mut file: Option<(std::io::BufWriter<std::fs::File>, i64, u64)> = None;
    let mut rng = fastrand::Rng::with_seed(7);
    let t0 = Instant::now();
    for i in 0..n {
        let ts =
            Timestamp::from_nanosecond(start.as_nanosecond() + step * i128::from(i)).expect("ts");
        let hour = ts.as_second().div_euclid(3600);
        let rotate = file
            .as_ref()
            .is_none_or(|(_, h, size)| *h != hour || *size >= 16 * 1024 * 1024);
        if rotate {
            if let Some((mut w, _, _)) = file.take() {
                w.flush().expect("flush");
            }
            let name = format!("hassette-{}.jsonl", ts.strftime("%Y%m%dT%H%M%S.%3fZ"));
            let f = std::fs::File::create(logs.join(name)).expect("create a store file");
            file = Some((std::io::BufWriter::with_capacity(1 << 20, f), hour, 0));
        }
        let app = rng.u64(0..apps);
        let k = rng.usize(0..4);
        let line = format!(
            "{{\"ts\":\"{ts}\",\"level\":\"{}\",\"target\":\"apps_example::app{app}\",\"app\":\"app_{app}\",\"class\":\"Class{}\",\"instance\":\"Class{}.0\",\"component\":\"app\",\"msg\":\"{}\",\"fields\":{{\"entity\":\"light.room_{}\",\"n\":{i}}}}}\n",
            LEVELS[k],
            app % 10,
            app % 10,
            MESSAGES[k],
            rng.u32(0..200),
        );
        if let Some((w, _, size)) = &mut file {
            w.write_all(line.as_bytes()).expect("write");
            *size += line.len() as u64;
        }
    }
    if let Some((mut w, _, _)) = file {
        w.flush().expect("flush");
    }
    println!(
        "generated {n} records for {apps} apps over {days} days in {:?}",
        t0.elapsed()
    );
}

fn emit(n: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = LogOptions::new(dir.path().join("logs"), "info");
    let (layer, guard) = store_layer(&options).expect("store");
    let with_store = tracing_subscriber::registry().with(layer);
    let store_rate = tracing::subscriber::with_default(with_store, || time_emit(n));
    guard.flush();
    let dropped = guard.dropped();

    let null = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::sink)
            .with_ansi(false),
    );
    let null_rate = tracing::subscriber::with_default(null, || time_emit(n));
    println!(
        "{{\"bench\":\"emit\",\"records\":{n},\"store_per_s\":{store_rate:.0},\"null_fmt_per_s\":{null_rate:.0},\"store_dropped\":{dropped}}}"
    );
}

fn time_emit(n: u64) -> f64 {
    let span = tracing::info_span!(
        "app",
        app = "porch",
        class = "MotionLight",
        instance = "front"
    );
    let _entered = span.enter();
    let t0 = Instant::now();
    for i in 0..n {
        tracing::info!(entity = "light.porch", i, "light turned on");
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    rate
}
