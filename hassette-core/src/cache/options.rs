//! How a cache is opened.

use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Clock;

/// The size limit used when none is given: 100 MiB, as `default_cache_size`.
pub const DEFAULT_SIZE_LIMIT: u64 = 100 * 1024 * 1024;

/// The default memory budget for values held in memory: 32 MiB per cache.
///
/// Reads of values in this layer never touch the disk. The cache's total memory use is about
/// this budget, plus the same again for the database's page cache, plus the index (the key
/// and about 100 bytes per entry), plus writes waiting for the next flush.
pub const DEFAULT_MEMORY_BUDGET: usize = 32 * 1024 * 1024;

/// How often the recency of entries that were only read is written: 5 minutes.
pub const DEFAULT_RECENCY_INTERVAL: Duration = Duration::from_secs(300);

/// Where and how to open a [`Cache`](super::Cache).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hassette_core::cache::CacheOptions;
///
/// let opts = CacheOptions::new("/data/WeatherApp/cache", "WeatherApp")
///     .size_limit(16 * 1024 * 1024)
///     .flush_interval(Duration::from_millis(500));
/// assert_eq!(opts.size_limit, 16 * 1024 * 1024);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CacheOptions {
    /// The cache directory (`<data_dir>/<ClassName>/cache`), created at open.
    pub dir: PathBuf,
    /// The app class, for log lines.
    pub class_name: String,
    /// The limit for the directory's size on disk, in bytes.
    pub size_limit: u64,
    /// How often pending writes are made durable (power-loss safe); default 1 s.
    pub flush_interval: Duration,
    /// How often the recency of entries that were only read (for LRU) is written to disk;
    /// default 5 minutes. It is always written at close. Reads alone cause no disk write in
    /// between, so a read-mostly app does not wear out an SD card.
    pub recency_interval: Duration,
    /// Bytes of values kept in memory for fast reads; default [`DEFAULT_MEMORY_BUDGET`].
    pub memory_budget: usize,
    /// The source of "now" for expiry and ages.
    pub clock: Clock,
}

impl CacheOptions {
    /// Options with the defaults: 100 MiB, 1 s flushes, 32 MiB in memory, the system clock.
    pub fn new(dir: impl Into<PathBuf>, class_name: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            class_name: class_name.into(),
            size_limit: DEFAULT_SIZE_LIMIT,
            flush_interval: Duration::from_secs(1),
            recency_interval: DEFAULT_RECENCY_INTERVAL,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            clock: Clock::system(),
        }
    }

    /// Sets the size limit in bytes.
    #[must_use]
    pub fn size_limit(mut self, bytes: u64) -> Self {
        self.size_limit = bytes;
        self
    }

    /// Sets the flush interval.
    #[must_use]
    pub fn flush_interval(mut self, every: Duration) -> Self {
        self.flush_interval = every;
        self
    }

    /// Sets how often the recency of read-only entries is written.
    #[must_use]
    pub fn recency_interval(mut self, every: Duration) -> Self {
        self.recency_interval = every;
        self
    }

    /// Sets the in-memory value budget in bytes.
    #[must_use]
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// Sets the clock.
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}
