//! The state shared by every handle of one open cache, and the byte-level operations.
//!
//! The typed API in `mod.rs` encodes and decodes; everything here deals in JSON bytes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::codec::{Meta, micros, validate_key};
use super::log::{self, Contents, Op, Wal};
use super::memory::{INITIAL_RATIO, State};
use super::store::Store;
use super::{CacheError, CacheOptions};
use crate::clock::Clock;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) class: String,
    pub(crate) clock: Clock,
    pub(crate) limit: u64,
    pub(crate) max_value: u64,
    pub(crate) memory_budget: u64,
    /// Log size that asks the flusher to run early.
    pub(crate) log_soft: u64,
    /// Bytes not yet durable in the database (the current log and the one being committed)
    /// at which writers wait for the flusher (the logs count toward the size limit).
    pub(crate) log_hard: u64,
    pub(crate) flush_interval: Duration,
    /// How often access ticks of entries that were only read are written (see `flush_once`).
    pub(crate) recency_interval: Duration,
    pub(crate) state: Mutex<State>,
    /// Wakes the flusher.
    pub(crate) flusher_cv: Condvar,
    /// Wakes writers waiting for room in the log.
    pub(crate) writers_cv: Condvar,
    /// `None` once closed.
    pub(crate) store: RwLock<Option<Arc<Store>>>,
    /// Serializes flushes; holds log files whose commit failed, deleted after the next
    /// successful commit (which carries their changes).
    pub(crate) flush_lock: Mutex<Vec<PathBuf>>,
    pub(crate) index_lock: Mutex<()>,
    /// One async lock per key with a `get_or_compute` loader running.
    pub(crate) inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What the cache knows about a key.
