//! Per-class lazy caches: the runtime's [`CacheRegistry`] and each app's [`AppCache`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use jiff::SignedDuration;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::shared::lock;
use super::{Cache, CacheError, CacheOptions, CacheStats, Compute, EntryInfo, WriteBatch};
use crate::clock::Clock;

/// The caches of one process, one per app class, opened on first use.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use hassette_core::cache::CacheRegistry;
/// use hassette_core::clock::Clock;
///
/// # fn main() -> Result<(), hassette_core::cache::CacheError> {
/// # let tmp = tempfile::tempdir().unwrap();
/// let registry = CacheRegistry::new(tmp.path(), Duration::from_secs(1), Clock::system());
/// let kitchen = registry.app_cache("MotionLight", 100 << 20, "kitchen");
/// let hall = registry.app_cache("MotionLight", 100 << 20, "hall");
/// assert!(!tmp.path().join("MotionLight").exists()); // nothing until first use
/// kitchen.set(&kitchen.scoped_key("last_motion"), &"2024-05-01T12:00:00Z")?;
/// assert_eq!(hall.get::<String>("kitchen:last_motion")?.as_deref(), Some("2024-05-01T12:00:00Z"));
/// registry.close_all()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct CacheRegistry {
    inner: Arc<RegistryInner>,
}

#[derive(Debug)]
struct RegistryInner {
    data_dir: PathBuf,
    flush_interval: Duration,
    clock: Clock,
    memory_budget: AtomicUsize,
    classes: Mutex<HashMap<String, Weak<ClassCache>>>,
}

/// One class's cache, opened at most once, closed when the last [`AppCache`] of the class is
/// dropped.
#[derive(Debug)]
struct ClassCache {
    opts: CacheOptions,
    cache: OnceLock<Cache>,
    opening: Mutex<()>,
}

impl Drop for ClassCache {
    fn drop(&mut self) {
        if let Some(cache) = self.cache.get()
            && let Err(err) = cache.close()
        {
            tracing::error!(class = %self.opts.class_name, error = %err, "closing the cache failed");
        }
    }
}

