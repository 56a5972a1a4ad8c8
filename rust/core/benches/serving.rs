//! The serving core's hot paths, each beside its baseline in one run
//! (`cargo bench -p aidot-core --bench serving`):
//!
//! - recording a latency into the sharded HDR histogram, against a bare
//!   `hdrhistogram::Histogram::record` (no lock, one thread): target under 50 ns;
//! - rows through the batcher to a no-op model and back, against a `std::sync::mpsc` round trip
//!   per row (the simplest thread handoff): target 2,000,000 rows/s;
//! - the histogram's percentiles against the exact sorted values: within 0.1% (printed).

use std::sync::Arc;
use std::time::Duration;

use aidot_core::serving::{
    Batcher, BatcherConfig, DataType, LatencyHistogram, PerformanceMetrics, Predictor, Priority,
    RowRequest, RowShape, Tensor,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn record(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram_record");
    let histogram = LatencyHistogram::concurrent();
    let mut value = 1_000u64;
    group.bench_function("aidot LatencyHistogram::record_ns (sharded, locked)", |b| {
        b.iter(|| {
            value = value
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1)
                % 50_000_000
                + 1;
            histogram.record_ns(std::hint::black_box(value));
        });
    });
    let mut bare =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
    group.bench_function(
        "baseline: hdrhistogram::Histogram::record (single thread)",
        |b| {
            b.iter(|| {
                value = value
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1)
                    % 50_000_000
                    + 1;
                bare.saturating_record(std::hint::black_box(value));
            });
        },
    );
    group.finish();
    print_percentile_accuracy();
}

/// Percentiles of a million log-uniform latencies against the exact sorted values.
#[allow(clippy::cast_sign_loss)] // positive by construction
fn print_percentile_accuracy() {
    let histogram = LatencyHistogram::new(4);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut values: Vec<u64> = (0..1_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // 1 µs to ~1 s, log-uniform.
            let exponent = (state % 1_000_000) as f64 / 1_000_000.0 * 6.0;
            (1_000.0 * 10f64.powf(exponent)) as u64
        })
        .collect();
    for &v in &values {
        histogram.record_ns(v);
    }
    values.sort_unstable();
    let snapshot = histogram.snapshot();
    let mut worst = 0f64;
    for quantile in [0.5, 0.9, 0.95, 0.99, 0.999, 0.9999] {
        let exact = values[((quantile * values.len() as f64).ceil() as usize).max(1) - 1] as f64;
        let measured = snapshot.value_at_quantile(quantile) as f64;
        worst = worst.max((measured - exact).abs() / exact);
    }
    println!(
        "percentile accuracy: worst relative error {:.4}% (target under 0.1%)",
        worst * 100.0
    );
}

struct NoOp;

impl Predictor for NoOp {
    fn predict(&self, batch: Tensor) -> Result<Tensor, String> {
        Ok(batch)
    }
}

const ROWS_PER_PRODUCER: usize = 20_000;
const PRODUCERS: usize = 2;
const IN_FLIGHT: usize = 256;

fn row_request() -> RowRequest {
    RowRequest {
        data: vec![0; 32],
        shape: RowShape::from_slice(&[8]),
        priority: Priority::Normal,
        timeout: None,
    }
}

/// Runs `produce` on [`PRODUCERS`] threads at once.
fn from_producers(batcher: &Batcher, produce: fn(&Batcher)) {
    std::thread::scope(|scope| {
        for _ in 0..PRODUCERS {
            scope.spawn(|| produce(batcher));
        }
    });
}

/// Submits rows to the dispatcher, [`IN_FLIGHT`] at a time.
fn submit_rows(batcher: &Batcher) {
    let mut pending = Vec::with_capacity(IN_FLIGHT);
    for _ in 0..ROWS_PER_PRODUCER / IN_FLIGHT {
        pending.extend((0..IN_FLIGHT).map(|_| batcher.submit(row_request()).unwrap()));
        for ticket in pending.drain(..) {
            ticket.wait().unwrap();
        }
    }
}

/// Queues rows [`IN_FLIGHT`] at a time and runs them on this thread when no batch is running.
fn run_rows(batcher: &Batcher) {
    for _ in 0..ROWS_PER_PRODUCER / IN_FLIGHT {
        let (tickets, queued) = batcher.enqueue((0..IN_FLIGHT).map(|_| row_request()));
        queued.run_here();
        for ticket in tickets {
            ticket.unwrap().wait().unwrap();
        }
    }
}

fn batcher_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("batcher_rows");
    group.throughput(Throughput::Elements((ROWS_PER_PRODUCER * PRODUCERS) as u64));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let batcher = Arc::new(
        Batcher::start(
            "bench",
            Arc::new(NoOp),
            DataType::Fp32,
            BatcherConfig {
                max_batch_size: 256,
                queue_capacity: 1 << 16,
                ..BatcherConfig::default()
            },
            Arc::new(PerformanceMetrics::new()),
        )
        .unwrap(),
    );
    group.bench_function("aidot Batcher, no-op model, 2 producers", |b| {
        b.iter(|| from_producers(&batcher, submit_rows));
    });
    // The server's path: each producer queues its rows in one call and runs them itself when
    // no batch is running.
    group.bench_function(
        "aidot Batcher, no-op model, 2 producers running their rows",
        |b| b.iter(|| from_producers(&batcher, run_rows)),
    );
    group.bench_function("baseline: mpsc round trip per row, 2 producers", |b| {
        let (to_worker, requests) =
            std::sync::mpsc::channel::<(Vec<u8>, std::sync::mpsc::Sender<Vec<u8>>)>();
        let worker = std::thread::spawn(move || {
            for (row, reply) in requests {
                let _ = reply.send(row);
            }
        });
        b.iter(|| {
            std::thread::scope(|scope| {
                for _ in 0..PRODUCERS {
                    let to_worker = to_worker.clone();
                    scope.spawn(move || {
                        let (reply, replies) = std::sync::mpsc::channel();
                        for _ in 0..ROWS_PER_PRODUCER / IN_FLIGHT {
                            for _ in 0..IN_FLIGHT {
                                to_worker.send((vec![0; 32], reply.clone())).unwrap();
                            }
                            for _ in 0..IN_FLIGHT {
                                replies.recv().unwrap();
                            }
                        }
                    });
                }
            });
        });
        drop(to_worker);
        worker.join().unwrap();
    });
    group.finish();
}

criterion_group!(benches, record, batcher_throughput);
criterion_main!(benches);
