//! Byte layouts shared by the store and the write log: entry metadata, keys, checksums.

use jiff::Timestamp;

use super::CacheError;

/// The on-disk format version, stored in the database's `info` table and in every log header.
/// Bump it on any incompatible change; older builds then refuse the files instead of
/// misreading them.
pub(crate) const FORMAT_VERSION: u64 = 1;

/// The longest key accepted, in bytes (UTF-8).
pub const MAX_KEY_LEN: usize = 1024;

/// Bytes of bookkeeping counted per entry on top of its key and value, so that many tiny
/// entries still count toward the size limit.
pub(crate) const ENTRY_OVERHEAD: u64 = 64;

/// The metadata kept for every entry, in memory and in the `meta` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    /// When the value was written, microseconds since the Unix epoch.
    pub(crate) created_us: i64,
    /// Absolute expiry, microseconds since the Unix epoch, so that the remaining TTL survives
    /// a restart.
    pub(crate) expires_us: Option<i64>,
    /// The encoded value's length.
    pub(crate) size: u64,
    /// The last-access tick (a per-cache counter; larger is more recent).
    pub(crate) tick: u64,
}

pub(crate) const META_LEN: usize = 32;

impl Meta {
    pub(crate) fn encode(&self) -> [u8; META_LEN] {
        let mut out = [0u8; META_LEN];
        out[0..8].copy_from_slice(&self.created_us.to_le_bytes());
        out[8..16].copy_from_slice(&self.expires_us.unwrap_or(i64::MIN).to_le_bytes());
        out[16..24].copy_from_slice(&self.size.to_le_bytes());
        out[24..32].copy_from_slice(&self.tick.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let word = |i: usize| -> Option<[u8; 8]> { bytes.get(i..i + 8)?.try_into().ok() };
        let expires = i64::from_le_bytes(word(8)?);
        Some(Self {
            created_us: i64::from_le_bytes(word(0)?),
            expires_us: (expires != i64::MIN).then_some(expires),
            size: u64::from_le_bytes(word(16)?),
            tick: u64::from_le_bytes(word(24)?),
        })
    }

    pub(crate) fn is_expired(&self, now_us: i64) -> bool {
        self.expires_us.is_some_and(|e| now_us >= e)
    }

    /// What this entry counts toward the size limit.
    pub(crate) fn charge(&self, key: &str) -> u64 {
        key.len() as u64 + self.size + ENTRY_OVERHEAD
    }
}

/// The first byte of a format 2 `meta` table value (a format 1 value is [`META_LEN`] bytes of
/// fixed-width fields, [`Meta::encode`]).
const STORED_TAG: u8 = 2;

/// A `meta` table value in format 2: [`STORED_TAG`], then the fields and the value's heap
/// position as LEB128 varints (about 18 bytes instead of 40: for small values the metadata is
/// a large part of what the file holds). Never [`META_LEN`] long, so the formats cannot be
/// mistaken for each other.
pub(crate) fn encode_stored(m: &Meta, pos: u64) -> Vec<u8> {
    let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    let mut out = Vec::with_capacity(24);
    out.push(STORED_TAG);
    for v in [
        zigzag(m.created_us),
        m.expires_us.map_or(0, |e| zigzag(e).wrapping_add(1)),
        m.size,
        m.tick,
        pos,
    ] {
        let mut v = v;
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    if out.len() == META_LEN {
        out.push(0);
    }
    out
}

/// Reads a `meta` table value of either format: the metadata, and the value's heap position
/// (`None` for format 1, whose values are in the `values` and `chunks` tables).
pub(crate) fn decode_stored(bytes: &[u8]) -> Option<(Meta, Option<u64>)> {
    if bytes.len() == META_LEN {
        return Some((Meta::decode(bytes)?, None));
    }
    let (&tag, mut rest) = bytes.split_first()?;
    if tag != STORED_TAG {
        return None;
    }
    let mut next = || -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&b, tail) = rest.split_first()?;
            rest = tail;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    };
    let unzigzag = |v: u64| ((v >> 1) as i64) ^ -((v & 1) as i64);
    let created_us = unzigzag(next()?);
    let expires_us = match next()? {
        0 => None,
        e => Some(unzigzag(e - 1)),
    };
    let meta = Meta {
        created_us,
        expires_us,
        size: next()?,
        tick: next()?,
    };
    Some((meta, Some(next()?)))
}

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn timestamp(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::MAX)
}

pub(crate) fn validate_key(key: &str) -> Result<(), CacheError> {
    let reason = if key.is_empty() {
        "a key must not be empty"
    } else if key.len() > MAX_KEY_LEN {
        "a key must be at most 1024 bytes long"
    } else {
        return Ok(());
    };
    Err(CacheError::InvalidKey {
        key: key.chars().take(80).collect(),
        reason,
    })
}

/// A fast 64-bit checksum for log records. It only has to tell a complete record from a torn
/// or garbled one (not resist an adversary), and it runs on every write, so it mixes eight
/// bytes per step rather than one.
pub(crate) fn checksum(data: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0x51_7CC1_B727_220A ^ (data.len() as u64).wrapping_mul(K);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word))
            .wrapping_mul(K)
            .rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    // Final avalanche (from splitmix64) so every input bit reaches every output bit.
    h ^= h >> 30;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

#[cfg(test)]
mod stored_tests {
    use super::*;

    #[test]
    fn stored_metadata_round_trips_in_both_formats() {
        for m in [
            Meta {
                created_us: 1_764_000_000_000_000,
                expires_us: None,
                size: 100,
                tick: 7,
            },
            Meta {
                created_us: -5,
                expires_us: Some(i64::MAX),
                size: u64::MAX,
                tick: u64::MAX,
            },
            Meta {
                created_us: 0,
                expires_us: Some(-1),
                size: 0,
                tick: 0,
            },
        ] {
            for pos in [0, 1 << 40, u64::MAX] {
                let bytes = encode_stored(&m, pos);
                assert_ne!(bytes.len(), META_LEN);
                assert_eq!(decode_stored(&bytes), Some((m, Some(pos))));
            }
            assert_eq!(decode_stored(&m.encode()), Some((m, None)));
        }
        assert_eq!(decode_stored(&[STORED_TAG, 0x80]), None);
        assert_eq!(decode_stored(&[9, 1, 2, 3]), None);
    }
}
