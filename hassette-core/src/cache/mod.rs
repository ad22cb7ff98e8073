//! The per-app-class persistent cache.
//!
//! Every app class gets one cache at `<data_dir>/<ClassName>/cache/`, opened on first use and
//! shared by all instances of the class. An app reaches it as `self.cache()`, an
//! [`AppCache`]; the runtime owns a [`CacheRegistry`]. [`Cache`] is the cache itself.
//!
//! # Promises
//!
//! - **Values**: anything `serde` can handle, stored as JSON (so tools can show any value as
//!   JSON with [`Cache::get_json`]). Reading with the wrong type is a
//!   [`CacheError::WrongType`] naming the key and the type.
//! - **Fast, and no call waits on an fsync**: reads are served from memory (an index of every
//!   entry plus up to [`CacheOptions::memory_budget`] of values); a write appends one record
//!   to a log file with a plain `write(2)` and returns.
//! - **Durability**: a write is visible to every later read at once. A process killed at any
//!   moment (SIGKILL) loses nothing a returned write had written: the log is replayed at the
//!   next open. A background thread moves the log into the database with one durable commit
//!   every [`CacheOptions::flush_interval`] (1 s by default), so a power loss loses at most
//!   that interval. [`Cache::close`] (and dropping the last handle) flushes everything.
//! - **Size limit**: the directory's real size on disk stays within the limit (with 10%
//!   slack); least-recently-used entries (reads count) are evicted silently. A single value
//!   larger than a quarter of the limit is refused with [`CacheError::ValueTooLarge`].
//! - **Expiry**: TTLs are stored as absolute times, so they survive restarts; an expired entry
//!   is never returned and is purged in the background.
//! - **Failures** are errors, never panics: another process holding the cache
//!   ([`CacheError::Locked`]), an unusable path ([`CacheError::Io`]), a newer format
//!   ([`CacheError::NewerFormat`], file untouched). A corrupt database file is moved aside as
//!   `cache.redb.corrupt-<timestamp>` and replaced by an empty one, with one ERROR log line.
//! - **Logging**: every get, set, delete and eviction is logged at DEBUG with the class, key,
//!   hit/miss and size.
//!
//! # On disk
//!
//! `cache.redb` (format 2; tables `meta`: key → created/expires/size/last-access and the
//! value's position, `heap`: the values (JSON) packed end to end in page-sized blobs,
//! `heap_live`: live bytes per blob, `info`: format version and the heap's end; format 1
//! files, with values in `values` and `chunks`, are read and converted as keys are
//! rewritten) and `wal-<n>.log` (the write log, see `log.rs`).
//!
//! # Examples
//!
//! ```
//! use hassette_core::cache::{Cache, CacheOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! let cache = Cache::open(CacheOptions::new(tmp.path().join("cache"), "WeatherApp"))?;
//! cache.set("user_preferences", &serde_json::json!({"theme": "dark"}))?;
//! let runs: u32 = cache.get_or("run_count", 0)?;
//! cache.set("run_count", &(runs + 1))?;
//! assert_eq!(cache.get::<u32>("run_count")?, Some(1));
//! cache.close()?;
//! # Ok(())
//! # }
//! ```

mod batch;
mod codec;
mod compute;
mod error;
mod finite;
mod flusher;
mod heap;
mod log;
mod memory;
mod ops;
mod options;
mod registry;
mod shared;
mod store;

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use batch::WriteBatch;
pub use codec::MAX_KEY_LEN;
pub use compute::Compute;
pub use error::CacheError;
pub use options::{
    CacheOptions, DEFAULT_MEMORY_BUDGET, DEFAULT_RECENCY_INTERVAL, DEFAULT_SIZE_LIMIT,
};
pub use registry::{AppCache, CacheRegistry};

use codec::timestamp;
use shared::{Shared, lock};

/// An open cache. Cheap to clone: clones share the cache.
///
/// All methods are synchronous and quick: they never wait on the disk's fsync or on the
/// background flusher (a read of a value not held in memory reads the database file, and a
/// writer waits only if it outruns the disk by more than the log's cap).
///
/// # Examples
///
/// ```
/// use hassette_core::cache::{Cache, CacheOptions};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), hassette_core::cache::CacheError> {
/// # let tmp = tempfile::tempdir().map_err(|e| hassette_core::cache::CacheError::Io { path: "tmp".into(), source: e })?;
/// let cache = Cache::open(CacheOptions::new(tmp.path(), "MyApp"))?;
/// cache.set_with_ttl("weather", &vec![21.5, 22.0], Duration::from_secs(3600))?;
/// assert_eq!(cache.get::<Vec<f64>>("weather")?, Some(vec![21.5, 22.0]));
/// assert!(cache.delete("weather")?);
/// assert!(!cache.contains("weather")?);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Cache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    fn close(&self) -> Result<(), CacheError> {
        let result = self.shared.close();
        if let Some(handle) = lock(&self.flusher).take() {
            let _ = handle.join();
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(err) = self.close() {
            tracing::error!(class = %self.shared.class, error = %err, "closing the cache failed");
        }
    }
}

