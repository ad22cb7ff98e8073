//! Handler times of one app instance: a lock-free log-linear histogram, so recording costs one
//! atomic add and percentiles are within about 9% of the true value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: 8 keeps the relative error of a percentile under 1/8.
const SUB: u32 = 8;
/// Powers of two covered, in microseconds: up to 2^36 µs (about 19 hours).
const POWERS: u32 = 36;
const BUCKETS: usize = (SUB * POWERS) as usize + SUB as usize;

/// A histogram of durations in microseconds.
pub(crate) struct Timings {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
}

impl std::fmt::Debug for Timings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timings")
            .field("count", &self.count())
            .finish_non_exhaustive()
    }
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
        }
    }
}

/// The bucket of `micros`: exact below `SUB`, then `SUB` buckets per power of two.
fn bucket_of(micros: u64) -> usize {
    if micros < u64::from(SUB) {
        return usize::try_from(micros).unwrap_or(0);
    }
    let power = 63 - micros.leading_zeros(); // >= 3
    let shift = power - SUB.trailing_zeros();
    let sub = (micros >> shift) & u64::from(SUB - 1);
    let index = u64::from(power - SUB.trailing_zeros() + 1) * u64::from(SUB) + sub;
    usize::try_from(index).map_or(BUCKETS - 1, |i| i.min(BUCKETS - 1))
}

/// The upper bound, in microseconds, of the values in bucket `index`.
fn bucket_upper(index: usize) -> u64 {
    let sub = u64::from(SUB);
    let index = index as u64;
    if index < sub {
        return index;
    }
    let group = index / sub - 1; // the power above the exact range, from 0
    let within = index % sub;
    let shift = group;
    ((sub + within + 1) << shift) - 1
}

impl Timings {
    /// Records one handler run.
    pub(crate) fn record(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs recorded.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The `q` quantile (0..=1) in microseconds, or `None` before the first run.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_upper(i));
            }
        }
        Some(bucket_upper(BUCKETS - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_their_values() {
        for micros in (0..5000).chain([65_535, 1 << 20, 123_456_789]) {
            let b = bucket_of(micros);
            assert!(bucket_upper(b) >= micros, "{micros} in bucket {b}");
            if b > 0 {
                assert!(bucket_upper(b - 1) < micros, "{micros} in bucket {b}");
            }
            // The bucket is at most 1/8 wider than its lower edge.
            assert!(bucket_upper(b) <= micros + micros / 8 + 1, "{micros}");
        }
    }

    #[test]
    fn quantiles() {
        let t = Timings::default();
        assert_eq!(t.quantile(0.5), None);
        for _ in 0..98 {
            t.record(Duration::from_micros(100));
        }
        t.record(Duration::from_millis(50));
        t.record(Duration::from_millis(50));
        let p50 = t.quantile(0.5).unwrap_or(0);
        assert!((100..=113).contains(&p50), "{p50}");
        let p99 = t.quantile(0.99).unwrap_or(0);
        assert!((50_000..=56_250).contains(&p99), "{p99}");
        assert_eq!(t.count(), 100);
    }
}
