//! `get_or_compute`: one loader per key, stale-while-revalidate, cache-only-if.

use std::future::Future;
use std::sync::Arc;

use jiff::SignedDuration;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::shared::{Shared, lock};
use super::{Cache, CacheError};

/// A `cache_if` condition.
type Keep<T> = Arc<dyn Fn(&T) -> bool + Send + Sync>;

/// How [`Cache::get_or_compute_with`] keeps what its loader computes.
///
/// # Examples
///
/// ```
/// use hassette_core::cache::Compute;
/// use jiff::SignedDuration;
///
/// // Fresh for 10 minutes; for an hour after that the old value is served at once while a
/// // new one is fetched in the background; an empty forecast is never kept.
/// let how = Compute::fresh_for(SignedDuration::from_mins(10))
///     .stale_while_revalidate(SignedDuration::from_hours(1))
///     .cache_if(|forecast: &Vec<f64>| !forecast.is_empty());
/// # let _ = how;
/// ```
#[derive(Clone)]
pub struct Compute<T> {
    ttl: Option<SignedDuration>,
    stale_for: Option<SignedDuration>,
    cache_if: Option<Keep<T>>,
}

impl<T> std::fmt::Debug for Compute<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compute")
            .field("ttl", &self.ttl)
            .field("stale_for", &self.stale_for)
            .field("cache_if", &self.cache_if.is_some())
            .finish()
    }
}

impl<T> Default for Compute<T> {
    fn default() -> Self {
        Self {
            ttl: None,
            stale_for: None,
            cache_if: None,
        }
    }
}

impl<T> Compute<T> {
    /// Keeps the value forever (until evicted), whatever it is.
    #[must_use]
    pub fn forever() -> Self {
        Self::default()
    }

    /// Keeps the value fresh for `ttl`.
    #[must_use]
    pub fn fresh_for(ttl: SignedDuration) -> Self {
        Self {
            ttl: Some(ttl),
            ..Self::default()
        }
    }

    /// After it stops being fresh, serves the old value for up to `window` more while the
    /// loader runs in the background (on the current tokio runtime) to replace it.
    #[must_use]
    pub fn stale_while_revalidate(mut self, window: SignedDuration) -> Self {
        self.stale_for = Some(window);
        self
    }

    /// Keeps a computed value only if `keep` says so (it is returned either way), e.g. not an
    /// error payload or an empty list.
    #[must_use]
    pub fn cache_if(mut self, keep: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.cache_if = Some(Arc::new(keep));
        self
    }

    fn keeps(&self, value: &T) -> bool {
        self.cache_if.as_ref().is_none_or(|keep| keep(value))
    }

    /// The stored TTL: fresh time plus the stale window.
    fn stored_ttl(&self) -> Option<SignedDuration> {
        self.ttl
            .map(|t| t.saturating_add(self.stale_for.unwrap_or(SignedDuration::ZERO)))
    }
}

