//! Transient faults lose nothing acknowledged: disk full (a small tmpfs), descriptors
//! exhausted (a child with a low `RLIMIT_NOFILE`), a directory made read-only mid-run. After
//! the fault clears, every acknowledged set, delete and clear is there, after a clean close
//! and reopen and after a SIGKILL and reopen.
//!
//! The workload runs in a child process (role `ops`, see `run_ops`), printing each operation
//! once it was acknowledged; the parent replays those lines into a model and compares.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use hassette_core::cache::{Cache, CacheOptions};

/// Whether this process may mount file systems (CI runs as root).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

/// A tmpfs of `bytes` mounted on a fresh directory; unmounted when dropped.
struct SmallDisk {
    mount: PathBuf,
    _tmp: tempfile::TempDir,
}

impl SmallDisk {
    fn new(bytes: u64) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mount = tmp.path().join("disk");
        std::fs::create_dir(&mount).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&mount)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs failed");
        Self { mount, _tmp: tmp }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .arg("-R")
            .arg("-i")
            .arg(&self.mount)
            .status();
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// The child side: `ops <mode>` on the cache in `dir`. Modes: `plain` (the parent makes the
/// fault), `fds` (the child exhausts its own descriptors for a while). Stops when `<dir>.stop`
/// exists: closes the cache and prints `closed`.
pub(crate) fn run_ops(dir: &Path, mode: &str) {
    let mut out = std::io::stdout();
    let opts = CacheOptions::new(dir, "TestApp")
        .size_limit(64 << 20)
        .flush_interval(Duration::from_millis(5));
    let cache = Cache::open(opts).expect("child open");
    let stop = dir.with_extension("stop");
    let value = "v".repeat(1000);
    let mut held = Vec::new();
    for n in 0u64.. {
        if mode == "fds" {
            if n == 300 {
                // Every descriptor this process may have: log rotations now fail.
                while let Ok(f) = std::fs::File::open("/dev/null") {
                    held.push(f);
                }
                writeln!(out, "fault").unwrap();
            }
            if n == 900 {
                held.clear();
                writeln!(out, "cleared").unwrap();
            }
        }
        let line = match cache.set(&format!("k{n}"), &(n, &value)) {
            Ok(()) => format!("set {n}"),
            Err(e) => format!("fail {e}"),
        };
        writeln!(out, "{line}").unwrap();
        if n % 7 == 0 && n >= 3 {
            let line = match cache.delete(&format!("k{}", n - 3)) {
                Ok(true) => format!("del {}", n - 3),
                Ok(false) => "nodel".to_owned(),
                Err(e) => format!("fail {e}"),
            };
            writeln!(out, "{line}").unwrap();
        }
        if n % 300 == 150 {
            let line = match cache.clear() {
                Ok(()) => "clear".to_owned(),
                Err(e) => format!("fail {e}"),
            };
            writeln!(out, "{line}").unwrap();
        }
        out.flush().unwrap();
        if stop.exists() {
            held.clear();
            let line = match cache.close() {
                Ok(()) => "closed".to_owned(),
                Err(e) => format!("close-failed {e}"),
            };
            writeln!(out, "{line}").unwrap();
            out.flush().unwrap();
            return;
        }
        std::thread::sleep(Duration::from_micros(300));
    }
}

/// What the parent learned from the child's acknowledgements.
#[derive(Default)]
struct Model {
    values: HashMap<u64, bool>,
    acks: u64,
    failures: Vec<String>,
    closed: Option<String>,
    saw: Vec<String>,
}

impl Model {
    fn apply(&mut self, line: &str) {
        let line = line.trim_end();
        // libtest prints "test cache::child_process ... " before the child's first line.
        let line = line.rsplit("... ").next().unwrap_or(line);
        if let Some(n) = line.strip_prefix("set ") {
            self.values.insert(n.parse().unwrap(), true);
            self.acks += 1;
        } else if let Some(n) = line.strip_prefix("del ") {
            self.values.insert(n.parse().unwrap(), false);
            self.acks += 1;
        } else if line == "clear" {
            for v in self.values.values_mut() {
                *v = false;
            }
            self.acks += 1;
        } else if let Some(e) = line.strip_prefix("fail ") {
            self.failures.push(e.to_owned());
        } else if line == "closed" || line.starts_with("close-failed") {
            self.closed = Some(line.to_owned());
        } else if !line.is_empty() {
            self.saw.push(line.to_owned());
        }
    }

