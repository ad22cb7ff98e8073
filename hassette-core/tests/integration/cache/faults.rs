//! Transient faults lose nothing acknowledged: disk full (a small tmpfs), descriptors
//! exhausted (a child with a low `RLIMIT_NOFILE`), a directory made read-only mid-run. After
//! the fault clears, every acknowledged set, delete and clear is there, after a clean close
//! and reopen and after a SIGKILL and reopen.
//!
//! The workload runs in a child process (see `workload.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::workload::Run;

/// Whether this process may mount file systems (CI runs as root).
pub(crate) fn is_root() -> bool {
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
    model.check(&dir, false);
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
        m.last_set.is_some_and(|n| n >= 1200)
    });
    let model = if kill { run.kill() } else { run.stop(&dir) };
    assert!(model.saw.iter().any(|l| l == "fault"));
    model.check(&dir, false);
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
    model.check(&dir, false);
}

#[test]
fn a_read_only_directory_loses_nothing_acknowledged_clean_close() {
    read_only_dir(false);
}

#[test]
fn a_read_only_directory_loses_nothing_acknowledged_sigkill() {
    read_only_dir(true);
}

/// A commit that meets the full disk (not only a log write) leaves redb refusing every later
/// call ("previous I/O error") until the database is opened again: once there is room, the
/// cache does that by itself, commits what was pending, and closes cleanly.
#[test]
fn a_commit_that_meets_a_full_disk_is_retried_once_there_is_room() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return;
    }
    let disk = SmallDisk::new(8 << 20);
    let dir = disk.mount.join("cache");
    let open = || {
        hassette_core::cache::Cache::open(
            hassette_core::cache::CacheOptions::new(&dir, "TestApp")
                .flush_interval(Duration::from_secs(3600)),
        )
        .unwrap()
    };
    let cache = open();
    let value = "v".repeat(2000);
    for i in 0..500 {
        cache.set(&format!("k{i:04}"), &value).unwrap();
    }
    // Everything is in the log; the commit that moves it into the database needs new pages
    // (about 1 MB), but the new log file the flush starts with (one page) still fits.
    let ballast = fill_disk(&disk.mount);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&ballast)
        .unwrap();
    f.set_len(f.metadata().unwrap().len() - 16 * 1024).unwrap();
    drop(f);
    let err = cache.flush().expect_err("a commit on a full disk fails");
    assert!(
        format!("{err}").contains("No space left on device"),
        "the error does not say the disk is full: {err}"
    );
    std::fs::remove_file(ballast).unwrap();
    cache
        .flush()
        .expect("the commit succeeds once there is room");
    cache.set("after", &1).unwrap();
    cache.close().expect("a clean close");
    let cache = open();
    for i in 0..500 {
        assert_eq!(
            cache.get::<String>(&format!("k{i:04}")).unwrap().as_deref(),
            Some(value.as_str()),
            "k{i:04}"
        );
    }
    assert_eq!(cache.get::<i32>("after").unwrap(), Some(1));
}