impl Cache {
    /// [`Cache::get_or_compute`] with a stale-while-revalidate window and a condition for
    /// keeping the value (see [`Compute`]). One loader runs per key at a time, in the
    /// background too.
    ///
    /// # Errors
    ///
    /// The loader's error (when there is no value to serve), or a [`CacheError`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use hassette_core::cache::{Cache, CacheError, CacheOptions, Compute};
    /// # use jiff::SignedDuration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), CacheError> {
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let cache = Cache::open(CacheOptions::new(tmp.path(), "MyApp"))?;
    /// let how = Compute::fresh_for(SignedDuration::from_mins(5))
    ///     .stale_while_revalidate(SignedDuration::from_hours(1))
    ///     .cache_if(|t: &f64| *t > -100.0);
    /// let t = cache
    ///     .get_or_compute_with("outside_temp", how, || async { Ok::<_, CacheError>(21.5) })
    ///     .await?;
    /// assert_eq!(t, 21.5);
    /// # Ok(())
    /// # }
    /// ```
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
        if let Some(value) = self.get::<T>(key)? {
            if !self.is_stale(key, &how)? {
                return Ok(value);
            }
            if tokio::runtime::Handle::try_current().is_ok() {
                let cache = self.clone();
                let key = key.to_owned();
                tokio::spawn(async move { cache.refresh(&key, how, loader).await });
                return Ok(value);
            }
        }
        let ticket = InflightTicket::new(self.shared(), key);
        let _turn = ticket.gate().lock().await;
        if let Some(value) = self.get::<T>(key)?
            && !self.is_stale(key, &how)?
        {
            return Ok(value);
        }
        let value = loader().await?;
        if how.keeps(&value) {
            self.store_computed(key, &value, &how)?;
        }
        Ok(value)
    }

    fn is_stale<T>(&self, key: &str, how: &Compute<T>) -> Result<bool, CacheError> {
        Ok(match (how.ttl, how.stale_for, self.info(key)?) {
            (Some(ttl), Some(_), Some(info)) => info.age >= ttl,
            _ => false,
        })
    }

    fn store_computed<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        how: &Compute<T>,
    ) -> Result<(), CacheError> {
        match how.stored_ttl() {
            Some(ttl) => self.set_with_ttl(key, value, ttl),
            None => self.set(key, value),
        }
    }

    /// The background half of stale-while-revalidate: one refresh per key at a time.
    async fn refresh<T, F, Fut, E>(&self, key: &str, how: Compute<T>, loader: F)
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let ticket = InflightTicket::new(self.shared(), key);
        let Ok(_turn) = ticket.gate().try_lock() else {
            return;
        };
        let class = &self.shared().class;
        match loader().await {
            Ok(value) if how.keeps(&value) => {
                if let Err(err) = self.store_computed(key, &value, &how) {
                    tracing::warn!(class = %class, key, error = %err, "storing a refreshed cache value failed");
                }
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(class = %class, key, error = %err, "refreshing a stale cache value failed; the stale value stays");
            }
        }
    }

    /// The value under `key`, or else the one `loader` computes, stored with `ttl`.
    ///
    /// Only one loader runs per key at a time: concurrent callers for the same key wait for
    /// it and get its result. A failed loader stores nothing and its error is returned (the
    /// next waiter then tries its own loader).
    ///
    /// # Errors
    ///
    /// The loader's error, or a [`CacheError`] converted into `E`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use hassette_core::cache::{Cache, CacheError, CacheOptions};
    /// # use jiff::SignedDuration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), CacheError> {
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let cache = Cache::open(CacheOptions::new(tmp.path(), "MyApp"))?;
    /// let forecast: String = cache
    ///     .get_or_compute("forecast", Some(SignedDuration::from_mins(30)), || async {
    ///         Ok::<_, CacheError>("sunny".to_owned()) // e.g. an HTTP call
    ///     })
    ///     .await?;
    /// assert_eq!(forecast, "sunny");
    /// # Ok(())
    /// # }
    /// ```
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
        if let Some(value) = self.get(key)? {
            return Ok(value);
        }
        let ticket = InflightTicket::new(self.shared(), key);
        let _turn = ticket.gate().lock().await;
        if let Some(value) = self.get(key)? {
            return Ok(value);
        }
        let value = loader().await?;
        self.set_inner(key, &value, ttl)?;
        Ok(value)
    }
}

/// A caller's place in line for a key's loader; leaves the shared map tidy when dropped (also
/// when the caller's future is cancelled).
struct InflightTicket<'a> {
    shared: &'a Shared,
    key: &'a str,
    gate: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl<'a> InflightTicket<'a> {
    fn new(shared: &'a Shared, key: &'a str) -> Self {
        let gate = lock(&shared.inflight)
            .entry(key.to_owned())
            .or_default()
            .clone();
        Self {
            shared,
            key,
            gate: Some(gate),
        }
    }

    fn gate(&self) -> &tokio::sync::Mutex<()> {
        // Always `Some` until drop.
        self.gate.as_deref().unwrap_or(&UNUSED_GATE)
    }
}

static UNUSED_GATE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Drop for InflightTicket<'_> {
    fn drop(&mut self) {
        let mut map = lock(&self.shared.inflight);
        self.gate = None;
        if map.get(self.key).is_some_and(|g| Arc::strong_count(g) == 1) {
            map.remove(self.key);
        }
    }
}
