//! The background work of one cache: durable batched commits, LRU eviction against the real
//! file size, trimming the in-memory value layer, purging expired entries, loading the index.
//!
//! Size control: redb files take 1.3x (1 KiB values) to over 2x (16 KiB values, allocated in
//! power-of-two page runs) the bytes stored in them, so the limit cannot be kept by counting
//! values. The flusher keeps a *logical* budget (keys + values + a per-entry overhead) and, at
//! each commit, reads redb's count of allocated pages: the ratio allocated/logical tells how
//! much logical data fits in the room the file has, and the budget follows it, up or down.
//! The room is the file target while the file can still double under it, else the file's
//! current size (redb doubles a file that needs to grow); a file stuck at a step far under
//! the target is compacted at the moment its next doubling lands just under the target.

use std::sync::{Arc, PoisonError};

use super::CacheError;
use super::shared::{Shared, budget_for, lock, room, target_file_len};
use super::store::Batch;

impl Shared {
    /// Loads the key index from the database (once), merging it under what memory knows.
    pub(crate) fn ensure_index(&self) -> Result<(), CacheError> {
        if lock(&self.state).complete {
            return Ok(());
        }
        let _one_loader = lock(&self.index_lock);
        let generation = {
            let st = self.lock_open()?;
            if st.complete {
                return Ok(());
            }
            st.generation
        };
        let loaded = self.store()?.load_index()?;
        // Merged in chunks so that readers are never held up for the whole load.
        for chunk in loaded.chunks(1024) {
            let mut st = lock(&self.state);
            if st.generation != generation || st.complete {
                return Ok(());
            }
            for (key, meta) in chunk {
                // Memory wins: a key there (live or a pending delete) is newer than the file.
                if !st.map.contains_key(key.as_str()) {
                    st.adopt(key, *meta, None);
                }
            }
        }
        let mut st = lock(&self.state);
        if st.generation == generation {
            st.map.retain(|_, s| s.live || !s.committed || s.dirty);
            let (mut bytes, mut count, mut hot) = (0, 0, 0);
            for (key, slot) in &st.map {
                hot += slot.value.as_ref().map_or(0, |v| v.len() as u64);
                if slot.live {
                    bytes += slot.meta.charge(key);
                    count += 1;
                }
            }
            st.live_bytes = bytes;
            st.live_count = count;
            st.hot_bytes = hot;
            st.complete = true;
        }
        Ok(())
    }

