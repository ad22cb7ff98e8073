//! The in-memory side: the index of entries, hot values, pending changes and recency.
//!
//! Everything here sits behind one `std::sync::Mutex` whose critical sections are a hash
//! lookup or two: no I/O happens under it on the hot paths (a cold read may read redb under
//! it), and the flusher never holds it across a commit.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::codec::Meta;
use super::log::Wal;

/// Allocated database bytes per logical byte (see [`super::codec::Meta::charge`]) assumed
/// until measured. Measured at commits (redb 4.4, these tables): about 1.3 for 1 KiB values.
pub(crate) const INITIAL_RATIO: f64 = 1.3;

/// One key's state in memory.
#[derive(Debug)]
pub(crate) struct Slot {
    /// Valid when `live`.
    pub(crate) meta: Meta,
    /// The encoded value when held in memory. Always `Some` for a live slot whose version is
    /// not yet committed (the flusher needs it).
    pub(crate) value: Option<Arc<[u8]>>,
    /// `false`: a tombstone, a delete not yet known to be in the database.
    pub(crate) live: bool,
    /// The global write counter at this slot's last change.
    pub(crate) version: u64,
    /// In `State::dirty` (waiting for the next flush).
    pub(crate) dirty: bool,
    /// The database holds this version.
    pub(crate) committed: bool,
    /// In `State::touched` (read since the last flush; only its tick needs writing).
    pub(crate) touched: bool,
}

/// Counters reported by [`CacheStats`](super::CacheStats).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) sets: u64,
    pub(crate) deletes: u64,
    pub(crate) evictions: u64,
    pub(crate) expirations: u64,
    pub(crate) flushes: u64,
    pub(crate) compactions: u64,
    pub(crate) log_waits: u64,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) map: HashMap<Arc<str>, Slot>,
    /// The map holds every key in the database (the index finished loading). Until then a key
    /// missing from the map must be looked up in the database.
    pub(crate) complete: bool,
    /// Bumped by `clear`, so an index load that started before it is discarded.
    pub(crate) generation: u64,
    pub(crate) dirty: Vec<Arc<str>>,
    pub(crate) touched: Vec<Arc<str>>,
    pub(crate) clear_pending: bool,
    pub(crate) version: u64,
    pub(crate) tick: u64,
    pub(crate) wal: Wal,
    /// Bytes of the rotated log whose commit is in progress: with the current log they are
    /// what the log cap counts.
    pub(crate) committing: u64,
    /// Bytes of values held in memory.
    pub(crate) hot_bytes: u64,
    /// What live entries count toward the size limit (exact once `complete`).
    pub(crate) live_bytes: u64,
    pub(crate) live_count: u64,
    /// `(expires_us, key)` of entries with a TTL, for the background purge.
    pub(crate) expiry: BTreeSet<(i64, Arc<str>)>,
    pub(crate) counters: Counters,
    /// Set by `close`: every call after it fails with `Closed`.
    pub(crate) closed: bool,
    /// The flusher was asked to run before its next interval.
    pub(crate) flush_wanted: bool,
    /// The last background flush failed: writers blocked on the log cap get this instead of
    /// waiting forever.
    pub(crate) flush_error: Option<String>,
    /// The logical byte budget the flusher evicts down to (see `flusher.rs`).
    pub(crate) budget: u64,
    /// When access ticks were last written to the database.
    pub(crate) recency_saved_at: std::time::Instant,
    /// Allocated database bytes per logical byte, as last measured at a commit.
    pub(crate) ratio: f64,
    /// Allocated database bytes at the last measured commit.
    pub(crate) allocated: u64,
    /// Live bytes at the last measured commit.
    pub(crate) measured_live: u64,
    /// The last fresh count of allocated bytes taken while waiting to compact the file near
    /// half its target (see `Shared::keep_file_in_bounds`).
    pub(crate) last_fresh: Option<u64>,
    /// Commits since the last measured one.
    pub(crate) commits_since_measure: u32,
    /// When the allocated pages were last counted.
    pub(crate) last_measure: Option<std::time::Instant>,
}

impl State {
    pub(crate) fn new(wal: Wal, next_tick: u64, budget: u64) -> Self {
        Self {
            map: HashMap::new(),
            complete: false,
            generation: 0,
            dirty: Vec::new(),
            touched: Vec::new(),
            clear_pending: false,
            version: 0,
            tick: next_tick,
            wal,
            committing: 0,
            hot_bytes: 0,
            live_bytes: 0,
            live_count: 0,
            expiry: BTreeSet::new(),
            counters: Counters::default(),
            closed: false,
            flush_wanted: false,
            flush_error: None,
            budget,
            recency_saved_at: std::time::Instant::now(),
            ratio: INITIAL_RATIO,
            allocated: 0,
            last_fresh: None,
            measured_live: 0,
            commits_since_measure: 0,
            last_measure: None,
        }
    }

