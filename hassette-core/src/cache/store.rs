//! The redb database under the log: opening it safely, batched durable commits, cold reads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, TableError,
};

use super::CacheError;
use super::codec::{Meta, decode_stored, encode_stored};
use super::heap::{self, HEAP, HEAP_LIVE, HeapTxn};
use super::log::OwnedOp;

/// The database's format, in its `info` table: 2 since values live in the heap (`heap.rs`).
/// Format 1 files (values in `values` and `chunks`) are read, and converted as they are
/// written; an older build refuses a format 2 file instead of misreading it.
pub(crate) const DB_FORMAT_VERSION: u64 = 2;

/// The database file's name inside the cache directory.
pub(crate) const DB_FILE: &str = "cache.redb";

/// Encoded values (JSON), by key, in format 1 files (now in the heap).
const VALUES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("values");
/// In format 1 files (read, no longer written), values longer than [`chunk_len`] of their
/// key, in pieces: `(key, n)` holds bytes `n * chunk_len ..` of the value. redb stores a
/// value larger than a page in a run of pages rounded up to a power of two (a 16 KiB value
/// takes 32 KiB); pieces that fill one page each waste almost nothing.
const CHUNKS: TableDefinition<'_, (&str, u32), &[u8]> = TableDefinition::new("chunks");
/// Entry metadata and, since format 2, the value's position in the heap ([`encode_stored`];
/// format 1: [`Meta::encode`]), by key: kept apart from the values so that loading the index
/// and persisting access ticks never touch the (possibly large) values.
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
/// `format_version`, `next_tick` and `logs_through` (every log file up to that sequence number
/// is in the database: one left behind because it could not be deleted is not replayed).
const INFO: TableDefinition<'_, &str, u64> = TableDefinition::new("info");

/// The piece length for `key`'s value: what fits in one 4 KiB leaf page with the key and
/// redb's page and entry headers. Keys are at most 1024 bytes, so pieces are at least 2.9 KiB.
pub(crate) fn chunk_len(key: &str) -> usize {
    4096 - 96 - key.len()
}

/// Whether a value of `size` bytes under `key` is stored in pieces.
fn chunked(key: &str, size: u64) -> bool {
    size > chunk_len(key) as u64
}

/// The heap position and length of the value a `meta` table value describes; `None` for a
/// format 1 entry (its value is in `values` or `chunks`).
fn stored_pos(stored: &[u8]) -> Option<(u64, u64)> {
    let (meta, pos) = decode_stored(stored)?;
    Some((pos?, meta.size))
}

/// An entry read back: its metadata and, when asked for, its value.
pub(crate) type Stored = (Meta, Option<Vec<u8>>);
type Entry = (Meta, Arc<[u8]>);

/// Changes moved from memory into the database by one commit.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) clear: bool,
    pub(crate) puts: Vec<(Arc<str>, Meta, Arc<[u8]>)>,
    pub(crate) deletes: Vec<Arc<str>>,
    /// Entries read since the last flush: only their access tick is rewritten.
    pub(crate) touches: Vec<(Arc<str>, Meta)>,
    pub(crate) next_tick: u64,
    /// The newest log file whose records this commit completes.
    pub(crate) logs_through: Option<u64>,
    /// Count the allocated pages (it walks every table's tree, so not at every commit).
    pub(crate) measure: bool,
}

/// What a commit reports besides success.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    /// When the batch asked to `measure`: the bytes of pages the database has allocated (live
    /// data, redb's own tables, and the pages this commit replaces, which are freed once it is
    /// durable).
    pub(crate) allocated: Option<u64>,
    /// Keys whose value the heap's compaction found unreadable (damage) and dropped.
    pub(crate) lost: Vec<String>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        !self.clear && self.puts.is_empty() && self.deletes.is_empty() && self.touches.is_empty()
    }
}