pub(crate) enum Found {
    Missing,
    Present {
        meta: Meta,
        value: Option<Arc<[u8]>>,
    },
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn open(opts: &CacheOptions) -> Result<Self, CacheError> {
        let dir = opts.dir.clone();
        crate::private_files::create_dir(&dir).map_err(|e| CacheError::io(&dir, e))?;
        // `<data_dir>/<ClassName>` is ours too, and as private as the cache in it.
        if let Some(class_dir) = dir.parent().filter(|p| p.file_name().is_some()) {
            crate::private_files::create_dir(class_dir)
                .map_err(|e| CacheError::io(class_dir, e))?;
        }
        let memory_budget = opts.memory_budget as u64;
        let redb_cache = opts.memory_budget.clamp(1 << 20, 256 << 20);
        let opened = Store::open(&dir, redb_cache, opts.clock.now())?;
        let store = opened.store;

        // Read every log before changing anything, so a newer-format log leaves all untouched.
        let logs = log::list(&dir).map_err(|e| CacheError::io(&dir, e))?;
        let mut ops = Vec::new();
        let mut next_seq = 0;
        let mut replayed = Vec::new();
        let mut replayed_through = None;
        for (seq, path) in logs {
            next_seq = next_seq.max(seq + 1);
            if opened.logs_through.is_some_and(|done| seq <= done) {
                // Committed, but its deletion failed (read-only directory): already applied,
                // and replaying it would bring back what was deleted since.
                if let Err(err) = std::fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), error = %err, "cannot remove a flushed cache log");
                }
                continue;
            }
            replayed_through = Some(seq);
            match log::read(&path).map_err(|e| CacheError::io(&path, e))? {
                Contents::Newer(found) => {
                    return Err(CacheError::NewerFormat {
                        path,
                        found,
                        supported: super::codec::FORMAT_VERSION,
                    });
                }
                Contents::Foreign => {
                    let aside = log_aside(&path, opts.clock.now());
                    std::fs::rename(&path, &aside).map_err(|e| CacheError::io(&path, e))?;
                    tracing::error!(
                        path = %path.display(),
                        moved_to = %aside.display(),
                        "corrupt cache log {} moved aside to {}",
                        path.display(),
                        aside.display(),
                    );
                }
                Contents::Ops(mut found, damage) => {
                    let records = found.len();
                    ops.append(&mut found);
                    replayed.push((path, records, damage));
                }
            }
        }
        let mut next_tick = opened.next_tick;
        if !ops.is_empty() {
            let replayed_ops = ops.len();
            for op in &ops {
                if let log::OwnedOp::Put { meta, .. } = op {
                    next_tick = next_tick.max(meta.tick + 1);
                }
            }
            store.replay(ops, next_tick, replayed_through)?;
            tracing::debug!(class = %opts.class_name, records = replayed_ops, "cache log replayed");
        }
        for (path, records, damage) in replayed {
            if damage.is_clean() {
                std::fs::remove_file(&path).map_err(|e| CacheError::io(&path, e))?;
                continue;
            }
            let aside = log_aside(&path, opts.clock.now());
            std::fs::rename(&path, &aside).map_err(|e| CacheError::io(&path, e))?;
            tracing::error!(
                path = %path.display(),
                moved_to = %aside.display(),
                lost_bytes = damage.bad_bytes,
                damaged_stretches = damage.stretches,
                replayed_records = records,
                "damaged cache log {}: {} bytes in {} place(s) could not be read (at least that \
                 many writes are lost); the {} intact records were replayed and the file was kept \
                 as {}",
                path.display(),
                damage.bad_bytes,
                damage.stretches,
                records,
                aside.display(),
            );
        }
        let next_seq = next_seq.max(opened.logs_through.map_or(0, |s| s + 1));
        let wal = Wal::create(&dir, next_seq).map_err(|e| CacheError::io(&dir, e))?;

        let limit = opts.size_limit.max(64 * 1024);
        let log_hard = log_cap(limit);
        let target = target_file_len(limit);
        let room = room(store.file_len(), target);
        Ok(Self {
            dir,
            class: opts.class_name.clone(),
            clock: opts.clock.clone(),
            limit,
            max_value: limit / 4,
            memory_budget,
            log_soft: log_hard / 2,
            log_hard,
            flush_interval: opts.flush_interval,
            recency_interval: opts.recency_interval,
            state: Mutex::new(State::new(
                wal,
                next_tick,
                budget_for(room, INITIAL_RATIO, limit),
            )),
            flusher_cv: Condvar::new(),
            writers_cv: Condvar::new(),
            store: RwLock::new(Some(Arc::new(store))),
            flush_lock: Mutex::new(Vec::new()),
            index_lock: Mutex::new(()),
            inflight: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn store(&self) -> Result<Arc<Store>, CacheError> {
        self.store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| CacheError::Closed {
                path: self.dir.clone(),
            })
    }

    /// Locks the state of an open cache.
    pub(crate) fn lock_open(&self) -> Result<MutexGuard<'_, State>, CacheError> {
        give_way();
        // Uncontended, this is one atomic operation. Another writer holds the lock for one
        // `write(2)` of its record, a few microseconds: that is waited out by trying again
        // (handing the worker to other tasks with `block_in_place` costs far more than the
        // wait). Only a longer hold (the flusher's eviction pass, a log rotation) is waited
        // for off the runtime's worker.
        let mut tries = 0u32;
        let st = loop {
            match self.state.try_lock() {
                Ok(st) => break st,
                Err(std::sync::TryLockError::Poisoned(e)) => break e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) if tries < 64 => {
                    tries += 1;
                    if tries.is_multiple_of(8) {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    break off_the_runtime(|| lock(&self.state));
                }
            }
        };
        if st.closed {
            return Err(CacheError::Closed {
                path: self.dir.clone(),
            });
        }
        Ok(st)
    }

    fn now_us(&self) -> i64 {
        micros(self.clock.now())
    }

    /// The live, unexpired entry for `key`. Reads the database when memory does not know the
    /// key (index still loading) or, with `want_value`, when the value is not held in memory.
    pub(crate) fn resolve(
        &self,
        st: &mut State,
        key: &str,
        want_value: bool,
    ) -> Result<Found, CacheError> {
        if let Some(slot) = st.map.get(key) {
            if !slot.live {
                return Ok(Found::Missing);
            }
            let meta = slot.meta;
            if meta.expires_us.is_some() && meta.is_expired(self.now_us()) {
                self.expire(st, key);
                return Ok(Found::Missing);
            }
            if slot.value.is_some() || !want_value {
                return Ok(Found::Present {
                    meta,
                    value: slot.value.clone(),
                });
            }
            let Some((_, Some(value))) = self.store()?.read(key, true)? else {
                return Ok(Found::Missing);
            };
            let value: Arc<[u8]> = value.into();
            st.promote(key, &value, self.memory_budget);
            return Ok(Found::Present {
                meta,
                value: Some(value),
            });
        }
        if st.complete {
            return Ok(Found::Missing);
        }
        let Some((meta, value)) = self.store()?.read(key, want_value)? else {
            return Ok(Found::Missing);
        };
        st.adopt(key, meta, None);
        if meta.is_expired(self.now_us()) {
            self.expire(st, key);
            return Ok(Found::Missing);
        }
        let value: Option<Arc<[u8]>> = value.map(Into::into);
        if let Some(v) = &value {
            st.promote(key, v, self.memory_budget);
        }
        Ok(Found::Present { meta, value })
    }

    pub(crate) fn expire(&self, st: &mut State, key: &str) {
        st.write(key, None);
        st.counters.expirations += 1;
        tracing::debug!(class = %self.class, key, "cache entry expired");
    }

    /// Expires every entry whose time has come.
    pub(crate) fn purge_expired(&self, st: &mut State) {
        let now = self.now_us();
        while let Some((at, key)) = st.expiry.first().cloned() {
            if at > now {
                break;
            }
            st.expiry.pop_first();
            if st
                .map
                .get(&key)
                .is_some_and(|s| s.live && s.meta.expires_us == Some(at))
            {
                self.expire(st, &key);
            }
        }
    }

    /// Waits while the log is at its cap: the only time a writer waits, and only when writes
    /// outrun the disk. The log being committed counts toward the cap: writers that outrun
    /// the disk then take turns with the commit instead of running beside it, so that the
    /// cache's background work and its writers together never hold every core of a small
    /// machine for a whole commit (a timer on the same runtime would wait that long).
    pub(crate) fn room_in_log<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
    ) -> Result<MutexGuard<'a, State>, CacheError> {
        if !self.at_log_cap(&st) {
            return Ok(st);
        }
        st.counters.log_waits += 1;
        while self.at_log_cap(&st) {
            if st.closed {
                return Err(CacheError::Closed {
                    path: self.dir.clone(),
                });
            }
            if let Some(err) = &st.flush_error {
                return Err(CacheError::io(
                    st.wal.path().to_path_buf(),
                    std::io::Error::other(format!(
                        "the cache log is full and flushing fails: {err}"
                    )),
                ));
            }
            st.flush_wanted = true;
            self.flusher_cv.notify_one();
            st = off_the_runtime(|| {
                self.writers_cv
                    .wait_timeout(st, Duration::from_millis(100))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            });
        }
        // Woken one at a time: the next waiter goes once this one is through, so that a
        // commit's end wakes one thread, not every writer at once.
        self.wake_writer(&st);
        Ok(st)
    }

    /// Whether writers must wait for the flusher before logging more.
    pub(crate) fn at_log_cap(&self, st: &State) -> bool {
        st.wal.len() + st.committing >= self.log_hard
    }

    /// Lets one writer waiting at the log cap go, if there is room for it.
    pub(crate) fn wake_writer(&self, st: &State) {
        if !self.at_log_cap(st) {
            self.writers_cv.notify_one();
        }
    }

    /// Asks the flusher to run early when the log is getting long or the cache is over budget.
    pub(crate) fn nudge(&self, st: &mut State) {
        if !st.flush_wanted
            && (st.wal.len() >= self.log_soft || (st.complete && st.live_bytes > st.budget))
        {
            st.flush_wanted = true;
            self.flusher_cv.notify_one();
        }
    }

    pub(crate) fn get(&self, key: &str) -> Result<Option<Arc<[u8]>>, CacheError> {
        validate_key(key)?;
        let mut st = self.lock_open()?;
        let value = match self.resolve(&mut st, key, true)? {
            Found::Present { value, .. } => value,
            Found::Missing => None,
        };
        if value.is_some() {
            st.touch(key);
            st.counters.hits += 1;
        } else {
            st.counters.misses += 1;
        }
        drop(st);
        tracing::debug!(
            class = %self.class,
            key,
            hit = value.is_some(),
            size = value.as_ref().map_or(0, |v| v.len()),
            "cache get"
        );
        Ok(value)
    }

    pub(crate) fn contains(&self, key: &str) -> Result<bool, CacheError> {
        validate_key(key)?;
        let mut st = self.lock_open()?;
        Ok(matches!(
            self.resolve(&mut st, key, false)?,
            Found::Present { .. }
        ))
    }

    pub(crate) fn info(&self, key: &str) -> Result<Option<Meta>, CacheError> {
        validate_key(key)?;
        let mut st = self.lock_open()?;
        Ok(match self.resolve(&mut st, key, false)? {
            Found::Present { meta, .. } => Some(meta),
            Found::Missing => None,
        })
    }

    pub(crate) fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Option<SignedDuration>,
    ) -> Result<(), CacheError> {
        validate_key(key)?;
        let size = value.len() as u64;
        self.check_size(key, size)?;
        let now = self.clock.now();
        let expires_us = ttl.map(|d| self.expiry_after(d));
        let value: Arc<[u8]> = value.into();
        let st = self.lock_open()?;
        let mut st = self.room_in_log(st)?;
        self.put_locked(&mut st, key, now, expires_us, value)?;
        st.counters.sets += 1;
        self.nudge(&mut st);
        drop(st);
        tracing::debug!(class = %self.class, key, size, ttl = ?ttl, "cache set");
        Ok(())
    }

    /// Refuses a value too large for this cache.
    pub(crate) fn check_size(&self, key: &str, size: u64) -> Result<(), CacheError> {
        if size > self.max_value {
            return Err(CacheError::ValueTooLarge {
                key: key.to_owned(),
                size,
                limit: self.max_value,
            });
        }
        Ok(())
    }

    /// The absolute expiry `ttl` from now, in microseconds.
    pub(crate) fn expiry_after(&self, ttl: SignedDuration) -> i64 {
        micros(self.clock.now().checked_add(ttl).unwrap_or(Timestamp::MAX))
    }

    pub(crate) fn put_locked(
        &self,
        st: &mut State,
        key: &str,
        now: Timestamp,
        expires_us: Option<i64>,
        value: Arc<[u8]>,
    ) -> Result<(), CacheError> {
        let meta = Meta {
            created_us: micros(now),
            expires_us,
            size: value.len() as u64,
            tick: st.next_tick(),
        };
        self.put_meta(st, key, meta, value)
    }

    /// Logs and applies a put with the given metadata.
    pub(crate) fn put_meta(
        &self,
        st: &mut State,
        key: &str,
        meta: Meta,
        value: Arc<[u8]>,
    ) -> Result<(), CacheError> {
        st.wal
            .append(Op::Put {
                key,
                meta,
                value: &value,
            })
            .map_err(|e| CacheError::io(st.wal.path().to_path_buf(), e))?;
        st.write(key, Some((meta, value)));
        Ok(())
    }

    pub(crate) fn delete(&self, key: &str) -> Result<bool, CacheError> {
        validate_key(key)?;
        let st = self.lock_open()?;
        let mut st = self.room_in_log(st)?;
        let existed = matches!(self.resolve(&mut st, key, false)?, Found::Present { .. });
        if existed {
            self.log_delete(&mut st, key)?;
        }
        drop(st);
        tracing::debug!(class = %self.class, key, existed, "cache delete");
        Ok(existed)
    }

    /// Logs the delete of `key` (known to be present), then applies it: the one path for
    /// `delete` and `pop`, so both count and nudge the flusher alike.
    pub(crate) fn log_delete(&self, st: &mut State, key: &str) -> Result<(), CacheError> {
        st.wal
            .append(Op::Delete { key })
            .map_err(|e| CacheError::io(st.wal.path().to_path_buf(), e))?;
        st.write(key, None);
        st.counters.deletes += 1;
        self.nudge(st);
        Ok(())
    }

    /// Adds `by` to the integer under `key`; a new key (missing or expired) gets `new_ttl`,
    /// an existing one keeps its expiry.
    pub(crate) fn incr(
        &self,
        key: &str,
        by: i64,
        new_ttl: Option<SignedDuration>,
    ) -> Result<i64, CacheError> {
        validate_key(key)?;
        let st = self.lock_open()?;
        let mut st = self.room_in_log(st)?;
        let (current, expires_us) = match self.resolve(&mut st, key, true)? {
            Found::Missing => (0, new_ttl.map(|d| self.expiry_after(d))),
            Found::Present { meta, value } => {
                let bytes = value.unwrap_or_else(|| Arc::from(&b""[..]));
                let n = serde_json::from_slice::<i64>(&bytes).map_err(|source| {
                    CacheError::WrongType {
                        key: key.to_owned(),
                        expected: std::any::type_name::<i64>(),
                        source,
                    }
                })?;
                (n, meta.expires_us)
            }
        };
        let new = current
            .checked_add(by)
            .ok_or_else(|| CacheError::Overflow {
                key: key.to_owned(),
            })?;
        let bytes: Arc<[u8]> = new.to_string().into_bytes().into();
        let size = bytes.len();
        self.put_locked(&mut st, key, self.clock.now(), expires_us, bytes)?;
        st.counters.sets += 1;
        self.nudge(&mut st);
        drop(st);
        tracing::debug!(class = %self.class, key, size, value = new, "cache incr");
        Ok(new)
    }

    pub(crate) fn clear(&self) -> Result<(), CacheError> {
        let st = self.lock_open()?;
        let mut st = self.room_in_log(st)?;
        st.wal
            .append(Op::Clear)
            .map_err(|e| CacheError::io(st.wal.path().to_path_buf(), e))?;
        st.reset();
        drop(st);
        tracing::debug!(class = %self.class, "cache cleared");
        Ok(())
    }

    /// Runs `f` on the complete index (loading it first if needed), expired entries purged.
    pub(crate) fn with_index<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R, CacheError> {
        self.ensure_index()?;
        let mut st = self.lock_open()?;
        self.purge_expired(&mut st);
        Ok(f(&st))
    }

    /// The directory's size on disk: the database and the log files.
    pub(crate) fn disk_bytes(&self) -> u64 {
        dir_size(&self.dir)
    }
}