/// What [`Cache::info`] tells about one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryInfo {
    /// When the value was written.
    pub created_at: Timestamp,
    /// How long ago that was.
    pub age: Duration,
    /// When it expires, if it has a TTL.
    pub expires_at: Option<Timestamp>,
    /// How long until it expires, if it has a TTL.
    pub ttl: Option<Duration>,
    /// The encoded (JSON) value's size in bytes.
    pub size: u64,
}

impl EntryInfo {
    fn from_meta(meta: &codec::Meta, now: Timestamp) -> Self {
        let created_at = timestamp(meta.created_us);
        let expires_at = meta.expires_us.map(timestamp);
        Self {
            created_at,
            age: unsigned(now.duration_since(created_at)),
            expires_at,
            ttl: expires_at.map(|e| unsigned(e.duration_since(now))),
            size: meta.size,
        }
    }
}

/// Counters and sizes of one cache since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Gets that found a value.
    pub hits: u64,
    /// Gets that found nothing.
    pub misses: u64,
    /// Sets (including `incr`).
    pub sets: u64,
    /// Deletes of existing keys.
    pub deletes: u64,
    /// Entries evicted to keep the size limit.
    pub evictions: u64,
    /// Entries that expired.
    pub expirations: u64,
    /// Durable commits made.
    pub flushes: u64,
    /// Database file compactions.
    pub compactions: u64,
    /// Writes that found the log at its cap and waited for the flusher (writes outran the
    /// disk).
    pub log_waits: u64,
    /// Entries stored (exact once the index has loaded, shortly after open).
    pub entries: u64,
    /// What the entries count toward the limit: keys, values and 64 bytes each.
    pub value_bytes: u64,
    /// Bytes of values held in memory.
    pub hot_bytes: u64,
    /// The directory's size on disk.
    pub disk_bytes: u64,
    /// The size limit.
    pub size_limit: u64,
}