impl CacheRegistry {
    /// A registry keeping caches under `data_dir/<ClassName>/cache`.
    pub fn new(data_dir: impl Into<PathBuf>, flush_interval: Duration, clock: Clock) -> Self {
        Self {
            inner: Arc::new(RegistryInner {
                data_dir: data_dir.into(),
                flush_interval,
                clock,
                memory_budget: AtomicUsize::new(super::DEFAULT_MEMORY_BUDGET),
                classes: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Sets the in-memory value budget of every cache opened from now on (`cache_memory_budget`
    /// in `hassette.toml`; default [`DEFAULT_MEMORY_BUDGET`](super::DEFAULT_MEMORY_BUDGET)).
    #[must_use]
    pub fn with_memory_budget(self, bytes: u64) -> Self {
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        self.inner.memory_budget.store(bytes, Ordering::Relaxed);
        self
    }

    /// The cache handle for one app instance. Nothing is opened or created until it is used;
    /// instances of the same class share one cache (the first `size_limit` given wins).
    pub fn app_cache(&self, class_name: &str, size_limit: u64, instance_name: &str) -> AppCache {
        let mut classes = lock(&self.inner.classes);
        let class = match classes.get(class_name).and_then(Weak::upgrade) {
            Some(class) => class,
            None => {
                let dir = self.inner.data_dir.join(class_name).join("cache");
                let opts = CacheOptions::new(dir, class_name)
                    .size_limit(size_limit)
                    .flush_interval(self.inner.flush_interval)
                    .memory_budget(self.inner.memory_budget.load(Ordering::Relaxed))
                    .clock(self.inner.clock.clone());
                let class = Arc::new(ClassCache {
                    opts,
                    cache: OnceLock::new(),
                    opening: Mutex::new(()),
                });
                classes.insert(class_name.to_owned(), Arc::downgrade(&class));
                class
            }
        };
        AppCache {
            class,
            instance: instance_name.to_owned(),
        }
    }

    /// Flushes and closes every open cache (runtime shutdown).
    ///
    /// # Errors
    ///
    /// The first error met; every cache is closed regardless.
    pub fn close_all(&self) -> Result<(), CacheError> {
        let classes: Vec<_> = lock(&self.inner.classes)
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        let mut first = Ok(());
        for class in classes {
            if let Some(cache) = class.cache.get()
                && let Err(err) = cache.close()
            {
                tracing::error!(class = %class.opts.class_name, error = %err, "closing the cache failed");
                if first.is_ok() {
                    first = Err(err);
                }
            }
        }
        first
    }
}

/// The cache of one app instance, `self.cache()` in an app: its class's shared cache, opened
/// on first use, plus the instance name for [`AppCache::scoped_key`].
///
/// If the cache cannot be opened (held by another process, unwritable path...), each call
/// returns that error and the app keeps running; a later call tries to open again.
///
/// The methods are those of [`Cache`].
#[derive(Clone, Debug)]
pub struct AppCache {
    class: Arc<ClassCache>,
    instance: String,
}

impl AppCache {
    /// The class's cache, opening it on first use.
    ///
    /// # Errors
    ///
    /// Why it could not be opened (see [`Cache::open`]).
    pub fn cache(&self) -> Result<&Cache, CacheError> {
        if let Some(cache) = self.class.cache.get() {
            return Ok(cache);
        }
        // Opening replays the log and loads redb, and other instances wait for the opener:
        // neither on a runtime worker's time.
        super::shared::off_the_runtime(|| {
            let _one_opener = lock(&self.class.opening);
            if let Some(cache) = self.class.cache.get() {
                return Ok(cache);
            }
            let cache = Cache::open(self.class.opts.clone())?;
            Ok(self.class.cache.get_or_init(|| cache))
        })
    }

    /// This instance's name.
    #[must_use]
    pub fn instance_name(&self) -> &str {
        &self.instance
    }

    /// The app class's name.
    #[must_use]
    pub fn class_name(&self) -> &str {
        &self.class.opts.class_name
    }

    /// `"{instance_name}:{key}"`: a key of this instance's own, for classes that run several
    /// instances sharing one cache.
    #[must_use]
    pub fn scoped_key(&self, key: &str) -> String {
        format!("{}:{key}", self.instance)
    }

    /// See [`Cache::get`].
    ///
    /// # Errors
    ///
    /// As [`Cache::get`], or the open error.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        self.cache()?.get(key)
    }

    /// See [`Cache::get_or`].
    ///
    /// # Errors
    ///
    /// As [`Cache::get_or`], or the open error.
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, default: T) -> Result<T, CacheError> {
        self.cache()?.get_or(key, default)
    }

    /// See [`Cache::get_json`].
    ///
    /// # Errors
    ///
    /// As [`Cache::get_json`], or the open error.
    pub fn get_json(&self, key: &str) -> Result<Option<serde_json::Value>, CacheError> {
        self.cache()?.get_json(key)
    }

    /// See [`Cache::set`].
    ///
    /// # Errors
    ///
    /// As [`Cache::set`], or the open error.
    pub fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), CacheError> {
        self.cache()?.set(key, value)
    }

    /// See [`Cache::set_with_ttl`].
    ///
    /// # Errors
    ///
    /// As [`Cache::set_with_ttl`], or the open error.
    pub fn set_with_ttl<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: impl TryInto<SignedDuration>,
    ) -> Result<(), CacheError> {
        self.cache()?.set_with_ttl(key, value, ttl)
    }

    /// See [`Cache::delete`].
    ///
    /// # Errors
    ///
    /// As [`Cache::delete`], or the open error.
    pub fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.cache()?.delete(key)
    }

    /// See [`Cache::contains`].
    ///
    /// # Errors
    ///
    /// As [`Cache::contains`], or the open error.
    pub fn contains(&self, key: &str) -> Result<bool, CacheError> {
        self.cache()?.contains(key)
    }

    /// See [`Cache::incr`].
    ///
    /// # Errors
    ///
    /// As [`Cache::incr`], or the open error.
    pub fn incr(&self, key: &str, by: i64) -> Result<i64, CacheError> {
        self.cache()?.incr(key, by)
    }