    pub(crate) fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Records a read for LRU: memory only, the tick reaches disk with the next flush.
    pub(crate) fn touch(&mut self, key: &str) {
        let tick = self.next_tick();
        let Some(slot) = self.map.get_mut(key) else {
            return;
        };
        slot.meta.tick = tick;
        if slot.touched {
            return;
        }
        slot.touched = true;
        if let Some((k, _)) = self.map.get_key_value(key) {
            self.touched.push(k.clone());
        }
    }

    /// Puts a live entry or a tombstone (`value == None && !live`) for `key` as a new,
    /// uncommitted version, keeping the byte counters and the expiry set in step.
    pub(crate) fn write(&mut self, key: &str, new: Option<(Meta, Arc<[u8]>)>) {
        self.version += 1;
        let version = self.version;
        let key: Arc<str> = match self.map.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => Arc::from(key),
        };
        if let Some(old) = self.map.get(&key) {
            let (live, meta, hot) = (
                old.live,
                old.meta,
                old.value.as_ref().map_or(0, |v| v.len()),
            );
            self.forget(&key, live, meta, hot as u64);
        }
        if let Some((meta, _)) = &new {
            self.live_bytes += meta.charge(&key);
            self.live_count += 1;
            self.hot_bytes += meta.size;
            if let Some(e) = meta.expires_us {
                self.expiry.insert((e, key.clone()));
            }
        }
        let slot = self.map.entry(key.clone()).or_insert_with(|| Slot {
            meta: Meta {
                created_us: 0,
                expires_us: None,
                size: 0,
                tick: 0,
            },
            value: None,
            live: false,
            version: 0,
            dirty: false,
            committed: false,
            touched: false,
        });
        slot.version = version;
        slot.committed = false;
        match new {
            Some((meta, value)) => {
                slot.meta = meta;
                slot.value = Some(value);
                slot.live = true;
            }
            None => {
                slot.value = None;
                slot.live = false;
            }
        }
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(key);
        }
    }

    /// Takes an entry's old contribution out of the counters.
    fn forget(&mut self, key: &Arc<str>, live: bool, meta: Meta, hot: u64) {
        self.hot_bytes = self.hot_bytes.saturating_sub(hot);
        if live {
            self.live_bytes = self.live_bytes.saturating_sub(meta.charge(key));
            self.live_count = self.live_count.saturating_sub(1);
            if let Some(e) = meta.expires_us {
                self.expiry.remove(&(e, key.clone()));
            }
        }
    }

    /// Adds a clean (committed) entry found in the database.
    pub(crate) fn adopt(&mut self, key: &str, meta: Meta, value: Option<Arc<[u8]>>) {
        let key: Arc<str> = Arc::from(key);
        self.live_bytes += meta.charge(&key);
        self.live_count += 1;
        self.hot_bytes += value.as_ref().map_or(0, |v| v.len() as u64);
        if let Some(e) = meta.expires_us {
            self.expiry.insert((e, key.clone()));
        }
        self.map.insert(
            key,
            Slot {
                meta,
                value,
                live: true,
                version: 0,
                dirty: false,
                committed: true,
                touched: false,
            },
        );
    }

    /// Forgets an entry the database dropped as unreadable (see `Store::collect`), unless it
    /// was written again since: memory must not go on answering for a key the file lost.
    pub(crate) fn lose(&mut self, key: &str) {
        let Some((key, slot)) = self.map.get_key_value(key) else {
            return;
        };
        if slot.dirty || !slot.committed {
            return;
        }
        let (key, live, meta) = (key.clone(), slot.live, slot.meta);
        let hot = slot.value.as_ref().map_or(0, |v| v.len() as u64);
        self.forget(&key, live, meta, hot);
        self.map.remove(&key);
    }

    /// Keeps a value read from disk in memory if the budget allows.
    pub(crate) fn promote(&mut self, key: &str, value: &Arc<[u8]>, budget: u64) {
        if self.hot_bytes + value.len() as u64 > budget {
            return;
        }
        if let Some(slot) = self.map.get_mut(key)
            && slot.live
            && slot.value.is_none()
        {
            slot.value = Some(value.clone());
            self.hot_bytes += value.len() as u64;
        }
    }

    /// Drops the in-memory copy of a committed value (it stays on disk).
    pub(crate) fn demote(&mut self, key: &str) {
        if let Some(slot) = self.map.get_mut(key)
            && slot.committed
            && let Some(v) = slot.value.take()
        {
            self.hot_bytes = self.hot_bytes.saturating_sub(v.len() as u64);
        }
    }

    /// Empties everything (for `clear`).
    pub(crate) fn reset(&mut self) {
        self.map.clear();
        self.dirty.clear();
        self.touched.clear();
        self.expiry.clear();
        self.clear_pending = true;
        self.complete = true;
        self.generation += 1;
        self.hot_bytes = 0;
        self.live_bytes = 0;
        self.live_count = 0;
    }
}
