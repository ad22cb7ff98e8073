//! The persistent log store: JSON-lines files under `<data_dir>/logs/`, written by one thread.
//!
//! Each file is named after the instant of its first record
//! (`hassette-20261121T103512.123Z.jsonl`), so a file holds the records from its own start up
//! to the next file's start, and a reader picks the files of a time window from their names
//! alone. A new file starts every hour (UTC) and whenever the current one passes
//! `max_file_bytes`; old files are pruned by age and by the total size cap.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

const PREFIX: &str = "hassette-";
const SUFFIX: &str = ".jsonl";

/// How the store keeps its files.
#[derive(Clone, Debug)]
pub(crate) struct StoreOptions {
    pub(crate) dir: PathBuf,
    pub(crate) retention: SignedDuration,
    pub(crate) max_total_bytes: u64,
    pub(crate) max_file_bytes: u64,
    /// Records waiting for the writer thread; past this, records are dropped and counted.
    pub(crate) queue: usize,
}

/// A store file and the instant its first record was logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoreFile {
    pub(crate) start: Timestamp,
    pub(crate) path: PathBuf,
}

/// The store's files, oldest first. A missing directory is an empty store.
pub(crate) fn list_files(dir: &Path) -> io::Result<Vec<StoreFile>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(start) = name.to_str().and_then(parse_name) else {
            continue;
        };
        // Not one of ours, whatever its name (a reader warns about it).
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        files.push(StoreFile {
            start,
            path: entry.path(),
        });
    }
    files.sort_by_key(|f| f.start);
    Ok(files)
}

fn file_name(start: Timestamp) -> String {
    format!("{PREFIX}{}{SUFFIX}", start.strftime("%Y%m%dT%H%M%S.%3fZ"))
}

fn parse_name(name: &str) -> Option<Timestamp> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let stamp = stamp.strip_suffix('Z')?;
    let dt = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%S%.f", stamp).ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

enum Message {
    Line { ts: Timestamp, bytes: Vec<u8> },
    Flush(SyncSender<()>),
}

/// The sending side: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub(crate) struct StoreSender {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl StoreSender {
    /// Queues one record line (with its trailing newline). A full queue drops it and counts it:
    /// a slow disk must never block an app.
    pub(crate) fn send(&self, ts: Timestamp, bytes: Vec<u8>) {
        match self.tx.try_send(Message::Line { ts, bytes }) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every record queued so far is written to the file.
    pub(crate) fn flush(&self) {
        let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
        if self.tx.send(Message::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv_timeout(Duration::from_secs(5));
        }
    }
}

/// Starts the writer thread.
pub(crate) fn start(options: StoreOptions) -> io::Result<StoreSender> {
    crate::private_files::create_dir(&options.dir)?;
    let (tx, rx) = std::sync::mpsc::sync_channel(options.queue);
    let dropped = Arc::new(AtomicU64::new(0));
    let mut writer = Writer {
        options,
        current: None,
        written: 0,
        hour: 0,
    };
    writer.prune(Timestamp::now());
    // Detached: it ends when the last sender is dropped, after draining the queue.
    std::thread::Builder::new()
        .name("hassette-log".into())
        .spawn(move || writer.run(&rx))?;
    Ok(StoreSender { tx, dropped })
}

struct Writer {
    options: StoreOptions,
    current: Option<(PathBuf, BufWriter<File>)>,
    written: u64,
    hour: i64,
}

