//! The byte-level side of `pop`, `add`, `touch` and atomic batches.

use std::sync::Arc;

use jiff::SignedDuration;

use super::CacheError;
use super::codec::{Meta, micros, validate_key};
use super::log::Op;
use super::shared::{Found, Shared};

/// One change of an atomic batch, encoded.
#[derive(Debug)]
pub(crate) enum BatchOp {
    Set {
        key: String,
        value: Vec<u8>,
        ttl: Option<SignedDuration>,
    },
    Delete {
        key: String,
    },
}

impl Shared {
    /// Removes `key` and returns what `decode` made of its value, decoding before removing so
    /// that a wrong type leaves the entry in place.
    pub(crate) fn pop<R>(
        &self,
        key: &str,
        decode: impl FnOnce(&[u8]) -> Result<R, CacheError>,
    ) -> Result<Option<R>, CacheError> {
        validate_key(key)?;
        let st = self.lock_open()?;
        let mut st = self.room_in_log(st)?;
        let Found::Present {
            value: Some(value), ..
        } = self.resolve(&mut st, key, true)?
        else {
            return Ok(None);
        };
        let decoded = decode(&value)?;
        st.wal
            .append(Op::Delete { key })
            .map_err(|e| CacheError::io(st.wal.path().to_path_buf(), e))?;
        st.write(key, None);
        st.counters.deletes += 1;
        self.nudge(&mut st);
        drop(st);
        tracing::debug!(class = %self.class, key, size = value.len(), "cache pop");
        Ok(Some(decoded))
    }

    /// Stores `value` only if `key` holds nothing; says whether it did.
    pub(crate) fn add(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Option<SignedDuration>,
    ) -> Result<bool, CacheError> {
        validate_key(key)?;
        let size = value.len() as u64;
        self.check_size(key, size)?;
        let st = self.lock_open()?;
        let mut st = self.room_in_log(st)?;
        let added = matches!(self.resolve(&mut st, key, false)?, Found::Missing);
        if added {
            let expires_us = ttl.map(|d| self.expiry_after(d));
            self.put_locked(&mut st, key, self.clock.now(), expires_us, value.into())?;
            st.counters.sets += 1;
            self.nudge(&mut st);
        }
        drop(st);
        tracing::debug!(class = %self.class, key, size, added, "cache add");
        Ok(added)
    }

    /// Gives `key` a new expiry (`None`: none) counted from now; says whether the key exists.
    pub(crate) fn touch(&self, key: &str, ttl: Option<SignedDuration>) -> Result<bool, CacheError> {
        validate_key(key)?;
        let st = self.lock_open()?;
        let mut st = self.room_in_log(st)?;
        let found = match self.resolve(&mut st, key, true)? {
            Found::Present {
                meta,
                value: Some(value),
            } => {
                let meta = Meta {
                    expires_us: ttl.map(|d| self.expiry_after(d)),
                    tick: st.next_tick(),
                    ..meta
                };
                self.put_meta(&mut st, key, meta, value)?;
                self.nudge(&mut st);
                true
            }
            _ => false,
        };
        drop(st);
        tracing::debug!(class = %self.class, key, found, ttl = ?ttl, "cache touch");
        Ok(found)
    }

    /// Applies every change with one log record: after a crash all of them are there or none.
    pub(crate) fn apply_batch(&self, ops: Vec<BatchOp>) -> Result<(), CacheError> {
        for op in &ops {
            match op {
                BatchOp::Set { key, value, .. } => {
                    validate_key(key)?;
                    self.check_size(key, value.len() as u64)?;
                }
                BatchOp::Delete { key } => validate_key(key)?,
            }
        }
        let now = self.clock.now();
        let st = self.lock_open()?;
        let mut st = self.room_in_log(st)?;
        let mut planned = Vec::with_capacity(ops.len());
        for op in &ops {
            planned.push(match op {
                BatchOp::Set { key, value, ttl } => {
                    let meta = Meta {
                        created_us: micros(now),
                        expires_us: ttl.map(|d| self.expiry_after(d)),
                        size: value.len() as u64,
                        tick: st.next_tick(),
                    };
                    (key.as_str(), Some((meta, value.as_slice())))
                }
                BatchOp::Delete { key } => (key.as_str(), None),
            });
        }
        let logged: Vec<Op<'_>> = planned
            .iter()
            .map(|(key, put)| match put {
                Some((meta, value)) => Op::Put {
                    key,
                    meta: *meta,
                    value,
                },
                None => Op::Delete { key },
            })
            .collect();
        st.wal
            .append(Op::Batch(&logged))
            .map_err(|e| CacheError::io(st.wal.path().to_path_buf(), e))?;
        for (key, put) in planned {
            match put {
                Some((meta, value)) => {
                    st.write(key, Some((meta, Arc::from(value))));
                    st.counters.sets += 1;
                }
                None => {
                    // A tombstone also covers a key only the database knows (index loading).
                    if st.map.get(key).is_none_or(|s| s.live) {
                        st.write(key, None);
                        st.counters.deletes += 1;
                    }
                }
            }
        }
        self.nudge(&mut st);
        drop(st);
        tracing::debug!(class = %self.class, changes = ops.len(), "cache batch");
        Ok(())
    }
}
