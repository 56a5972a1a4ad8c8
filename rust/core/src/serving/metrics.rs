//! Per-model performance metrics: latency histograms, throughput, batching and errors.
//!
//! A model's metrics outlive its versions: a hot swap hands the same `PerformanceMetrics` to
//! the new version, so counters stay monotonic (as Prometheus requires).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::histogram::{LatencyHistogram, LatencySummary};
use super::rate::RateWindow;

/// Why the dispatcher sent a batch to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DispatchReason {
    /// The batch reached the batch size limit.
    Full,
    /// `max_delay` passed since its first row arrived.
    DelayExpired,
    /// It reached one of the preferred batch sizes.
    PreferredSize,
    /// Nothing more was waiting and no delay was configured: a lone request is not held back.
    QueueDrained,
}

impl DispatchReason {
    pub const ALL: [Self; 4] = [
        Self::Full,
        Self::DelayExpired,
        Self::PreferredSize,
        Self::QueueDrained,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::DelayExpired => "delay_expired",
            Self::PreferredSize => "preferred_size",
            Self::QueueDrained => "queue_drained",
        }
    }
}

/// The kinds of failed request, counted separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed body, wrong types or shapes.
    BadRequest,
    /// The body exceeded the size limit.
    TooLarge,
    /// The model's queue was full.
    QueueFull,
    /// The request waited longer than its timeout.
    Timeout,
    /// The model raised, or returned something unusable.
    Model,
}

impl ErrorKind {
    pub const ALL: [Self; 5] = [
        Self::BadRequest,
        Self::TooLarge,
        Self::QueueFull,
        Self::Timeout,
        Self::Model,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::TooLarge => "too_large",
            Self::QueueFull => "queue_full",
            Self::Timeout => "timeout",
            Self::Model => "model_error",
        }
    }
}

/// The live metrics of one served model.
pub struct PerformanceMetrics {
    started: Instant,
    /// From the request's arrival to its reply, per request.
    pub end_to_end: LatencyHistogram,
    /// From a row's arrival in the queue to its batch's dispatch, per row.
    pub queue_wait: LatencyHistogram,
    /// The model call, per batch.
    pub compute: LatencyHistogram,
    requests: RateWindow,
    rows: RateWindow,
    batches: AtomicU64,
    batch_rows: AtomicU64,
    batch_sizes: Mutex<Vec<u64>>,
    max_batch_size: AtomicUsize,
    dispatch: [AtomicU64; DispatchReason::ALL.len()],
    errors: [AtomicU64; ErrorKind::ALL.len()],
    last_inference_ms: AtomicU64,
}

impl Default for PerformanceMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl PerformanceMetrics {
    pub fn new() -> Self {
        let started = Instant::now();
        Self {
            started,
            end_to_end: LatencyHistogram::concurrent(),
            // Recorded by the model's one dispatcher thread.
            queue_wait: LatencyHistogram::new(1),
            compute: LatencyHistogram::new(1),
            requests: RateWindow::new(started),
            rows: RateWindow::new(started),
            batches: AtomicU64::new(0),
            batch_rows: AtomicU64::new(0),
            batch_sizes: Mutex::new(Vec::new()),
            max_batch_size: AtomicUsize::new(1),
            dispatch: Default::default(),
            errors: Default::default(),
            last_inference_ms: AtomicU64::new(0),
        }
    }

    /// Records a request answered successfully after `elapsed`, with its number of rows.
    pub fn record_request(&self, elapsed: Duration, rows: usize) {
        self.end_to_end.record(elapsed);
        self.requests.add(1);
        self.rows.add(rows as u64);
    }