#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    // Compaction needs `&mut Database` and no live read transaction: readers take the read
    // side for the few microseconds of a lookup, compaction takes the write side.
    db: RwLock<Database>,
    /// redb panicked on this file: it is damaged, every later call fails fast.
    damaged: std::sync::atomic::AtomicBool,
    /// The heap's dead bytes after its last compaction pass (see `HeapTxn::wants_collect`).
    gc_floor: AtomicU64,
    /// An I/O error reached redb (a full disk during a commit): redb then refuses every later
    /// call until the database is closed and opened again, which the next call does first.
    needs_reopen: std::sync::atomic::AtomicBool,
    /// redb's page cache size, for a reopen.
    cache_bytes: usize,
}

/// What `open` learned besides the store itself.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) store: Store,
    pub(crate) next_tick: u64,
    /// Log files up to this sequence number are already in the database.
    pub(crate) logs_through: Option<u64>,
}

enum Failure {
    Corrupt(String),
    Fatal(CacheError),
}

impl Store {
    /// Opens (or creates) `<dir>/cache.redb`. A damaged file is moved aside and replaced by a
    /// fresh one; a newer format is refused without writing to it.
    pub(crate) fn open(
        dir: &Path,
        cache_bytes: usize,
        now: jiff::Timestamp,
    ) -> Result<Opened, CacheError> {
        let path = dir.join(DB_FILE);
        let result = match std::fs::metadata(&path) {
            Ok(m) if m.len() == 0 => Err(Failure::Corrupt("the file is empty".into())),
            _ => Self::try_open(&path, cache_bytes),
        };
        match result {
            Ok(opened) => Ok(opened),
            Err(Failure::Fatal(err)) => Err(err),
            Err(Failure::Corrupt(why)) => {
                let aside = aside_path(&path, now);
                std::fs::rename(&path, &aside).map_err(|e| CacheError::io(&path, e))?;
                tracing::error!(
                    path = %path.display(),
                    moved_to = %aside.display(),
                    reason = %why,
                    "corrupt cache file {} moved aside to {}; starting with an empty cache",
                    path.display(),
                    aside.display(),
                );
                Self::try_open(&path, cache_bytes).map_err(|failure| match failure {
                    Failure::Fatal(err) => err,
                    Failure::Corrupt(why) => CacheError::io(
                        &path,
                        std::io::Error::other(format!("fresh cache file is unusable: {why}")),
                    ),
                })
            }
        }
    }

    fn try_open(path: &Path, cache_bytes: usize) -> Result<Opened, Failure> {
        // redb trusts its file: damage it does not detect can make it panic (in a debug build
        // even while opening). A panic here means a damaged file, handled as one.
        match contain(|| Self::try_open_unguarded(path, cache_bytes)) {
            Ok(result) => result,
            Err(why) => Err(Failure::Corrupt(why)),
        }
    }