    /// Every acknowledged operation is visible in the cache at `dir`.
    fn check(&self, dir: &Path) {
        let cache = Cache::open(CacheOptions::new(dir, "TestApp").size_limit(64 << 20)).unwrap();
        let mut wrong = Vec::new();
        for (&n, &present) in &self.values {
            let got = cache.get::<(u64, String)>(&format!("k{n}")).unwrap();
            if got.is_some() != present || got.is_some_and(|(m, _)| m != n) {
                wrong.push(n);
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {} acknowledged keys wrong after reopen (e.g. {:?}); {} failures: {:?}",
            wrong.len(),
            self.values.len(),
            &wrong[..wrong.len().min(10)],
            self.failures.len(),
            self.failures.first()
        );
        cache.close().unwrap();
    }
}

struct Run {
    child: Child,
    out: BufReader<ChildStdout>,
    model: Model,
}

impl Run {
    fn start(dir: &Path, mode: &str, nofile: Option<u32>) -> Self {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match nofile {
            // A shell lowers the limit and then becomes the test binary.
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.args([
            "--exact",
            "cache::child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HASSETTE_CACHE_CHILD", "ops")
        .env("HASSETTE_CACHE_CHILD_DIR", dir)
        .env("HASSETTE_CACHE_CHILD_ARG", mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            out,
            model: Model::default(),
        }
    }

    /// Reads lines until `done` says so (or the child ends: then panics).
    fn until(&mut self, what: &str, mut done: impl FnMut(&Model) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut line = String::new();
        while !done(&self.model) {
            line.clear();
            let n = self.out.read_line(&mut line).unwrap();
            assert!(
                n > 0 && Instant::now() < deadline,
                "child ended or stalled waiting for {what}; seen {:?}, failures {:?}",
                self.model.saw,
                self.model.failures.last()
            );
            self.model.apply(&line);
        }
    }

    fn kill(mut self) -> Model {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        // Lines already written before the kill were acknowledged too.
        let mut line = String::new();
        while self.out.read_line(&mut line).unwrap_or(0) > 0 {
            self.model.apply(&line);
            line.clear();
        }
        self.model
    }

    fn stop(mut self, dir: &Path) -> Model {
        std::fs::write(dir.with_extension("stop"), b"").unwrap();
        self.until("a clean close", |m| m.closed.is_some());
        self.child.wait().unwrap();
        let closed = self.model.closed.clone().unwrap_or_default();
        assert_eq!(closed, "closed", "the close after the fault failed");
        self.model
    }
}

/// Fills the file system holding `dir` to the last byte.
fn fill_disk(dir: &Path) -> PathBuf {
    let ballast = dir.join("ballast");
    let mut f = std::fs::File::create(&ballast).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    while f.write_all(&chunk[..64]).is_ok() {}
    ballast
}

fn disk_full(kill: bool) {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return;
    }
    let disk = SmallDisk::new(8 << 20);
    let dir = disk.mount.join("cache");
    let mut run = Run::start(&dir, "plain", None);
    run.until("200 acknowledgements", |m| m.acks >= 200);
    let ballast = fill_disk(&disk.mount);
    run.until("writes refused for a full disk", |m| m.failures.len() >= 20);
    let acked_in_fault = run.model.acks;
    assert!(
        run.model
            .failures
            .iter()
            .any(|f| f.contains("No space left on device")),
        "the error does not say the disk is full: {:?}",
        run.model.failures.first()
    );
    std::fs::remove_file(ballast).unwrap();
    run.until("writes after the fault", |m| m.acks >= acked_in_fault + 300);
    let model = if kill { run.kill() } else { run.stop(&dir) };
    model.check(&dir);
}

#[test]
fn a_full_disk_loses_nothing_acknowledged_clean_close() {
    disk_full(false);
}

#[test]
fn a_full_disk_loses_nothing_acknowledged_sigkill() {
    disk_full(true);
}

fn out_of_descriptors(kill: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let mut run = Run::start(&dir, "fds", Some(128));
    run.until("descriptors freed", |m| {
        m.saw.iter().any(|l| l == "cleared")
    });
    run.until("writes after the fault", |m| {
        m.values.keys().max().is_some_and(|&n| n >= 1200)
    });
    let model = if kill { run.kill() } else { run.stop(&dir) };
    assert!(model.saw.iter().any(|l| l == "fault"));
    model.check(&dir);
}

#[test]
fn running_out_of_descriptors_loses_nothing_acknowledged_clean_close() {
    out_of_descriptors(false);
}

#[test]
fn running_out_of_descriptors_loses_nothing_acknowledged_sigkill() {
    out_of_descriptors(true);
}

fn read_only_dir(kill: bool) {
    if !is_root() {
        eprintln!("skipped: chattr and mount need root (CI runs as root)");
        return;
    }
    let disk = SmallDisk::new(64 << 20);
    let dir = disk.mount.join("cache");
    let mut run = Run::start(&dir, "plain", None);
    run.until("200 acknowledgements", |m| m.acks >= 200);
    // Immutable: no file can be created, renamed or removed in it, even by root.
    assert!(
        Command::new("chattr")
            .arg("+i")
            .arg(&dir)
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(300));
    let acked = run.model.acks;
    run.until("writes during the fault", |m| m.acks >= acked + 300);
    assert!(
        Command::new("chattr")
            .arg("-i")
            .arg(&dir)
            .status()
            .unwrap()
            .success()
    );
    let acked = run.model.acks;
    run.until("writes after the fault", |m| m.acks >= acked + 300);
    let model = if kill { run.kill() } else { run.stop(&dir) };
    model.check(&dir);
}

#[test]
fn a_read_only_directory_loses_nothing_acknowledged_clean_close() {
    read_only_dir(false);
}

#[test]
fn a_read_only_directory_loses_nothing_acknowledged_sigkill() {
    read_only_dir(true);
}