    /// Counts a failed request.
    pub fn record_error(&self, kind: ErrorKind) {
        self.errors[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Records a dispatched batch: its size, why it went, and the model's compute time.
    pub fn record_batch(&self, size: usize, reason: DispatchReason, compute: Duration) {
        self.compute.record(compute);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_rows.fetch_add(size as u64, Ordering::Relaxed);
        self.dispatch[reason as usize].fetch_add(1, Ordering::Relaxed);
        {
            let mut sizes = self
                .batch_sizes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if sizes.len() <= size {
                sizes.resize(size + 1, 0);
            }
            sizes[size] += 1;
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_inference_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Sets the batch size limit that utilization is measured against.
    pub fn set_max_batch_size(&self, max_batch_size: usize) {
        self.max_batch_size
            .store(max_batch_size.max(1), Ordering::Relaxed);
    }

    /// Count of batches sent for `reason`.
    pub fn dispatched(&self, reason: DispatchReason) -> u64 {
        self.dispatch[reason as usize].load(Ordering::Relaxed)
    }

    /// Count of errors of `kind`.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize].load(Ordering::Relaxed)
    }

    /// Raw merged histograms (end to end, queue wait, compute), for exporters.
    pub fn histograms(&self) -> [Histogram<u64>; 3] {
        [
            self.end_to_end.snapshot(),
            self.queue_wait.snapshot(),
            self.compute.snapshot(),
        ]
    }

    /// A consistent-enough view of every metric, with `queue_depth` from the model's batcher.
    pub fn snapshot(&self, queue_depth: usize) -> MetricsSnapshot {
        let batches = self.batches.load(Ordering::Relaxed);
        let batch_rows = self.batch_rows.load(Ordering::Relaxed);
        let max_batch_size = self.max_batch_size.load(Ordering::Relaxed);
        let mean = if batches == 0 {
            0.0
        } else {
            batch_rows as f64 / batches as f64
        };
        let distribution = self
            .batch_sizes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0)
            .map(|(size, &count)| (size, count))
            .collect();
        let [end_to_end, queue_wait, compute] = self.histograms();
        MetricsSnapshot {
            uptime_s: self.started.elapsed().as_secs_f64(),
            requests_total: self.requests.total(),
            rows_total: self.rows.total(),
            requests_per_second: self.requests.per_second(),
            rows_per_second: self.rows.per_second(),
            errors: ErrorKind::ALL
                .into_iter()
                .map(|kind| (kind.as_str(), self.errors(kind)))
                .collect(),
            end_to_end: LatencySummary::of(&end_to_end),
            queue_wait: LatencySummary::of(&queue_wait),
            compute: LatencySummary::of(&compute),
            batches_total: batches,
            batch_size_mean: mean,
            max_batch_size,
            batch_utilization: mean / max_batch_size as f64,
            batch_size_distribution: distribution,
            dispatch_reasons: DispatchReason::ALL
                .into_iter()
                .map(|reason| (reason.as_str(), self.dispatched(reason)))
                .collect(),
            queue_depth,
            last_inference_ms: self.last_inference_ms.load(Ordering::Relaxed),
        }
    }
}

/// Every metric of a model at one moment; serialized as the JSON of `/api/inference/metrics`.
#[derive(Clone, Debug, Serialize)]
pub struct MetricsSnapshot {
    pub uptime_s: f64,
    pub requests_total: u64,
    pub rows_total: u64,
    /// Over the last [`super::rate::WINDOW_SECONDS`] seconds.
    pub requests_per_second: f64,
    pub rows_per_second: f64,
    pub errors: BTreeMap<&'static str, u64>,
    pub end_to_end: LatencySummary,
    pub queue_wait: LatencySummary,
    pub compute: LatencySummary,
    pub batches_total: u64,
    pub batch_size_mean: f64,
    pub max_batch_size: usize,
    /// Mean batch size over the batch size limit.
    pub batch_utilization: f64,
    /// Batch size -> number of batches of that size.
    pub batch_size_distribution: BTreeMap<usize, u64>,
    pub dispatch_reasons: BTreeMap<&'static str, u64>,
    pub queue_depth: usize,
    /// Unix time in milliseconds of the last batch (0 before the first).
    pub last_inference_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reports_batching_errors_and_latency() {
        let metrics = PerformanceMetrics::new();
        metrics.set_max_batch_size(8);
        metrics.record_batch(8, DispatchReason::Full, Duration::from_micros(300));
        metrics.record_batch(2, DispatchReason::QueueDrained, Duration::from_micros(100));
        for _ in 0..10 {
            metrics.record_request(Duration::from_micros(500), 1);
        }
        metrics.record_error(ErrorKind::QueueFull);
        let snapshot = metrics.snapshot(3);
        assert_eq!(snapshot.requests_total, 10);
        assert_eq!(snapshot.batches_total, 2);
        assert!((snapshot.batch_size_mean - 5.0).abs() < 1e-9);
        assert!((snapshot.batch_utilization - 0.625).abs() < 1e-9);
        assert_eq!(snapshot.batch_size_distribution[&8], 1);
        assert_eq!(snapshot.dispatch_reasons["full"], 1);
        assert_eq!(snapshot.dispatch_reasons["queue_drained"], 1);
        assert_eq!(snapshot.errors["queue_full"], 1);
        assert_eq!(snapshot.queue_depth, 3);
        assert_eq!(snapshot.end_to_end.count, 10);
        assert!((snapshot.end_to_end.p99_ms - 0.5).abs() < 0.001);
    }
}