    /// See [`Cache::pop`].
    ///
    /// # Errors
    ///
    /// As [`Cache::pop`], or the open error.
    pub fn pop<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        self.cache()?.pop(key)
    }

    /// See [`Cache::add`].
    ///
    /// # Errors
    ///
    /// As [`Cache::add`], or the open error.
    pub fn add<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<bool, CacheError> {
        self.cache()?.add(key, value)
    }

    /// See [`Cache::add_with_ttl`].
    ///
    /// # Errors
    ///
    /// As [`Cache::add_with_ttl`], or the open error.
    pub fn add_with_ttl<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: impl TryInto<SignedDuration>,
    ) -> Result<bool, CacheError> {
        self.cache()?.add_with_ttl(key, value, ttl)
    }

    /// See [`Cache::touch`].
    ///
    /// # Errors
    ///
    /// As [`Cache::touch`], or the open error.
    pub fn touch(&self, key: &str, ttl: impl TryInto<SignedDuration>) -> Result<bool, CacheError> {
        self.cache()?.touch(key, ttl)
    }

    /// See [`Cache::persist`].
    ///
    /// # Errors
    ///
    /// As [`Cache::persist`], or the open error.
    pub fn persist(&self, key: &str) -> Result<bool, CacheError> {
        self.cache()?.persist(key)
    }

    /// See [`Cache::incr_with_ttl`].
    ///
    /// # Errors
    ///
    /// As [`Cache::incr_with_ttl`], or the open error.
    pub fn incr_with_ttl(
        &self,
        key: &str,
        by: i64,
        ttl: impl TryInto<SignedDuration>,
    ) -> Result<i64, CacheError> {
        self.cache()?.incr_with_ttl(key, by, ttl)
    }

    /// See [`Cache::batch`].
    ///
    /// # Errors
    ///
    /// The open error.
    pub fn batch(&self) -> Result<WriteBatch<'_>, CacheError> {
        Ok(self.cache()?.batch())
    }

    /// See [`Cache::entries_with_prefix`].
    ///
    /// # Errors
    ///
    /// As [`Cache::entries_with_prefix`], or the open error.
    pub fn entries_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, EntryInfo)>, CacheError> {
        self.cache()?.entries_with_prefix(prefix)
    }

    /// See [`Cache::keys_with_prefix`].
    ///
    /// # Errors
    ///
    /// As [`Cache::keys_with_prefix`], or the open error.
    pub fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, CacheError> {
        self.cache()?.keys_with_prefix(prefix)
    }

    /// See [`Cache::len`].
    ///
    /// # Errors
    ///
    /// As [`Cache::len`], or the open error.
    pub fn len(&self) -> Result<usize, CacheError> {
        self.cache()?.len()
    }

    /// See [`Cache::is_empty`].
    ///
    /// # Errors
    ///
    /// As [`Cache::is_empty`], or the open error.
    pub fn is_empty(&self) -> Result<bool, CacheError> {
        self.cache()?.is_empty()
    }

    /// See [`Cache::size_bytes`].
    ///
    /// # Errors
    ///
    /// The open error.
    pub fn size_bytes(&self) -> Result<u64, CacheError> {
        Ok(self.cache()?.size_bytes())
    }

    /// See [`Cache::clear`].
    ///
    /// # Errors
    ///
    /// As [`Cache::clear`], or the open error.
    pub fn clear(&self) -> Result<(), CacheError> {
        self.cache()?.clear()
    }

    /// See [`Cache::info`].
    ///
    /// # Errors
    ///
    /// As [`Cache::info`], or the open error.
    pub fn info(&self, key: &str) -> Result<Option<EntryInfo>, CacheError> {
        self.cache()?.info(key)
    }

    /// See [`Cache::stats`].
    ///
    /// # Errors
    ///
    /// The open error.
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        Ok(self.cache()?.stats())
    }

    /// See [`Cache::flush`].
    ///
    /// # Errors
    ///
    /// As [`Cache::flush`], or the open error.
    pub fn flush(&self) -> Result<(), CacheError> {
        self.cache()?.flush()
    }

    /// See [`Cache::get_or_compute`].
    ///
    /// # Errors
    ///
    /// As [`Cache::get_or_compute`], or the open error.
    pub async fn get_or_compute<T, F, Fut, E>(
        &self,
        key: &str,
        ttl: Option<SignedDuration>,
        loader: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<CacheError>,
    {
        self.cache()?.get_or_compute(key, ttl, loader).await
    }

    /// See [`Cache::get_or_compute_with`].
    ///
    /// # Errors
    ///
    /// As [`Cache::get_or_compute_with`], or the open error.
    pub async fn get_or_compute_with<T, F, Fut, E>(
        &self,
        key: &str,
        how: Compute<T>,
        loader: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: From<CacheError> + std::fmt::Display + Send + 'static,
    {
        self.cache()?.get_or_compute_with(key, how, loader).await
    }
}
