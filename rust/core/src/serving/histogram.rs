//! HDR latency histograms that many threads record into without a global lock.
//!
//! Each histogram is split into shards, each an `hdrhistogram::Histogram` behind its own
//! mutex; a thread always records into the same shard, so recorders on different threads do
//! not contend and a snapshot merges the shards. Values are nanoseconds with three significant
//! digits (every percentile within 0.1% of the exact value) from 1 ns to one hour; longer
//! durations saturate at one hour.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use serde::Serialize;

/// The longest duration recorded exactly: one hour, in nanoseconds.
const HIGHEST_NS: u64 = 3_600_000_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

fn empty() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_NS, SIGNIFICANT_DIGITS).expect("valid bounds")
}

/// A latency histogram in nanoseconds, recorded from any number of threads.
pub struct LatencyHistogram {
    shards: Box<[CachePadded<Mutex<Histogram<u64>>>]>,
}

impl LatencyHistogram {
    /// A histogram with `shards` independent parts (1 for a single recording thread; the
    /// number of cores for many).
    pub fn new(shards: usize) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| CachePadded::new(Mutex::new(empty())))
            .collect();
        Self { shards }
    }

    /// A histogram with one shard per available core, for recording from many threads.
    pub fn concurrent() -> Self {
        Self::new(std::thread::available_parallelism().map_or(4, usize::from))
    }

    /// Records one duration.
    pub fn record(&self, elapsed: Duration) {
        self.record_ns(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records several durations under one lock (a batch's queue waits, say).
    pub fn record_all(&self, durations: impl IntoIterator<Item = Duration>) {
        let shard = &self.shards[thread_slot() % self.shards.len()];
        let mut histogram = shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for elapsed in durations {
            let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            histogram.saturating_record(nanos.clamp(1, HIGHEST_NS));
        }
    }

    /// Records one value in nanoseconds (0 counts as 1; beyond an hour saturates).
    pub fn record_ns(&self, nanos: u64) {
        let shard = &self.shards[thread_slot() % self.shards.len()];
        let mut histogram = shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        histogram.saturating_record(nanos.clamp(1, HIGHEST_NS));
    }

    /// All shards merged into one histogram, as of now.
    pub fn snapshot(&self) -> Histogram<u64> {
        let mut merged = empty();
        for shard in &*self.shards {
            let histogram = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            merged.add(&*histogram).expect("shards share their bounds");
        }
        merged
    }

    /// Forgets every recorded value.
    pub fn reset(&self) {
        for shard in &*self.shards {
            shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .reset();
        }
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::concurrent()
    }
}

/// The shard index of the calling thread: threads take consecutive slots on first use, so a
/// handful of server threads spread evenly over the shards.
fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SLOT.with(|slot| {
        if slot.get() == usize::MAX {
            slot.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        slot.get()
    })
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    /// The summary of a histogram of nanoseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |nanos: u64| nanos as f64 / 1e6;
        Self {
            count: histogram.len(),
            mean_ms: histogram.mean() / 1e6,
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p95_ms: ms(histogram.value_at_quantile(0.95)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// The cumulative count of values at or below each bound (nanoseconds), as Prometheus'
/// `_bucket{le=...}` series want them.
pub fn cumulative_counts(histogram: &Histogram<u64>, bounds_ns: &[u64]) -> Vec<u64> {
    bounds_ns
        .iter()
        .map(|&bound| {
            if bound >= histogram.max() {
                histogram.len()
            } else {
                histogram.count_between(0, bound)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every percentile is within 0.1% of the exact value from the sorted samples.
        #[test]
        fn percentiles_are_within_a_thousandth_of_exact(
            mut values in proptest::collection::vec(1u64..50_000_000_000, 1..2000),
            quantile in 0.0f64..=1.0,
        ) {
            let histogram = LatencyHistogram::new(3);
            for &value in &values {
                histogram.record_ns(value);
            }
            values.sort_unstable();
            #[allow(clippy::cast_sign_loss)] // quantile is in 0..=1
            let rank = ((quantile * values.len() as f64).ceil() as usize).clamp(1, values.len());
            let exact = values[rank - 1] as f64;
            let measured = histogram.snapshot().value_at_quantile(quantile) as f64;
            prop_assert!((measured - exact).abs() <= exact * 0.001 + 1.0,
                "quantile {quantile}: {measured} vs exact {exact}");
        }
    }

    #[test]
    fn threads_record_into_their_own_shards_and_snapshots_merge_them() {
        let histogram = LatencyHistogram::new(4);
        std::thread::scope(|scope| {
            for thread in 0..8u64 {
                let histogram = &histogram;
                scope.spawn(move || {
                    for i in 0..10_000 {
                        histogram.record_ns(1_000 + thread * 10_000 + i);
                    }
                });
            }
        });
        let merged = histogram.snapshot();
        assert_eq!(merged.len(), 80_000);
        assert_eq!(merged.min(), 1_000);
        histogram.reset();
        assert!(histogram.snapshot().is_empty());
    }

    #[test]
    fn out_of_range_values_saturate_instead_of_failing() {
        let histogram = LatencyHistogram::new(1);
        histogram.record(Duration::from_secs(10_000));
        histogram.record_ns(0);
        let merged = histogram.snapshot();
        assert_eq!(merged.len(), 2);
        assert!(merged.max() >= HIGHEST_NS * 999 / 1000);
    }

    #[test]
    fn cumulative_buckets_count_values_at_or_below_each_bound() {
        let histogram = LatencyHistogram::new(1);
        for micros in [50, 150, 150, 900, 5_000] {
            histogram.record(Duration::from_micros(micros));
        }
        let counts = cumulative_counts(&histogram.snapshot(), &[100_000, 1_000_000, 10_000_000]);
        assert_eq!(counts, vec![1, 4, 5]);
        let summary = LatencySummary::of(&histogram.snapshot());
        assert_eq!(summary.count, 5);
        assert!((summary.p50_ms - 0.15).abs() < 0.001);
    }
}
