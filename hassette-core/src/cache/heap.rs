//! Values packed end to end in page-sized blobs: how the cache fills its file.
//!
//! redb keeps each table entry whole inside its leaf pages, so a 1 KiB value leaves a quarter
//! of its page empty and a 16 KiB one needs pieces whose last is mostly air. Here every value
//! is appended to one byte stream, cut into blobs of [`BLOB_LEN`] bytes (one blob fills one
//! 4 KiB page), and the `meta` table holds where each value starts. Values die in place; a blob
//! whose last value died is dropped, and when dead bytes pass a sixteenth of the stream, the
//! live values of its emptiest blobs are appended again so those blobs can go.
//!
//! Everything here runs inside the flusher's write transaction, so a commit moves values,
//! updates their positions and drops blobs atomically, across a crash too.

use std::collections::BTreeSet;

use redb::{ReadableTable, ReadableTableMetadata, Table, TableDefinition, WriteTransaction};

/// Blob number → its bytes of the stream (`BLOB_LEN`, the last one possibly fewer).
pub(crate) const HEAP: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("heap");
/// Blob number → how many of its bytes belong to live values.
pub(crate) const HEAP_LIVE: TableDefinition<'_, u64, u64> = TableDefinition::new("heap_live");

/// Values longer than this are not moved to free a blob: that would rewrite far more than
/// it frees (the blobs at their ends go when their neighbours die).
pub(crate) const MOVE_MAX: u64 = 4 * BLOB_LEN;

/// A blob's length: one 4 KiB leaf page holds one entry of a `u64` key and this many bytes
/// with redb's page and entry headers.
pub(crate) const BLOB_LEN: u64 = 4064;

/// The `info` keys for the stream's end and its live byte count.
pub(crate) const TAIL_KEY: &str = "heap_tail";
pub(crate) const LIVE_KEY: &str = "heap_live";

/// The blobs holding stream bytes `pos .. pos + len`.
pub(crate) fn blobs(pos: u64, len: u64) -> std::ops::RangeInclusive<u64> {
    pos / BLOB_LEN..=(pos + len.max(1) - 1) / BLOB_LEN
}

/// Reads `len` bytes at `pos` from blobs given in order (`blobs(pos, len)` of them).
pub(crate) fn gather<'a>(
    pos: u64,
    len: u64,
    pieces: impl Iterator<Item = (u64, &'a [u8])>,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(usize::try_from(len).ok()?);
    let mut at = pos;
    for (blob, bytes) in pieces {
        if out.len() as u64 == len {
            break;
        }
        if blob != at / BLOB_LEN {
            return None;
        }
        let from = usize::try_from(at % BLOB_LEN).ok()?;
        let want = usize::try_from((len - out.len() as u64).min(BLOB_LEN - at % BLOB_LEN)).ok()?;
        out.extend_from_slice(bytes.get(from..from + want)?);
        at += want as u64;
    }
    (out.len() as u64 == len).then_some(out)
}

/// The heap inside one write transaction.
pub(crate) struct HeapTxn<'t> {
    heap: Table<'t, u64, &'static [u8]>,
    live: Table<'t, u64, u64>,
    /// Where the next value goes.
    tail: u64,
    /// The bytes of the blob `tail` is in, kept here until the commit writes it.
    open: Vec<u8>,
    live_total: u64,
}

impl<'t> HeapTxn<'t> {
    /// Opens the heap at the stream end `tail` recorded by the last commit.
    pub(crate) fn open(
        txn: &'t WriteTransaction,
        tail: u64,
        live_total: u64,
    ) -> Result<Self, redb::Error> {
        let heap = txn.open_table(HEAP)?;
        let live = txn.open_table(HEAP_LIVE)?;
        let mut tail = tail;
        let mut open = Vec::new();
        if !tail.is_multiple_of(BLOB_LEN) {
            let stored = heap.get(tail / BLOB_LEN)?.map(|g| g.value().to_vec());
            match stored {
                Some(bytes) if bytes.len() as u64 == tail % BLOB_LEN => open = bytes,
                // Not what the last commit wrote: start a fresh blob rather than mix them.
                _ => tail = tail.next_multiple_of(BLOB_LEN),
            }
        }
        Ok(Self {
            heap,
            live,
            tail,
            open,
            live_total,
        })
    }

    /// Empties the heap (a `clear`).
    pub(crate) fn clear(&mut self) -> Result<(), redb::Error> {
        self.heap.retain(|_, _| false)?;
        self.live.retain(|_, _| false)?;
        self.open.clear();
        self.tail = self.tail.next_multiple_of(BLOB_LEN);
        self.live_total = 0;
        Ok(())
    }

    fn open_blob(&self) -> u64 {
        self.tail / BLOB_LEN
    }

    fn add_live(&mut self, blob: u64, n: u64) -> Result<(), redb::Error> {
        let cur = self.live.get(blob)?.map_or(0, |g| g.value());
        self.live.insert(blob, cur + n)?;
        self.live_total += n;
        Ok(())
    }

