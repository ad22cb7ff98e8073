//! Cache tests (issue 3): real redb files in temporary directories.
//!
//! Tests that need a second process re-execute this test binary, running only
//! [`child_process`] with `HASSETTE_CACHE_CHILD` set to a role.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod api_ops;
mod damage;
mod durability;
mod failures;
mod faults;
mod kills;
mod limits;
mod workload;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hassette_core::cache::{Cache, CacheOptions};

pub(crate) fn open(dir: &Path) -> Cache {
    Cache::open(CacheOptions::new(dir, "TestApp")).expect("open cache")
}

/// Sum of the sizes of the files in `dir`: what the size limit is about.
pub(crate) fn dir_size(dir: &Path) -> u64 {
    // A log file can be deleted between listing and stat: it then no longer counts.
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.expect("entry").metadata().ok())
        .filter(std::fs::Metadata::is_file)
        // What `du` says, or the apparent size when larger (a sparse file).
        .map(|m| m.len().max(std::os::unix::fs::MetadataExt::blocks(&m) * 512))
        .sum()
}

/// Starts this test binary as a child running `role` on the cache in `dir`.
pub(crate) fn spawn_child(role: &str, dir: &Path, extra: &str) -> Child {
    Command::new(std::env::current_exe().expect("current exe"))
        .args([
            "--exact",
            "cache::child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HASSETTE_CACHE_CHILD", role)
        .env("HASSETTE_CACHE_CHILD_DIR", dir)
        .env("HASSETTE_CACHE_CHILD_ARG", extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child")
}

/// The child side. A no-op in a normal test run.
///
/// - `writer`: writes `<run>:k<n> = n` and `<run>:last = n` as fast as it can, printing `n`
///   once both calls have returned, until it is killed.
/// - `holder`: opens the cache, prints `ready`, then waits to be killed.
#[test]
fn child_process() {
    let Ok(role) = std::env::var("HASSETTE_CACHE_CHILD") else {
        return;
    };
    let dir = std::env::var("HASSETTE_CACHE_CHILD_DIR").expect("dir");
    let arg = std::env::var("HASSETTE_CACHE_CHILD_ARG").unwrap_or_default();
    let mut out = std::io::stdout();
    match role.as_str() {
        "writer" => {
            let opts = CacheOptions::new(&dir, "TestApp").flush_interval(Duration::from_millis(3));
            let cache = Cache::open(opts).expect("child open");
            for n in 0u64.. {
                cache.set(&format!("{arg}:k{n}"), &n).expect("child set");
                cache.set(&format!("{arg}:last"), &n).expect("child set");
                writeln!(out, "ack {n}").expect("stdout");
                out.flush().expect("stdout");
            }
        }
        "holder" => {
            let _cache = open(Path::new(&dir));
            writeln!(out, "ready").expect("stdout");
            out.flush().expect("stdout");
            std::thread::sleep(Duration::from_secs(600));
        }
        "ops" => workload::run_ops(Path::new(&dir), &arg),
        other => panic!("unknown child role {other}"),
    }
}

/// A tracing subscriber writing DEBUG lines into a buffer, for asserting on logs.
#[derive(Clone, Default)]
pub(crate) struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub(crate) fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(self.clone())
            .finish()
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