    /// Moves every pending change into the database with one durable commit, then deletes
    /// the log files it covered. Recency (access ticks of entries only read) is written when
    /// `save_recency`, or when it was last written a recency interval ago: a cache that is
    /// only read makes no commit in between, so reads cost the disk nothing.
    pub(crate) fn flush_once(&self, save_recency: bool) -> Result<(), CacheError> {
        let mut retained = lock(&self.flush_lock);
        let store = self.store()?;
        let mut versions = Vec::new();
        let (batch, old_log) = {
            let mut st = lock(&self.state);
            // Rotate first: if a new log file cannot be made (disk full, out of descriptors,
            // read-only directory), nothing has been taken from memory yet and every pending
            // change stays where the next flush (or close) finds it.
            let old_log = if st.wal.record_bytes() > 0 {
                let bytes = st.wal.len();
                match st.wal.rotate() {
                    Ok(old) => {
                        st.committing = bytes;
                        Some(old)
                    }
                    Err(e) => {
                        let err = CacheError::io(st.wal.path().to_path_buf(), e);
                        st.flush_error = Some(err.to_string());
                        self.writers_cv.notify_all();
                        return Err(err);
                    }
                }
            } else {
                None
            };
            self.purge_expired(&mut st);
            let mut batch = Batch {
                clear: std::mem::take(&mut st.clear_pending),
                ..Batch::default()
            };
            for key in std::mem::take(&mut st.dirty) {
                let Some(slot) = st.map.get_mut(&key) else {
                    continue;
                };
                slot.dirty = false;
                versions.push((key.clone(), slot.version));
                match (&slot.value, slot.live) {
                    (Some(value), true) => batch.puts.push((key, slot.meta, value.clone())),
                    _ => batch.deletes.push(key),
                }
            }
            let recency_due = save_recency
                || st.recency_saved_at.elapsed() >= self.recency_interval && !st.touched.is_empty();
            let touched = if recency_due {
                st.recency_saved_at = std::time::Instant::now();
                std::mem::take(&mut st.touched)
            } else {
                Vec::new()
            };
            for key in touched {
                if let Some(slot) = st.map.get_mut(&key) {
                    slot.touched = false;
                    if slot.live && slot.committed {
                        batch.touches.push((key, slot.meta));
                    }
                }
            }
            batch.next_tick = st.tick + 1;
            // Measure when the live size moved by 1% of the target since the last count, or
            // every 16th commit, at most once a second (at once past 10%): counting walks
            // every tree, which at a commit each 20 ms (writes outrunning the disk) took over
            // a third of the flusher's time.
            let target = target_file_len(self.limit);
            st.commits_since_measure += 1;
            let moved = st.live_bytes.abs_diff(st.measured_live);
            let recent = st
                .last_measure
                .is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(1));
            batch.measure = ((moved > target / 100 || st.commits_since_measure >= 16) && !recent)
                || moved > target / 10;
            batch.logs_through = old_log.as_ref().map(|(seq, _)| *seq);
            st.flush_wanted = false;
            self.wake_writer(&st);
            (batch, old_log)
        };
        if batch.is_empty() && old_log.is_none() && retained.is_empty() {
            return Ok(());
        }
        let result = store.commit(&batch);
        let mut st = lock(&self.state);
        st.committing = 0;
        match &result {
            Ok(committed) => {
                if let Some(allocated) = committed.allocated {
                    st.commits_since_measure = 0;
                    st.last_measure = Some(std::time::Instant::now());
                    st.measured_live = st.live_bytes;
                    self.measure(&mut st, allocated, store.file_len());
                } else {
                    // The file may have grown or shrunk: the room follows it.
                    let target = target_file_len(self.limit);
                    st.budget = budget_for(room(store.file_len(), target), st.ratio, self.limit);
                }
                let complete = st.complete;
                for (key, version) in versions {
                    let Some(slot) = st.map.get_mut(&key) else {
                        continue;
                    };
                    if slot.version == version {
                        slot.committed = true;
                        if !slot.live && complete && !slot.dirty {
                            st.map.remove(&key);
                        }
                    }
                }
                for key in &committed.lost {
                    st.lose(key);
                }
                st.counters.flushes += 1;
                st.flush_error = None;
            }
            Err(err) => {
                // Put the changes back so the next flush retries them.
                for (key, version) in versions {
                    if let Some(slot) = st.map.get_mut(&key)
                        && slot.version == version
                        && !slot.dirty
                    {
                        slot.dirty = true;
                        st.dirty.push(key);
                    }
                }
                st.clear_pending |= batch.clear;
                st.flush_error = Some(err.to_string());
            }
        }
        if st.flush_error.is_some() {
            self.writers_cv.notify_all();
        } else {
            self.wake_writer(&st);
        }
        drop(st);
        retained.extend(old_log.map(|(_, path)| path));
        let result = result.map(drop);
        if result.is_ok() {
            for path in retained.drain(..) {
                if let Err(err) = std::fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), error = %err, "cannot remove a flushed cache log");
                }
            }
        }
        result
    }

    /// Evicts least-recently-used entries until the logical size is at most `target`.
    /// Returns how many were evicted.
    pub(crate) fn evict_to(&self, target: u64) -> u64 {
        let mut candidates: Vec<(u64, Arc<str>)> = {
            let st = lock(&self.state);
            if st.live_bytes <= target || !st.complete {
                return 0;
            }
            st.map
                .iter()
                .filter(|(_, s)| s.live)
                .map(|(k, s)| (s.meta.tick, k.clone()))
                .collect()
        };
        candidates.sort_unstable();
        let mut st = lock(&self.state);
        let mut evicted = 0;
        for (n, (tick, key)) in candidates.into_iter().enumerate() {
            if st.live_bytes <= target {
                break;
            }
            // Let writers in between: one long hold would stall every writer (and the
            // runtime workers they run on) for the whole pass.
            if n % 256 == 255 {
                drop(st);
                super::shared::give_way();
                st = lock(&self.state);
            }
            // Skip entries read or written since the candidates were listed: they are recent.
            let Some(slot) = st.map.get(&key) else {
                continue;
            };
            if !slot.live || slot.meta.tick != tick {
                continue;
            }
            let size = slot.meta.size;
            st.write(&key, None);
            st.counters.evictions += 1;
            evicted += 1;
            tracing::debug!(class = %self.class, key = &*key, size, "cache entry evicted");
        }
        evicted
    }

    /// Drops in-memory copies of committed values, least recently used first, when the hot
    /// layer is over its budget.
    pub(crate) fn trim_hot(&self) {
        let mut candidates: Vec<(u64, Arc<str>)> = {
            let st = lock(&self.state);
            if st.hot_bytes <= self.memory_budget {
                return;
            }
            st.map
                .iter()
                .filter(|(_, s)| s.committed && s.value.is_some())
                .map(|(k, s)| (s.meta.tick, k.clone()))
                .collect()
        };
        candidates.sort_unstable();
        let low_water = self.memory_budget / 10 * 8;
        let mut st = lock(&self.state);
        for (_, key) in candidates {
            if st.hot_bytes <= low_water {
                break;
            }
            st.demote(&key);
        }
    }

    /// One round of background work.
    pub(crate) fn maintain(&self, save_recency: bool) -> Result<(), CacheError> {
        self.ensure_index()?;
        let budget = lock(&self.state).budget;
        self.evict_to(budget);
        self.flush_once(save_recency)?;
        self.keep_file_in_bounds()?;
        self.trim_hot();
        Ok(())
    }

    /// Sets the ratio of allocated database bytes to logical bytes from a commit's count,
    /// and the budget from it and from the room the file has: the budget grows as well as
    /// shrinks, following what the file really needs. A nearly empty cache says little about
    /// the ratio (redb's own tables dominate): the previous ratio is kept then.
    fn measure(&self, st: &mut super::memory::State, allocated: u64, file_len: u64) {
        let target = target_file_len(self.limit);
        if st.complete && st.live_bytes > target / 50 {
            st.ratio = (allocated as f64 / st.live_bytes as f64).max(0.5);
        }
        st.allocated = allocated;
        st.budget = budget_for(room(file_len, target), st.ratio, self.limit);
    }

    /// Keeps the database file under its target, and gives it the most room under it.
    ///
    /// redb doubles its file when it needs to grow, and shrinks it only to what is in use
    /// (at compaction). A file whose next doubling would pass the target must stay at its
    /// size; if that size is well under the target (a step that lands badly), the file is
    /// compacted once its pages in use are a little under half the target, so that the next
    /// doubling lands just under the target instead. When the file is over its target (pages
    /// freed in holes), entries are evicted down to the budget and the file is compacted.
    fn keep_file_in_bounds(&self) -> Result<(), CacheError> {
        let store = self.store()?;
        let target = target_file_len(self.limit);
        let file_len = store.file_len();
        let allocated = lock(&self.state).allocated;
        if file_len <= target {
            let badly_placed = room(file_len, target) == file_len && file_len < target / 100 * 85;
            // Near half the target, the pages in use are counted afresh at every round (the
            // last count may lag by a commit, up to two logs' worth, 4% of the target). The
            // file is compacted at the last round before the count would pass 49%, so that
            // its next doubling lands as close under the target as the rounds allow, or at
            // once if the cache already fills the file it has.
            let full = {
                let st = lock(&self.state);
                st.live_bytes >= st.budget / 100 * 97
            };
            let near = badly_placed && (full || allocated >= target / 100 * 30);
            let in_window = if near {
                let fresh = store.allocated_now()?;
                let mut st = lock(&self.state);
                let step = st
                    .last_fresh
                    .map_or(target / 25, |p| fresh.saturating_sub(p));
                st.last_fresh = Some(fresh);
                let half = target / 100 * 49;
                // A cache that fills the file it has is better off with twice what it holds
                // now, even when that lands short of the target.
                (full && (target / 4..=half).contains(&fresh))
                    || ((target / 100 * 40..=half).contains(&fresh)
                        && (fresh >= target / 100 * 47 || fresh + step > half))
            } else {
                false
            };
            if in_window {
                store.compact()?;
                let after = store.file_len();
                let mut st = lock(&self.state);
                st.counters.compactions += 1;
                st.budget = budget_for(room(after, target), st.ratio, self.limit);
                tracing::debug!(class = %self.class, before = file_len, after, "cache file compacted to grow into its target");
            }
            return Ok(());
        }
        for _ in 0..3 {
            let budget = {
                let mut st = lock(&self.state);
                st.budget = st.budget / 100 * 95;
                st.budget
            };
            self.evict_to(budget);
            self.flush_once(false)?;
            let before = store.file_len();
            store.compact()?;
            let after = store.file_len();
            lock(&self.state).counters.compactions += 1;
            tracing::debug!(class = %self.class, before, after, budget, "cache file compacted");
            if after <= target {
                break;
            }
        }
        Ok(())
    }

    /// The flusher thread's loop: wakes every flush interval, or early when asked.
    pub(crate) fn run_flusher(self: Arc<Self>) {
        loop {
            {
                let mut st = lock(&self.state);
                if !st.flush_wanted && !st.closed {
                    st = self
                        .flusher_cv
                        .wait_timeout(st, self.flush_interval)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                if st.closed {
                    return;
                }
            }
            if let Err(err) = self.maintain(false) {
                if matches!(err, CacheError::Closed { .. }) {
                    return;
                }
                tracing::error!(class = %self.class, error = %err, "cache background flush failed");
                // Do not spin on a persistent failure (disk full): retry at the next interval.
                let mut st = lock(&self.state);
                st.flush_wanted = false;
                if !st.closed {
                    let _ = self.flusher_cv.wait_timeout(st, self.flush_interval);
                }
            }
        }
    }

    /// Flushes, stops the flusher and releases the database (and its lock).
    pub(crate) fn close(&self) -> Result<(), CacheError> {
        if lock(&self.state).closed {
            return Ok(());
        }
        let result = self.flush_once(true);
        let mut st = lock(&self.state);
        st.closed = true;
        let empty_log = (st.wal.record_bytes() == 0).then(|| st.wal.path().to_path_buf());
        drop(st);
        self.flusher_cv.notify_all();
        self.writers_cv.notify_all();
        // Serialize with a flush in progress on the flusher thread before dropping the store.
        let retained = lock(&self.flush_lock);
        self.store
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(retained);
        if result.is_ok()
            && let Some(path) = empty_log
        {
            let _ = std::fs::remove_file(path);
        }
        result
    }
}