/// Runs `f`, which may block for a while (waiting at the log cap, opening and replaying),
/// without stalling the other tasks of a multi-threaded tokio runtime: the worker hands its
/// other tasks to another thread first. Elsewhere (no runtime, a current-thread runtime, a
/// plain thread) it simply runs `f`.
pub(crate) fn off_the_runtime<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// How long a cache thread runs between offers of its CPU (see [`give_way`]).
const GIVE_WAY_EVERY: Duration = Duration::from_micros(250);

thread_local! {
    /// When this thread's current stretch of cache work began, and its last cache call.
    static STRETCH: std::cell::Cell<Option<(std::time::Instant, std::time::Instant)>> =
        const { std::cell::Cell::new(None) };
}

/// Offers the CPU to another thread waiting for it, once a thread has made cache calls for
/// [`GIVE_WAY_EVERY`] without a pause as long: called by every cache call and, between
/// entries, by the flusher's long passes.
///
/// Writers that outrun the disk keep a small machine's every core busy: the runtime's
/// workers and the flusher. A thread woken then (the worker whose timer is due, the thread
/// in `block_on`) is not let in by the kernel until the running one sleeps or the next
/// scheduler tick comes, up to 4 ms on a 250 Hz kernel. A yield lets it in at once; when
/// nothing waits, it costs one system call. A call after a pause starts a new stretch
/// without yielding: the thread has not held the CPU, and a yield then would only hand it to
/// a thread that may keep it a whole tick (the flusher loading the index just after an open).
pub(crate) fn give_way() {
    STRETCH.with(|stretch| {
        let now = std::time::Instant::now();
        let start = match stretch.get() {
            Some((start, last)) if must_give_way(start, last, now) => {
                std::thread::yield_now();
                std::time::Instant::now()
            }
            Some((start, last)) if now.duration_since(last) < GIVE_WAY_EVERY => start,
            _ => now,
        };
        stretch.set(Some((start, now)));
    });
}

