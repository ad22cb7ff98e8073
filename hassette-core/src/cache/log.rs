//! The append-only write log that makes a write survive a killed process without an fsync.
//!
//! Every set, delete and clear appends one checksummed record with a plain `write(2)` before
//! the call returns: once the kernel has the bytes in its page cache, a SIGKILL cannot take
//! them away. The flusher later moves them into redb with one durable commit and deletes the
//! log file. At open, any log files left behind are replayed in order; a torn record at the
//! tail (a write interrupted by the kill, never acknowledged) is skipped; so is a damaged
//! record in the middle, and replay resumes at the next intact record. A log with damage is
//! kept aside as `wal-<seq>.log.corrupt-<time>` and reported at ERROR.
//!
//! Layout of `wal-<seq>.log`: an 16-byte header (`HSTWAL\0\0`, format version as u64 LE),
//! then records `[payload length u32][checksum u64][payload]`, where payload is
//! `op u8` + (`put`: key length u16, key, 32-byte meta, value | `delete`: key length u16, key |
//! `clear`: nothing | `batch`: count u32, then per change its length u32 and its payload).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::codec::{FORMAT_VERSION, META_LEN, Meta, checksum};

const MAGIC: &[u8; 8] = b"HSTWAL\0\0";
const HEADER_LEN: u64 = 16;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
const OP_CLEAR: u8 = 3;
const OP_BATCH: u8 = 4;

/// One logged change, borrowed for writing.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op<'a> {
    Put {
        key: &'a str,
        meta: Meta,
        value: &'a [u8],
    },
    Delete {
        key: &'a str,
    },
    Clear,
    /// Several changes in one record: the checksum covers them all, so after a crash either
    /// all are replayed or none.
    Batch(&'a [Op<'a>]),
}

/// One logged change, read back at replay.
#[derive(Debug, Clone)]
pub(crate) enum OwnedOp {
    Put {
        key: String,
        meta: Meta,
        value: Vec<u8>,
    },
    Delete {
        key: String,
    },
    Clear,
}

/// What reading one log file found.
#[derive(Debug)]
pub(crate) enum Contents {
    /// The records that were complete and intact, in order, and what could not be read.
    Ops(Vec<OwnedOp>, Damage),
    /// The header says a newer format wrote this file.
    Newer(u64),
    /// The header is not ours.
    Foreign,
}

/// The unreadable parts of a log file: garbled or cut-off records skipped at replay.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Bytes that are not part of any intact record.
    pub(crate) bad_bytes: u64,
    /// Stretches of such bytes (each one is at least one lost record).
    pub(crate) stretches: u64,
}

impl Damage {
    pub(crate) fn is_clean(&self) -> bool {
        self.bad_bytes == 0
    }
}

/// The log file currently being appended to.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    seq: u64,
    path: PathBuf,
    file: File,
    len: u64,
    buf: Vec<u8>,
}

pub(crate) fn file_name(seq: u64) -> String {
    format!("wal-{seq:016}.log")
}

/// The log files in `dir`, oldest first.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(seq) = name
            .strip_prefix("wal-")
            .and_then(|rest| rest.strip_suffix(".log"))
            .and_then(|digits| digits.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((seq, entry.path()));
    }
    found.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(found)
}

/// Reads the intact records of one log file.
pub(crate) fn read(path: &Path) -> io::Result<Contents> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    if bytes.len() < HEADER_LEN as usize {
        // Killed between creating the file and writing its header: no record was ever in it.
        return Ok(Contents::Ops(Vec::new(), Damage::default()));
    }
    if &bytes[..8] != MAGIC {
        return Ok(Contents::Foreign);
    }
    let version = u64::from_le_bytes(array(&bytes[8..16]));
    if version > FORMAT_VERSION {
        return Ok(Contents::Newer(version));
    }
    let mut ops = Vec::new();
    let mut damage = Damage::default();
    let mut rest = &bytes[HEADER_LEN as usize..];
    while !rest.is_empty() {
        super::shared::give_way();
        if let Some((mut found, tail)) = next_record(rest) {
            ops.append(&mut found);
            rest = tail;
            continue;
        }
        // A damaged record: the checksum cannot say where it ends, so look for the next
        // position where an intact record starts and replay on from there. A 64-bit checksum
        // makes a false start vanishingly unlikely.
        let skip = (1..rest.len())
            .find(|&at| next_record(&rest[at..]).is_some())
            .unwrap_or(rest.len());
        damage.bad_bytes += skip as u64;
        damage.stretches += 1;
        rest = &rest[skip..];
    }
    Ok(Contents::Ops(ops, damage))
}

fn array(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[..8]);
    out
}

/// Parses one record; `None` at the end or at a torn or damaged record.
fn next_record(bytes: &[u8]) -> Option<(Vec<OwnedOp>, &[u8])> {
    let len = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(bytes.get(4..12)?.try_into().ok()?);
    let payload = bytes.get(12..12_usize.checked_add(len)?)?;
    if checksum(payload) != sum {
        return None;
    }
    let mut ops = Vec::new();
    decode(payload, &mut ops)?;
    Some((ops, &bytes[12 + len..]))
}