impl Writer {
    fn run(&mut self, rx: &Receiver<Message>) {
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(message) => {
                    self.handle(message);
                    // Batch what is already queued, then hand it to the OS so that readers
                    // (and a crash) see whole records promptly.
                    while let Ok(message) = rx.try_recv() {
                        self.handle(message);
                    }
                    self.flush();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.flush();
        if let Some((_, file)) = &mut self.current {
            let _ = file.get_ref().sync_all();
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Line { ts, bytes } => {
                if let Err(e) = self.write(ts, &bytes) {
                    // The store is failing; the console still has the record. Say so once per
                    // file attempt, on stderr, since logging would recurse.
                    eprintln!(
                        "hassette: cannot write the log store in {}: {e}",
                        self.options.dir.display()
                    );
                    self.current = None;
                }
            }
            Message::Flush(ack) => {
                self.flush();
                let _ = ack.send(());
            }
        }
    }

    fn write(&mut self, ts: Timestamp, bytes: &[u8]) -> io::Result<()> {
        let hour = ts.as_second().div_euclid(3600);
        let rotate = match &self.current {
            None => true,
            Some(_) => hour != self.hour || self.written >= self.options.max_file_bytes,
        };
        if rotate {
            self.rotate(ts)?;
            self.hour = hour;
        }
        if let Some((_, file)) = &mut self.current {
            file.write_all(bytes)?;
            self.written += bytes.len() as u64;
        }
        Ok(())
    }

    fn rotate(&mut self, ts: Timestamp) -> io::Result<()> {
        self.flush();
        // Continue the newest file if this record still belongs to its hour and it has room:
        // a restart within the hour does not need a new file.
        let newest = list_files(&self.options.dir)?.pop();
        if self.current.is_none()
            && let Some(f) = newest.filter(|f| {
                f.start.as_second().div_euclid(3600) == ts.as_second().div_euclid(3600)
                    && f.start <= ts
            })
        {
            let len = fs::metadata(&f.path)?.len();
            if len < self.options.max_file_bytes {
                let mut file = OpenOptions::new().read(true).append(true).open(&f.path)?;
                crate::private_files::restrict_file(&f.path)?;
                end_with_newline(&mut file, len)?;
                self.written = fs::metadata(&f.path)?.len();
                self.current = Some((f.path, BufWriter::with_capacity(64 * 1024, file)));
                return Ok(());
            }
        }
        // Names must sort in creation order: in a burst of rotations within one millisecond,
        // a new file starts a millisecond after the newest one.
        // Names hold milliseconds, so compare at that precision.
        let mut start = ts
            .round(
                jiff::TimestampRound::new()
                    .smallest(jiff::Unit::Millisecond)
                    .mode(jiff::RoundMode::Trunc),
            )
            .map_err(io::Error::other)?;
        if let Some(newest) = list_files(&self.options.dir)?.pop()
            && newest.start >= start
        {
            start = newest
                .start
                .checked_add(SignedDuration::from_millis(1))
                .map_err(io::Error::other)?;
        }
        let path = self.options.dir.join(file_name(start));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        crate::private_files::restrict_file(&path)?;
        self.current = Some((path, BufWriter::with_capacity(64 * 1024, file)));
        self.written = 0;
        self.prune(ts);
        Ok(())
    }

    fn flush(&mut self) {
        if let Some((_, file)) = &mut self.current {
            let _ = file.flush();
        }
    }

    /// Deletes files whose records are all older than the retention, then the oldest files
    /// while the store is over its size cap. The file being written is never deleted.
    fn prune(&mut self, now: Timestamp) {
        let Ok(files) = list_files(&self.options.dir) else {
            return;
        };
        let current = self.current.as_ref().map(|(p, _)| p.clone());
        let cutoff = now
            .checked_sub(self.options.retention)
            .unwrap_or(Timestamp::MIN);
        let mut kept = Vec::new();
        for (i, f) in files.iter().enumerate() {
            // A file's last write is when its last record was logged; the next file's start
            // bounds it when the modification time is unavailable.
            let modified = fs::metadata(&f.path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| Timestamp::try_from(t).ok());
            let end = modified
                .or_else(|| files.get(i + 1).map(|next| next.start))
                .unwrap_or(now);
            if end < cutoff && Some(&f.path) != current.as_ref() {
                let _ = fs::remove_file(&f.path);
            } else {
                let size = fs::metadata(&f.path).map_or(0, |m| m.len());
                kept.push((f.path.clone(), size));
            }
        }
        let mut total: u64 = kept.iter().map(|(_, s)| s).sum();
        for (path, size) in kept {
            if total <= self.options.max_total_bytes || Some(&path) == current.as_ref() {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= size;
            }
        }
    }
}

/// A crash may have left a partial last record; start the next one on its own line.
fn end_with_newline(file: &mut File, len: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_time() {
        let a: Timestamp = "2026-11-21T10:35:12.123Z".parse().unwrap();
        assert_eq!(file_name(a), "hassette-20261121T103512.123Z.jsonl");
        assert_eq!(parse_name(&file_name(a)), Some(a));
        let b: Timestamp = "2026-11-21T10:35:12.124Z".parse().unwrap();
        assert!(file_name(a) < file_name(b));
        assert_eq!(parse_name("hassette-garbage.jsonl"), None);
        assert_eq!(parse_name("other.txt"), None);
    }
}