/// Whether a thread whose stretch of cache calls began at `start`, and whose last call was at
/// `last`, must yield at `now`: it has run a whole [`GIVE_WAY_EVERY`] without such a pause.
fn must_give_way(
    start: std::time::Instant,
    last: std::time::Instant,
    now: std::time::Instant,
) -> bool {
    now.duration_since(last) < GIVE_WAY_EVERY && now.duration_since(start) >= GIVE_WAY_EVERY
}

/// Where a damaged log file is kept: beside it, named after the time it was found.
fn log_aside(path: &std::path::Path, now: Timestamp) -> PathBuf {
    super::store::aside_path(path, now)
}

/// The database file size the flusher keeps under. The directory may reach 110% of the
/// limit: the rest is room for the log files (two at most, each capped at 2% of the limit,
/// the older one until the commit that empties it is durable) and a margin of 4% for a
/// commit that allocates more than measured.
pub(crate) fn target_file_len(limit: u64) -> u64 {
    limit / 100 * 106 - 2 * log_cap(limit)
}

/// The log size at which writers wait for the flusher.
pub(crate) fn log_cap(limit: u64) -> u64 {
    (limit / 50).clamp(16 * 1024, 64 << 20)
}

/// The share of the file's room given to live data; the rest absorbs pages freed in holes.
pub(crate) const SHARE: f64 = 0.96;

