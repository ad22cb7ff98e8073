//! Atomic batches: several sets and deletes that all happen or none do.

use jiff::SignedDuration;
use serde::Serialize;

use super::ops::BatchOp;
use super::{Cache, CacheError, encode};

/// Changes collected by [`Cache::batch`], applied together by [`WriteBatch::commit`]: every
/// later read sees all of them, and a process killed at any moment leaves all of them or
/// none (they are one record in the write log).
///
/// # Examples
///
/// ```
/// # use hassette_core::cache::{Cache, CacheOptions};
/// # let tmp = tempfile::tempdir().unwrap();
/// # let cache = Cache::open(CacheOptions::new(tmp.path(), "MyApp")).unwrap();
/// cache.set("pending", &3)?;
/// cache
///     .batch()
///     .set("done", &3)?
///     .delete("pending")?
///     .commit()?;
/// assert_eq!(cache.get::<i32>("done")?, Some(3));
/// assert!(!cache.contains("pending")?);
/// # Ok::<(), hassette_core::cache::CacheError>(())
/// ```
#[derive(Debug)]
#[must_use = "a batch does nothing until committed"]
pub struct WriteBatch<'a> {
    cache: &'a Cache,
    ops: Vec<BatchOp>,
}

impl<'a> WriteBatch<'a> {
    pub(crate) fn new(cache: &'a Cache) -> Self {
        Self {
            cache,
            ops: Vec::new(),
        }
    }

    /// Adds a set (no expiry).
    ///
    /// # Errors
    ///
    /// [`CacheError::Encode`] or [`CacheError::NonFinite`] if the value cannot be stored.
    pub fn set<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Result<Self, CacheError> {
        self.ops.push(BatchOp::Set {
            key: key.to_owned(),
            value: encode(key, value)?,
            ttl: None,
        });
        Ok(self)
    }

    /// Adds a set expiring `ttl` after the commit.
    ///
    /// # Errors
    ///
    /// As [`WriteBatch::set`].
    pub fn set_with_ttl<T: Serialize + ?Sized>(
        mut self,
        key: &str,
        value: &T,
        ttl: impl TryInto<SignedDuration>,
    ) -> Result<Self, CacheError> {
        self.ops.push(BatchOp::Set {
            key: key.to_owned(),
            value: encode(key, value)?,
            ttl: Some(ttl.try_into().unwrap_or(SignedDuration::MAX)),
        });
        Ok(self)
    }

    /// Adds a delete (of a key that may not exist).
    ///
    /// # Errors
    ///
    /// Never; a `Result` so that calls chain with `?` like the sets.
    pub fn delete(mut self, key: &str) -> Result<Self, CacheError> {
        self.ops.push(BatchOp::Delete {
            key: key.to_owned(),
        });
        Ok(self)
    }

    /// How many changes are collected.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether no change is collected.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Applies every change at once.
    ///
    /// # Errors
    ///
    /// [`CacheError::InvalidKey`] or [`CacheError::ValueTooLarge`] for any change (then none
    /// is applied), [`CacheError::Io`] if the log cannot be written (none is applied).
    pub fn commit(self) -> Result<(), CacheError> {
        if self.ops.is_empty() {
            return Ok(());
        }
        self.cache.shared().apply_batch(self.ops)
    }
}