    fn try_open_unguarded(path: &Path, cache_bytes: usize) -> Result<Opened, Failure> {
        Self::check_version(path)?;
        let mut db = match create_db(path, cache_bytes) {
            Ok(db) => {
                crate::private_files::restrict_file(path)
                    .map_err(|e| Failure::Fatal(CacheError::io(path, e)))?;
                db
            }
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(Failure::Fatal(CacheError::Locked {
                    path: path.to_path_buf(),
                }));
            }
            Err(DatabaseError::Storage(redb::StorageError::Io(e)))
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                ) =>
            {
                return Err(Failure::Fatal(CacheError::io(path, e)));
            }
            Err(other) => return Err(Failure::Corrupt(other.to_string())),
        };
        // Verifies every page's checksum, so that damage is found now, while the file can
        // still be moved aside, and not by a read later.
        match db.check_integrity() {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                path = %path.display(),
                "the cache file {} needed a repair (an interrupted commit) and was repaired",
                path.display()
            ),
            Err(DatabaseError::Storage(redb::StorageError::Io(e)))
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
                ) =>
            {
                return Err(Failure::Fatal(CacheError::io(path, e)));
            }
            Err(other) => return Err(Failure::Corrupt(other.to_string())),
        }
        let store = Self {
            path: path.to_path_buf(),
            db: RwLock::new(db),
            damaged: std::sync::atomic::AtomicBool::new(false),
            gc_floor: AtomicU64::new(0),
            needs_reopen: std::sync::atomic::AtomicBool::new(false),
            cache_bytes,
        };
        let info = store.read_info().map_err(Failure::Corrupt)?;
        let (next_tick, logs_through) = match info {
            Some((version, _, _)) if version > DB_FORMAT_VERSION => {
                return Err(Failure::Fatal(CacheError::NewerFormat {
                    path: path.to_path_buf(),
                    found: version,
                    supported: DB_FORMAT_VERSION,
                }));
            }
            Some((_, next_tick, logs_through)) => (next_tick, logs_through),
            None => {
                store.init().map_err(Failure::Fatal)?;
                (0, None)
            }
        };
        Ok(Opened {
            store,
            next_tick,
            logs_through,
        })
    }

    /// Refuses a file from a newer format before opening it for writing, which would write
    /// to it. A file that cannot be opened read-only (it needs a repair after a crash, or is
    /// damaged) is left to the read-write open.
    fn check_version(path: &Path) -> Result<(), Failure> {
        if std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
            return Ok(());
        }
        let db = match Database::builder().open_read_only(path) {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(Failure::Fatal(CacheError::Locked {
                    path: path.to_path_buf(),
                }));
            }
            Err(_) => return Ok(()),
        };
        let version = db
            .begin_read()
            .ok()
            .and_then(|txn| txn.open_table(INFO).ok())
            .and_then(|table| {
                table
                    .get("format_version")
                    .ok()
                    .flatten()
                    .map(|v| v.value())
            });
        match version {
            Some(found) if found > DB_FORMAT_VERSION => {
                Err(Failure::Fatal(CacheError::NewerFormat {
                    path: path.to_path_buf(),
                    found,
                    supported: DB_FORMAT_VERSION,
                }))
            }
            _ => Ok(()),
        }
    }

    /// `(format_version, next_tick, logs_through)`, or `None` for a brand-new file.
    fn read_info(&self) -> Result<Option<(u64, u64, Option<u64>)>, String> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let txn = db.begin_read().map_err(|e| e.to_string())?;
        let table = match txn.open_table(INFO) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let get = |name: &str| -> Result<Option<u64>, String> {
            Ok(table
                .get(name)
                .map_err(|e| e.to_string())?
                .map(|v| v.value()))
        };
        match get("format_version")? {
            None => Err("the info table has no format version".into()),
            Some(version) => Ok(Some((
                version,
                get("next_tick")?.unwrap_or(0),
                get("logs_through")?,
            ))),
        }
    }

    fn init(&self) -> Result<(), CacheError> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let err = |e: redb::Error| CacheError::storage(&self.path, e);
        let txn = db.begin_write().map_err(|e| err(e.into()))?;
        {
            txn.open_table(VALUES).map_err(|e| err(e.into()))?;
            txn.open_table(CHUNKS).map_err(|e| err(e.into()))?;
            txn.open_table(META).map_err(|e| err(e.into()))?;
            txn.open_table(HEAP).map_err(|e| err(e.into()))?;
            txn.open_table(HEAP_LIVE).map_err(|e| err(e.into()))?;
            let mut info = txn.open_table(INFO).map_err(|e| err(e.into()))?;
            info.insert("format_version", DB_FORMAT_VERSION)
                .map_err(|e| err(e.into()))?;
            info.insert("next_tick", 0).map_err(|e| err(e.into()))?;
        }
        txn.commit().map_err(|e| err(e.into()))
    }

    /// Runs one redb operation, turning a panic inside redb (damage its checks missed) into
    /// [`CacheError::Damaged`]; after one, every call fails fast instead of panicking again.
    fn guarded<R>(&self, op: impl FnOnce() -> Result<R, CacheError>) -> Result<R, CacheError> {
        use std::sync::atomic::Ordering;
        let damaged = || CacheError::Damaged {
            path: self.path.clone(),
            reason: "the storage engine found it inconsistent; it is checked and, if still \
                     damaged, moved aside when the cache is next opened"
                .into(),
        };
        if self.damaged.load(Ordering::Relaxed) {
            return Err(damaged());
        }
        if self.needs_reopen.load(Ordering::Acquire) {
            // Opening may repair the file: not on a runtime worker's time.
            super::shared::off_the_runtime(|| self.reopen())?;
        }
        contain(op).unwrap_or_else(|why| {
            self.damaged.store(true, Ordering::Relaxed);
            tracing::error!(
                path = %self.path.display(),
                reason = %why,
                "the cache file {} is damaged: the storage engine failed on it ({why})",
                self.path.display()
            );
            Err(damaged())
        })
    }

    /// Reads one entry's metadata and, when `with_value`, its value.
    pub(crate) fn read(&self, key: &str, with_value: bool) -> Result<Option<Stored>, CacheError> {
        self.guarded(|| self.read_raw(key, with_value))
    }

    /// Every entry's key and metadata (for the in-memory index).
    pub(crate) fn load_index(&self) -> Result<Vec<(String, Meta)>, CacheError> {
        self.guarded(|| self.load_index_raw())
    }

    /// Writes `batch` in one durable commit: the only fsync the cache does.
    pub(crate) fn commit(&self, batch: &Batch) -> Result<Committed, CacheError> {
        self.guarded(|| self.commit_raw(batch))
    }

    /// The bytes of pages the database has allocated now (it walks every table's tree).
    pub(crate) fn allocated_now(&self) -> Result<u64, CacheError> {
        self.guarded(|| {
            let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
            let txn = db.begin_write().map_err(|e| self.fail(e))?;
            let bytes = allocated_bytes(&txn).map_err(|e| self.fail(e))?;
            txn.abort().map_err(|e| self.fail(e))?;
            Ok(bytes)
        })
    }

    /// Rewrites the file to return freed pages to the file system.
    pub(crate) fn compact(&self) -> Result<bool, CacheError> {
        self.guarded(|| self.compact_raw())
    }

    fn fail(&self, e: impl Into<redb::Error>) -> CacheError {
        let e = e.into();
        if matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo) {
            self.needs_reopen.store(true, Ordering::Release);
        }
        CacheError::storage(&self.path, e)
    }

    /// Closes the database and opens it again, after an I/O error made redb refuse every call
    /// (it keeps the file as the last durable commit left it; the failed commit's changes are
    /// still pending in memory and in the log). Until it succeeds, nothing touches the file.
    fn reopen(&self) -> Result<(), CacheError> {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if !self.needs_reopen.load(Ordering::Acquire) {
            return Ok(());
        }
        // The old database must be dropped (its file lock released) before the file is opened
        // again: an empty in-memory one stands in meanwhile, and stays, unused, if the open
        // fails (every call then tries the reopen first, and fails with its error).
        let stand_in = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| CacheError::storage(&self.path, e))?;
        drop(std::mem::replace(&mut *db, stand_in));
        let fresh = contain(|| create_db(&self.path, self.cache_bytes))
            .map_err(|why| CacheError::Damaged {
                path: self.path.clone(),
                reason: why,
            })?
            .map_err(|e| CacheError::storage(&self.path, e))?;
        *db = fresh;
        self.needs_reopen.store(false, Ordering::Release);
        tracing::warn!(
            path = %self.path.display(),
            "the cache file {} was opened again after an I/O error",
            self.path.display()
        );
        Ok(())
    }

    /// Reads one entry's metadata and, when `with_value`, its value.
    fn read_raw(&self, key: &str, with_value: bool) -> Result<Option<Stored>, CacheError> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let txn = db.begin_read().map_err(|e| self.fail(e))?;
        let meta_table = txn.open_table(META).map_err(|e| self.fail(e))?;
        let Some(stored) = meta_table.get(key).map_err(|e| self.fail(e))? else {
            return Ok(None);
        };
        let Some((meta, at)) = decode_stored(stored.value()) else {
            return Err(self.fail(redb::StorageError::Corrupted(format!(
                "bad metadata for key {key:?}"
            ))));
        };
        if !with_value {
            return Ok(Some((meta, None)));
        }
        if let Some(pos) = at {
            let size = meta.size;
            let heap = txn.open_table(HEAP).map_err(|e| self.fail(e))?;
            let mut pieces = Vec::new();
            for item in heap
                .range(heap::blobs(pos, size))
                .map_err(|e| self.fail(e))?
            {
                let (blob, bytes) = item.map_err(|e| self.fail(e))?;
                pieces.push((blob.value(), bytes));
            }
            let value = heap::gather(pos, size, pieces.iter().map(|(b, g)| (*b, g.value())));
            return match value {
                Some(value) => Ok(Some((meta, Some(value)))),
                None => Err(self.fail(redb::StorageError::Corrupted(format!(
                    "the value of key {key:?} is missing from the heap"
                )))),
            };
        }
        if chunked(key, meta.size) {
            // A file written before pieces existed has no chunk table, or the value whole.
            match txn.open_table(CHUNKS) {
                Ok(chunks) => {
                    let mut value = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
                    for item in chunks
                        .range((key, 0)..=(key, u32::MAX))
                        .map_err(|e| self.fail(e))?
                    {
                        let (_, piece) = item.map_err(|e| self.fail(e))?;
                        value.extend_from_slice(piece.value());
                    }
                    if !value.is_empty() {
                        if value.len() as u64 != meta.size {
                            return Err(self.fail(redb::StorageError::Corrupted(format!(
                                "the value of key {key:?} has {} of its {} bytes",
                                value.len(),
                                meta.size
                            ))));
                        }
                        return Ok(Some((meta, Some(value))));
                    }
                }
                Err(TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
        let values = txn.open_table(VALUES).map_err(|e| self.fail(e))?;
        let value = values.get(key).map_err(|e| self.fail(e))?;
        Ok(value.map(|v| (meta, Some(v.value().to_vec()))))
    }

    /// Every entry's key and metadata (for the in-memory index).
    fn load_index_raw(&self) -> Result<Vec<(String, Meta)>, CacheError> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let txn = db.begin_read().map_err(|e| self.fail(e))?;
        let table = txn.open_table(META).map_err(|e| self.fail(e))?;
        let mut out = Vec::with_capacity(
            usize::try_from(table.len().map_err(|e| self.fail(e))?).unwrap_or(0),
        );
        for item in table.iter().map_err(|e| self.fail(e))? {
            super::shared::give_way();
            let (key, meta) = item.map_err(|e| self.fail(e))?;
            if let Some((meta, _)) = decode_stored(meta.value()) {
                out.push((key.value().to_owned(), meta));
            }
        }
        Ok(out)
    }

    /// Writes `batch` in one durable commit: the only fsync the cache does.
    fn commit_raw(&self, batch: &Batch) -> Result<Committed, CacheError> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let mut txn = db.begin_write().map_err(|e| self.fail(e))?;
        txn.set_durability(Durability::Immediate).map_err(|e| {
            self.fail(redb::Error::from(redb::StorageError::Corrupted(
                e.to_string(),
            )))
        })?;
        // Keeps the open after a crash fast: the allocator state is saved with each commit.
        txn.set_quick_repair(true);
        let mut lost = Vec::new();
        {
            let mut values = txn.open_table(VALUES).map_err(|e| self.fail(e))?;
            let mut chunks = txn.open_table(CHUNKS).map_err(|e| self.fail(e))?;
            let mut meta = txn.open_table(META).map_err(|e| self.fail(e))?;
            let mut info = txn.open_table(INFO).map_err(|e| self.fail(e))?;
            let get_info = |info: &redb::Table<'_, &str, u64>, key: &str| {
                info.get(key).map(|v| v.map_or(0, |g| g.value()))
            };
            let tail = get_info(&info, heap::TAIL_KEY).map_err(|e| self.fail(e))?;
            let live = get_info(&info, heap::LIVE_KEY).map_err(|e| self.fail(e))?;
            let mut heap = HeapTxn::open(&txn, tail, live).map_err(|e| self.fail(e))?;
            // Files from format 1 hold values in `values` and `chunks`; they go as their keys
            // are rewritten or deleted.
            let legacy = !values.is_empty().map_err(|e| self.fail(e))?
                || !chunks.is_empty().map_err(|e| self.fail(e))?;
            if batch.clear {
                values.retain(|_, _| false).map_err(|e| self.fail(e))?;
                chunks.retain(|_, _| false).map_err(|e| self.fail(e))?;
                meta.retain(|_, _| false).map_err(|e| self.fail(e))?;
                heap.clear().map_err(|e| self.fail(e))?;
            }
            // Marks the value `meta` points at dead (the key is deleted or rewritten).
            let release =
                |heap: &mut HeapTxn<'_>, stored: Option<&[u8]>| match stored.and_then(stored_pos) {
                    Some((pos, size)) => heap.release(pos, size),
                    None => Ok(()),
                };
            let drop_legacy = |values: &mut redb::Table<'_, &str, &[u8]>,
                               chunks: &mut redb::Table<'_, (&str, u32), &[u8]>,
                               key: &str| {
                values.remove(key)?;
                chunks.retain_in((key, 0)..=(key, u32::MAX), |_, _| false)
            };
            for key in &batch.deletes {
                super::shared::give_way();
                let old = meta.remove(&**key).map_err(|e| self.fail(e))?;
                release(&mut heap, old.as_ref().map(|g| g.value())).map_err(|e| self.fail(e))?;
                drop(old);
                if legacy {
                    drop_legacy(&mut values, &mut chunks, key).map_err(|e| self.fail(e))?;
                }
            }
            // In access order, so the heap's order follows recency: least-recently-used
            // entries, evicted together, then free whole blobs.
            let mut puts: Vec<_> = batch.puts.iter().collect();
            puts.sort_by_key(|(_, m, _)| m.tick);
            for (key, m, value) in puts {
                super::shared::give_way();
                let old = meta
                    .get(&**key)
                    .map_err(|e| self.fail(e))?
                    .map(|g| g.value().to_vec());
                release(&mut heap, old.as_deref()).map_err(|e| self.fail(e))?;
                if legacy {
                    drop_legacy(&mut values, &mut chunks, key).map_err(|e| self.fail(e))?;
                }
                let pos = heap.append(value).map_err(|e| self.fail(e))?;
                meta.insert(&**key, encode_stored(m, pos).as_slice())
                    .map_err(|e| self.fail(e))?;
            }
            for (key, m) in &batch.touches {
                // Only the access tick changes; the value stays where it is.
                let old = meta
                    .get(&**key)
                    .map_err(|e| self.fail(e))?
                    .map(|g| g.value().to_vec());
                if let Some((_, at)) = old.as_deref().and_then(decode_stored) {
                    let new = match at {
                        Some(pos) => encode_stored(m, pos),
                        None => m.encode().to_vec(),
                    };
                    meta.insert(&**key, new.as_slice())
                        .map_err(|e| self.fail(e))?;
                }
            }
            let floor = self.gc_floor.load(Ordering::Relaxed);
            let dead = heap.dead().map_err(|e| self.fail(e))?;
            let floor = floor.min(dead);
            self.gc_floor.store(floor, Ordering::Relaxed);
            if heap.wants_collect(floor).map_err(|e| self.fail(e))? {
                lost = self
                    .collect(&mut heap, &mut meta)
                    .map_err(|e| self.fail(e))?;
                let left = heap.dead().map_err(|e| self.fail(e))?;
                self.gc_floor.store(left, Ordering::Relaxed);
            }
            let (tail, live) = heap.finish().map_err(|e| self.fail(e))?;
            info.insert(heap::TAIL_KEY, tail)
                .map_err(|e| self.fail(e))?;
            info.insert(heap::LIVE_KEY, live)
                .map_err(|e| self.fail(e))?;
            info.insert("format_version", DB_FORMAT_VERSION)
                .map_err(|e| self.fail(e))?;
            info.insert("next_tick", batch.next_tick)
                .map_err(|e| self.fail(e))?;
            if let Some(seq) = batch.logs_through {
                info.insert("logs_through", seq).map_err(|e| self.fail(e))?;
            }
        }
        // What the file really needs, from the allocator's own count: the flusher sets its
        // budget from it.
        let allocated = if batch.measure {
            Some(allocated_bytes(&txn).map_err(|e| self.fail(e))?)
        } else {
            None
        };
        txn.commit().map_err(|e| self.fail(e))?;
        Ok(Committed { allocated, lost })
    }

    /// Moves the live values out of the heap's emptiest blobs (appending them again) and
    /// drops those blobs, in the commit's transaction. A value that cannot be read back
    /// (damage) is dropped with its entry, with a warning, rather than left pointing nowhere;
    /// the keys so dropped are returned, for memory to forget them too.
    fn collect(
        &self,
        heap: &mut HeapTxn<'_>,
        meta: &mut redb::Table<'_, &str, &[u8]>,
    ) -> Result<Vec<String>, redb::Error> {
        let victims = heap.victims()?;
        let mut moving = Vec::new();
        for item in meta.iter()? {
            let (key, stored) = item?;
            if let Some((pos, size)) = stored_pos(stored.value())
                && HeapTxn::touches(&victims, pos, size)
            {
                moving.push((key.value().to_owned(), stored.value().to_vec(), pos, size));
            }
        }
        let mut moved = 0;
        let mut kept = BTreeSet::new();
        let mut lost = Vec::new();
        for (key, stored, pos, size) in moving {
            super::shared::give_way();
            if size > heap::MOVE_MAX {
                kept.extend(victims.range(heap::blobs(pos, size)).copied());
                continue;
            }
            moved += 1;
            match heap.read(pos, size)? {
                Some(bytes) => {
                    heap.release(pos, size)?;
                    let new_pos = heap.append(&bytes)?;
                    if let Some((m, _)) = decode_stored(&stored) {
                        meta.insert(key.as_str(), encode_stored(&m, new_pos).as_slice())?;
                    }
                }
                None => {
                    tracing::warn!(path = %self.path.display(), key = %key, "cache value unreadable (damaged); entry dropped");
                    meta.remove(key.as_str())?;
                    lost.push(key);
                }
            }
        }
        for blob in victims.difference(&kept) {
            heap.drop_blob(*blob)?;
        }
        tracing::debug!(path = %self.path.display(), blobs = victims.len(), values = moved, "cache heap compacted");
        Ok(lost)
    }

    /// Applies replayed log records in one durable commit.
    pub(crate) fn replay(
        &self,
        ops: Vec<OwnedOp>,
        next_tick: u64,
        logs_through: Option<u64>,
    ) -> Result<(), CacheError> {
        let mut batch = Batch {
            next_tick,
            logs_through,
            ..Batch::default()
        };
        // Collapse to the final state per key, in order, so one commit can apply it.
        let mut last: std::collections::HashMap<Arc<str>, Option<Entry>> =
            std::collections::HashMap::new();
        for op in ops {
            match op {
                OwnedOp::Clear => {
                    batch.clear = true;
                    last.clear();
                }
                OwnedOp::Put { key, meta, value } => {
                    last.insert(key.into(), Some((meta, value.into())));
                }
                OwnedOp::Delete { key } => {
                    last.insert(key.into(), None);
                }
            }
        }
        for (key, state) in last {
            match state {
                Some((meta, value)) => batch.puts.push((key, meta, value)),
                None => batch.deletes.push(key),
            }
        }
        self.commit(&batch).map(drop)
    }

    /// The database file's size on disk.
    pub(crate) fn file_len(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Rewrites the file to return freed pages to the file system.
    fn compact_raw(&self) -> Result<bool, CacheError> {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        db.compact().map_err(|e| self.fail(e))
    }
}

/// Opens (creating it if needed) the database file, the same way at the first open and at a
/// reopen after an I/O error.
fn create_db(path: &Path, cache_bytes: usize) -> Result<Database, DatabaseError> {
    Database::builder().set_cache_size(cache_bytes).create(path)
}

/// The bytes of pages the database has allocated, by redb's own count (a walk of every
/// table's tree).
fn allocated_bytes(txn: &redb::WriteTransaction) -> Result<u64, redb::StorageError> {
    txn.stats()
        .map(|s| s.allocated_pages() * s.page_size() as u64)
}

/// Runs `f`, catching a panic (from redb) and returning its message instead.
fn contain<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the storage engine panicked".to_owned())
    })
}

/// `<name>.corrupt-<time>` beside `path`, not yet taken.
pub(crate) fn aside_path(path: &Path, now: jiff::Timestamp) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| DB_FILE.to_owned(), |n| n.to_string_lossy().into_owned());
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let mut candidate = path.with_file_name(format!("{name}.corrupt-{stamp}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{name}.corrupt-{stamp}-{n}"));
        n += 1;
    }
    candidate
}
