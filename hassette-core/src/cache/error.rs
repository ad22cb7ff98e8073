//! The one error type of the cache.

use std::path::PathBuf;

/// What went wrong in a cache call.
///
/// Every variant names what it is about (the path, the key, the expected type), so that the
/// message alone is enough to act on. None of them takes the app down: a failed call returns
/// the error and the cache stays usable for the next call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// Another process (or another open handle in this process) holds the cache's lock.
    #[error(
        "the cache at {path} is held by another process (is another `hassette run` using the same data_dir?)"
    )]
    Locked {
        /// The cache database file.
        path: PathBuf,
    },
    /// The file system refused an operation: unwritable location, disk full, ...
    #[error(
        "cache i/o error at {path}: {source}{}",
        crate::private_files::permission_advice(path, source)
    )]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The storage engine failed (a damaged page found while reading, ...).
    #[error("cache storage error at {path}: {source}")]
    Storage {
        /// The cache database file.
        path: PathBuf,
        /// What redb said.
        #[source]
        source: redb::Error,
    },
    /// The cache was written by a newer, incompatible version of hassette. The file is left
    /// untouched.
    #[error(
        "the cache at {path} has format version {found}, newer than the supported version {supported}; the file was left untouched"
    )]
    NewerFormat {
        /// The file carrying the newer version.
        path: PathBuf,
        /// The version found in the file.
        found: u64,
        /// The newest version this build understands.
        supported: u64,
    },
    /// The stored value does not deserialize into the requested type.
    #[error("cache key {key:?} does not hold a value of type {expected}")]
    WrongType {
        /// The key that was read.
        key: String,
        /// The type that was asked for (`std::any::type_name`).
        expected: &'static str,
        /// Why deserialization failed.
        #[source]
        source: serde_json::Error,
    },
    /// The key is empty or too long.
    #[error("invalid cache key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given (cut to 80 characters when very long).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The value is too large for this cache's size limit.
    #[error(
        "value for cache key {key:?} is {size} bytes, more than this cache's limit of {limit} bytes per value"
    )]
    ValueTooLarge {
        /// The key being written.
        key: String,
        /// The encoded size of the value.
        size: u64,
        /// The largest value this cache accepts.
        limit: u64,
    },
    /// The value could not be encoded (a map with non-string keys, a failing `Serialize`...).
    #[error("cannot encode the value for cache key {key:?}")]
    Encode {
        /// The key being written.
        key: String,
        /// Why encoding failed.
        #[source]
        source: serde_json::Error,
    },
    /// `incr` would overflow an `i64`.
    #[error("incrementing cache key {key:?} overflows an i64")]
    Overflow {
        /// The key being incremented.
        key: String,
    },
    /// A float that JSON cannot hold (NaN or an infinity) was given to `set`: it would be
    /// stored as `null` and never read back as a number.
    #[error(
        "cannot store a non-finite float ({what}) under cache key {key:?}: JSON has no NaN or infinity"
    )]
    NonFinite {
        /// The key being written.
        key: String,
        /// `NaN`, `inf` or `-inf`.
        what: String,
    },
    /// The storage engine met damage it could not survive (it panicked); the cache file is
    /// moved aside at the next open.
    #[error("the cache file {path} is damaged: {reason}")]
    Damaged {
        /// The cache database file.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The cache was closed (with [`Cache::close`](super::Cache::close)) and cannot be used.
    #[error("the cache at {path} is closed")]
    Closed {
        /// The cache directory.
        path: PathBuf,
    },
}

impl CacheError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn storage(path: impl Into<PathBuf>, source: impl Into<redb::Error>) -> Self {
        let path = path.into();
        match source.into() {
            redb::Error::Io(source) => Self::Io { path, source },
            redb::Error::DatabaseAlreadyOpen => Self::Locked { path },
            source => Self::Storage { path, source },
        }
    }
}