    /// Appends `bytes` to the stream; returns where they start.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> Result<u64, redb::Error> {
        let pos = self.tail;
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = usize::try_from(BLOB_LEN).unwrap_or(4064) - self.open.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.open.extend_from_slice(now);
            self.add_live(self.open_blob(), now.len() as u64)?;
            self.tail += now.len() as u64;
            rest = later;
            if self.open.len() as u64 == BLOB_LEN {
                self.heap
                    .insert(self.tail / BLOB_LEN - 1, self.open.as_slice())?;
                self.open.clear();
            }
        }
        Ok(pos)
    }

    /// Marks the `len` bytes at `pos` dead; a blob left with none live is dropped.
    pub(crate) fn release(&mut self, pos: u64, len: u64) -> Result<(), redb::Error> {
        if len == 0 {
            return Ok(());
        }
        for blob in blobs(pos, len) {
            let start = pos.max(blob * BLOB_LEN);
            let end = (pos + len).min((blob + 1) * BLOB_LEN);
            let cur = self.live.get(blob)?.map_or(0, |g| g.value());
            let left = cur.saturating_sub(end - start);
            self.live_total = self.live_total.saturating_sub(cur - left);
            if left == 0 && blob != self.open_blob() {
                self.heap.remove(blob)?;
                self.live.remove(blob)?;
            } else {
                self.live.insert(blob, left)?;
            }
        }
        Ok(())
    }

    /// Reads `len` bytes at `pos` (written by an earlier commit or by this one).
    pub(crate) fn read(&self, pos: u64, len: u64) -> Result<Option<Vec<u8>>, redb::Error> {
        let mut owned = Vec::new();
        for blob in blobs(pos, len) {
            if blob == self.open_blob() {
                owned.push((blob, self.open.clone()));
            } else if let Some(g) = self.heap.get(blob)? {
                owned.push((blob, g.value().to_vec()));
            }
        }
        Ok(gather(
            pos,
            len,
            owned.iter().map(|(b, v)| (*b, v.as_slice())),
        ))
    }

    /// The bytes of the blobs that belong to no live value.
    pub(crate) fn dead(&self) -> Result<u64, redb::Error> {
        Ok((self.heap.len()? * BLOB_LEN).saturating_sub(self.live_total))
    }

    /// Whether dead bytes grew by more than a sixteenth of the blobs since `floor` (what the
    /// last pass left: bytes it could not free do not start a pass at every commit). The
    /// file's budget must leave room for dead bytes, so they are kept few.
    pub(crate) fn wants_collect(&self, floor: u64) -> Result<bool, redb::Error> {
        let dead = self.dead()?;
        Ok(dead > 64 * 1024 && dead > floor + self.heap.len()? * BLOB_LEN / 16)
    }

    /// The emptiest blobs whose live bytes, moved, free half the dead bytes: the blobs to
    /// empty in this pass.
    pub(crate) fn victims(&self) -> Result<BTreeSet<u64>, redb::Error> {
        let open = self.open_blob();
        let mut all = Vec::new();
        for item in self.live.iter()? {
            let (blob, live) = item?;
            if blob.value() != open {
                all.push((live.value(), blob.value()));
            }
        }
        all.sort_unstable();
        let goal = self.dead()? / 2;
        let mut freed = 0;
        let mut out = BTreeSet::new();
        for (live, blob) in all {
            if freed >= goal {
                break;
            }
            freed += BLOB_LEN.saturating_sub(live);
            out.insert(blob);
        }
        Ok(out)
    }

    /// Drops `blob` whatever it still counts live (after its values were moved: anything
    /// left belongs to no entry).
    pub(crate) fn drop_blob(&mut self, blob: u64) -> Result<(), redb::Error> {
        if blob == self.open_blob() {
            return Ok(());
        }
        if let Some(g) = self.live.remove(blob)? {
            self.live_total = self.live_total.saturating_sub(g.value());
        }
        self.heap.remove(blob)?;
        Ok(())
    }

    /// Whether the bytes at `pos .. pos + len` touch any of `victims`.
    pub(crate) fn touches(victims: &BTreeSet<u64>, pos: u64, len: u64) -> bool {
        victims.range(blobs(pos, len)).next().is_some()
    }

    /// Writes the open blob; returns the stream end and the live count, for `info`.
    pub(crate) fn finish(mut self) -> Result<(u64, u64), redb::Error> {
        if !self.open.is_empty() {
            self.heap.insert(self.open_blob(), self.open.as_slice())?;
        }
        Ok((self.tail, self.live_total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_gathered_across_blobs() {
        let a = vec![1u8; BLOB_LEN as usize];
        let b = vec![2u8; 10];
        let pos = BLOB_LEN - 3;
        let got = gather(pos, 5, [(0, a.as_slice()), (1, b.as_slice())].into_iter()).unwrap();
        assert_eq!(got, vec![1, 1, 1, 2, 2]);
        // A missing blob in the middle is damage, not a shorter value.
        assert_eq!(gather(pos, 5, [(0, a.as_slice())].into_iter()), None);
        assert_eq!(
            gather(pos, 5, [(0, a.as_slice()), (2, b.as_slice())].into_iter()),
            None
        );
    }
}