/// The file size the database may use: the target when it can still grow (redb doubles a
/// file that needs more room, plus a little for its region header), else its current size.
pub(crate) fn room(file_len: u64, target: u64) -> u64 {
    if file_len.saturating_mul(2) + 64 * 1024 <= target {
        target
    } else {
        file_len.min(target)
    }
}

/// The logical budget that fits in `room` file bytes: besides live data, a commit allocates
/// the pages of everything logged since the last one (up to two logs' worth) before the
/// pages it replaces are freed.
pub(crate) fn budget_for(room: u64, ratio: f64, limit: u64) -> u64 {
    ((room as f64 * SHARE / ratio) as u64).saturating_sub(2 * log_cap(limit))
}

/// What the files directly in `dir` occupy: per file, the blocks it takes on disk (what `du`
/// says) or its apparent size when that is larger (a sparse file), summed.
pub(crate) fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|m| {
                m.len()
                    .max(std::os::unix::fs::MetadataExt::blocks(&m) * 512)
            })
            .sum()
    })
}

#[cfg(test)]
mod tests {
    use super::{GIVE_WAY_EVERY, must_give_way};
    use std::time::{Duration, Instant};

    #[test]
    fn a_thread_gives_way_after_a_stretch_of_calls_but_not_after_a_pause() {
        let t0 = Instant::now();
        let at = |us: u64| t0 + Duration::from_micros(us);
        let every = GIVE_WAY_EVERY.as_micros() as u64;
        // Calls close together: no yield until the stretch is as long as GIVE_WAY_EVERY.
        assert!(!must_give_way(t0, at(every - 10), at(every - 5)));
        assert!(must_give_way(t0, at(every - 5), at(every)));
        assert!(must_give_way(t0, at(4 * every), at(4 * every + 1)));
        // A pause as long as GIVE_WAY_EVERY since the last call: the thread did not hold the
        // CPU, however long ago its stretch began.
        assert!(!must_give_way(t0, at(every), at(2 * every)));
        assert!(!must_give_way(t0, at(10), at(10 * every)));
    }
}