/// Decodes one payload (a batch into several changes) onto `out`.
fn decode(payload: &[u8], out: &mut Vec<OwnedOp>) -> Option<()> {
    let (&op, body) = payload.split_first()?;
    let read_key = |body: &[u8]| -> Option<(String, usize)> {
        let key_len = u16::from_le_bytes(body.get(0..2)?.try_into().ok()?) as usize;
        let key = std::str::from_utf8(body.get(2..2 + key_len)?).ok()?;
        Some((key.to_owned(), 2 + key_len))
    };
    match op {
        OP_PUT => {
            let (key, at) = read_key(body)?;
            let meta = Meta::decode(body.get(at..at + META_LEN)?)?;
            let value = body.get(at + META_LEN..)?.to_vec();
            out.push(OwnedOp::Put { key, meta, value });
        }
        OP_DELETE => out.push(OwnedOp::Delete {
            key: read_key(body)?.0,
        }),
        OP_CLEAR => out.push(OwnedOp::Clear),
        OP_BATCH => {
            let count = u32::from_le_bytes(body.get(0..4)?.try_into().ok()?);
            let mut rest = &body[4..];
            for _ in 0..count {
                let len = u32::from_le_bytes(rest.get(0..4)?.try_into().ok()?) as usize;
                decode(rest.get(4..4_usize.checked_add(len)?)?, out)?;
                rest = &rest[4 + len..];
            }
        }
        _ => return None,
    }
    Some(())
}

/// Appends the payload of `op` to `buf`.
fn encode(buf: &mut Vec<u8>, op: Op<'_>) -> io::Result<()> {
    match op {
        Op::Put { key, meta, value } => {
            buf.push(OP_PUT);
            push_key(buf, key);
            buf.extend_from_slice(&meta.encode());
            buf.extend_from_slice(value);
        }
        Op::Delete { key } => {
            buf.push(OP_DELETE);
            push_key(buf, key);
        }
        Op::Clear => buf.push(OP_CLEAR),
        Op::Batch(ops) => {
            buf.push(OP_BATCH);
            buf.extend_from_slice(&u32_len(ops.len())?.to_le_bytes());
            for op in ops {
                let at = buf.len();
                buf.extend_from_slice(&[0; 4]);
                encode(buf, *op)?;
                let len = u32_len(buf.len() - at - 4)?;
                buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
            }
        }
    }
    Ok(())
}

fn u32_len(n: usize) -> io::Result<u32> {
    u32::try_from(n)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "log record too large"))
}

impl Wal {
    /// Creates a fresh log file `wal-<seq>.log` in `dir`.
    pub(crate) fn create(dir: &Path, seq: u64) -> io::Result<Self> {
        let path = dir.join(file_name(seq));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(crate::private_files::FILE_MODE)
            .open(&path)?;
        crate::private_files::restrict_file(&path)?;
        let mut header = [0u8; HEADER_LEN as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        file.write_all(&header)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            seq,
            path,
            file,
            len: HEADER_LEN,
            buf: Vec::with_capacity(256),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the current file.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Bytes of records (not counting the header): zero means nothing to flush.
    pub(crate) fn record_bytes(&self) -> u64 {
        self.len - HEADER_LEN
    }

    /// Appends one record with a single `write(2)`. No fsync: the page cache survives a
    /// killed process, and durability against power loss is the flusher's job.
    pub(crate) fn append(&mut self, op: Op<'_>) -> io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(&[0u8; 12]);
        encode(&mut self.buf, op)?;
        let len = u32_len(self.buf.len() - 12)?;
        let sum = checksum(&self.buf[12..]);
        self.buf[0..4].copy_from_slice(&len.to_le_bytes());
        self.buf[4..12].copy_from_slice(&sum.to_le_bytes());
        if let Err(err) = self.file.write_all(&self.buf) {
            // A partial write (disk full) would leave a torn record that stops replay, hiding
            // every later record behind it: cut it off so the next record starts clean.
            if self.file.set_len(self.len).is_ok() {
                let _ = self.file.seek(SeekFrom::Start(self.len));
            }
            return Err(err);
        }
        self.len += self.buf.len() as u64;
        Ok(())
    }

    /// Starts a new log file and returns the sequence number and path of the old one, which
    /// the caller deletes once its records are durable in the database.
    pub(crate) fn rotate(&mut self) -> io::Result<(u64, PathBuf)> {
        let next = Self::create(&self.dir, self.seq + 1)?;
        let old = std::mem::replace(self, next);
        Ok((old.seq, old.path))
    }
}

fn push_key(buf: &mut Vec<u8>, key: &str) {
    // Keys are validated to at most 1024 bytes, so the length fits a u16.
    let len = u16::try_from(key.len()).unwrap_or(u16::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&key.as_bytes()[..usize::from(len)]);
}