impl Cache {
    /// Opens (creating if needed) the cache in `opts.dir`, replaying a write log left by a
    /// killed process.
    ///
    /// # Errors
    ///
    /// [`CacheError::Locked`] if another process (or handle) has it open,
    /// [`CacheError::Io`] if the directory cannot be created or written,
    /// [`CacheError::NewerFormat`] if a newer hassette wrote it.
    pub fn open(opts: CacheOptions) -> Result<Self, CacheError> {
        let shared = Arc::new(Shared::open(&opts)?);
        let runner = shared.clone();
        // The flusher logs (evictions, failures) to the subscriber of whoever opened the cache.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let handle = std::thread::Builder::new()
            .name(format!("cache-{}", opts.class_name))
            .spawn(move || tracing::dispatcher::with_default(&dispatch, || runner.run_flusher()))
            .map_err(|e| CacheError::io(&opts.dir, e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                flusher: Mutex::new(Some(handle)),
            }),
        })
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The value stored under `key`, if any and not expired.
    ///
    /// # Errors
    ///
    /// [`CacheError::WrongType`] if the value is not a `T`, [`CacheError::InvalidKey`].
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        let Some(bytes) = self.shared().get(key)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| CacheError::WrongType {
                key: key.to_owned(),
                expected: std::any::type_name::<T>(),
                source,
            })
    }

    /// The value stored under `key`, or `default`.
    ///
    /// # Errors
    ///
    /// As [`Cache::get`].
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, default: T) -> Result<T, CacheError> {
        Ok(self.get(key)?.unwrap_or(default))
    }

    /// Any stored value as JSON, whatever its Rust type (for tools).
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`], or an I/O error reading the database.
    pub fn get_json(&self, key: &str) -> Result<Option<serde_json::Value>, CacheError> {
        self.get(key)
    }

    /// Stores `value` under `key` (no expiry; a previous TTL is dropped).
    ///
    /// # Errors
    ///
    /// [`CacheError::ValueTooLarge`], [`CacheError::Encode`], [`CacheError::InvalidKey`],
    /// [`CacheError::Io`] if the log cannot be written (disk full).
    pub fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), CacheError> {
        self.set_inner(key, value, None)
    }

    /// Stores `value` under `key` until `ttl` from now. The expiry is absolute, so it survives
    /// restarts.
    ///
    /// # Errors
    ///
    /// As [`Cache::set`].
    pub fn set_with_ttl<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        self.set_inner(key, value, Some(ttl))
    }

    fn set_inner<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let ttl = ttl.map(ttl_of);
        let bytes = encode(key, value)?;
        self.shared().set(key, bytes, ttl)
    }

    /// Deletes `key`; says whether it existed.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`], [`CacheError::Io`].
    pub fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.shared().delete(key)
    }

    /// Whether `key` holds an unexpired value. Does not count as a use for LRU.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`], or an I/O error reading the database.
    pub fn contains(&self, key: &str) -> Result<bool, CacheError> {
        self.shared().contains(key)
    }

    /// Atomically adds `by` to the integer under `key` (a missing key counts as 0) and
    /// returns the new value. A TTL on the key is kept.
    ///
    /// # Errors
    ///
    /// [`CacheError::WrongType`] if the key holds something other than an integer,
    /// [`CacheError::Overflow`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use hassette_core::cache::{Cache, CacheOptions};
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let cache = Cache::open(CacheOptions::new(tmp.path(), "MyApp")).unwrap();
    /// assert_eq!(cache.incr("runs", 1)?, 1);
    /// assert_eq!(cache.incr("runs", 5)?, 6);
    /// # Ok::<(), hassette_core::cache::CacheError>(())
    /// ```
    pub fn incr(&self, key: &str, by: i64) -> Result<i64, CacheError> {
        self.shared().incr(key, by, None)
    }

    /// Removes `key` and returns its value, if it had one.
    ///
    /// # Errors
    ///
    /// [`CacheError::WrongType`] (the entry is then left in place), [`CacheError::Io`].
    pub fn pop<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        self.shared().pop(key, |bytes| {
            serde_json::from_slice(bytes).map_err(|source| CacheError::WrongType {
                key: key.to_owned(),
                expected: std::any::type_name::<T>(),
                source,
            })
        })
    }

    /// Stores `value` only if `key` holds no (unexpired) value; says whether it stored it.
    ///
    /// # Errors
    ///
    /// As [`Cache::set`].
    pub fn add<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<bool, CacheError> {
        self.shared().add(key, encode(key, value)?, None)
    }

    /// [`Cache::add`] with a TTL.
    ///
    /// # Errors
    ///
    /// As [`Cache::set`].
    pub fn add_with_ttl<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let ttl = ttl_of(ttl);
        self.shared().add(key, encode(key, value)?, Some(ttl))
    }

    /// Gives the entry under `key` a new TTL counted from now (its value and age unchanged);
    /// says whether the key exists.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`], [`CacheError::Io`].
    pub fn touch(&self, key: &str, ttl: Duration) -> Result<bool, CacheError> {
        let ttl = ttl_of(ttl);
        self.shared().touch(key, Some(ttl))
    }

    /// Removes the TTL of the entry under `key`, so it no longer expires; says whether the
    /// key exists.
    ///
    /// # Errors
    ///
    /// As [`Cache::touch`].
    pub fn persist(&self, key: &str) -> Result<bool, CacheError> {
        self.shared().touch(key, None)
    }

    /// [`Cache::incr`] for a counter that expires: a new counter (missing or expired key)
    /// lives `ttl`; incrementing an existing one keeps its expiry. A rate limit in one call.
    ///
    /// # Errors
    ///
    /// As [`Cache::incr`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use hassette_core::cache::{Cache, CacheOptions};
    /// # use std::time::Duration;
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let cache = Cache::open(CacheOptions::new(tmp.path(), "MyApp")).unwrap();
    /// let sent = cache.incr_with_ttl("notifications", 1, Duration::from_secs(3600))?;
    /// if sent <= 3 { /* notify */ }
    /// # Ok::<(), hassette_core::cache::CacheError>(())
    /// ```
    pub fn incr_with_ttl(&self, key: &str, by: i64, ttl: Duration) -> Result<i64, CacheError> {
        let ttl = ttl_of(ttl);
        self.shared().incr(key, by, Some(ttl))
    }

    /// Starts an atomic batch of sets and deletes (see [`WriteBatch`]).
    pub fn batch(&self) -> WriteBatch<'_> {
        WriteBatch::new(self)
    }

    /// The unexpired entries whose key starts with `prefix`, sorted by key, with their size,
    /// age and expiry, without reading any value (for listings such as the web UI).
    ///
    /// # Errors
    ///
    /// An I/O error loading the index (right after open).
    pub fn entries_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, EntryInfo)>, CacheError> {
        let now = self.shared().clock.now();
        let mut entries = self.shared().with_index(|st| {
            st.map
                .iter()
                .filter(|(k, s)| s.live && k.starts_with(prefix))
                .map(|(k, s)| (k.to_string(), EntryInfo::from_meta(&s.meta, now)))
                .collect::<Vec<_>>()
        })?;
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    /// The unexpired keys starting with `prefix`, sorted.
    ///
    /// # Errors
    ///
    /// An I/O error loading the index (right after open).
    pub fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, CacheError> {
        let mut keys = self.shared().with_index(|st| {
            st.map
                .iter()
                .filter(|(k, s)| s.live && k.starts_with(prefix))
                .map(|(k, _)| k.to_string())
                .collect::<Vec<_>>()
        })?;
        keys.sort_unstable();
        Ok(keys)
    }

    /// The number of unexpired entries.
    ///
    /// # Errors
    ///
    /// An I/O error loading the index (right after open).
    pub fn len(&self) -> Result<usize, CacheError> {
        self.shared()
            .with_index(|st| usize::try_from(st.live_count).unwrap_or(usize::MAX))
    }

    /// Whether the cache has no unexpired entry.
    ///
    /// # Errors
    ///
    /// As [`Cache::len`].
    pub fn is_empty(&self) -> Result<bool, CacheError> {
        Ok(self.len()? == 0)
    }

    /// The cache directory's size on disk in bytes: what the size limit applies to.
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        self.shared().disk_bytes()
    }

    /// Deletes every entry.
    ///
    /// # Errors
    ///
    /// [`CacheError::Io`] if the log cannot be written.
    pub fn clear(&self) -> Result<(), CacheError> {
        self.shared().clear()
    }

    /// Age, expiry and size of the entry under `key`.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`], or an I/O error reading the database.
    pub fn info(&self, key: &str) -> Result<Option<EntryInfo>, CacheError> {
        let Some(meta) = self.shared().info(key)? else {
            return Ok(None);
        };
        Ok(Some(EntryInfo::from_meta(&meta, self.shared().clock.now())))
    }

    /// Counters and sizes.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        let shared = self.shared();
        let st = lock(&shared.state);
        let c = st.counters;
        let stats = CacheStats {
            hits: c.hits,
            misses: c.misses,
            sets: c.sets,
            deletes: c.deletes,
            evictions: c.evictions,
            expirations: c.expirations,
            flushes: c.flushes,
            compactions: c.compactions,
            log_waits: c.log_waits,
            entries: st.live_count,
            value_bytes: st.live_bytes,
            hot_bytes: st.hot_bytes,
            disk_bytes: 0,
            size_limit: shared.limit,
        };
        drop(st);
        CacheStats {
            disk_bytes: shared.disk_bytes(),
            ..stats
        }
    }

    /// Makes every write so far durable (power-loss safe) now, and brings the cache within
    /// its size limit. The only call that waits for an fsync; it is never needed for
    /// correctness, only to shorten the power-loss window.
    ///
    /// # Errors
    ///
    /// [`CacheError::Io`] / [`CacheError::Storage`] if the commit fails.
    pub fn flush(&self) -> Result<(), CacheError> {
        self.shared().maintain(true)
    }

    /// Flushes and closes the cache, releasing its lock. Later calls on any clone fail with
    /// [`CacheError::Closed`]. Dropping the last clone closes it too.
    ///
    /// # Errors
    ///
    /// As [`Cache::flush`]; nothing is lost then, the log is replayed at the next open.
    pub fn close(&self) -> Result<(), CacheError> {
        self.inner.close()
    }
}

/// The JSON of `value`, refusing what would not read back (a NaN or infinite float).
pub(crate) fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, CacheError> {
    let bytes = serde_json::to_vec(value).map_err(|source| CacheError::Encode {
        key: key.to_owned(),
        source,
    })?;
    if let Some(what) = finite::non_finite(value, &bytes) {
        return Err(CacheError::NonFinite {
            key: key.to_owned(),
            what,
        });
    }
    Ok(bytes)
}

/// A span that cannot be negative (a clock step back reads as zero).
/// A TTL as the cache keeps it (jiff's signed duration); a TTL past jiff's range is "as long
/// as can be".
pub(crate) fn ttl_of(ttl: Duration) -> SignedDuration {
    SignedDuration::try_from(ttl).unwrap_or(SignedDuration::MAX)
}

fn unsigned(d: SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}
