//! The Prometheus text exposition format (version 0.0.4) of every model's metrics: latency
//! histograms in seconds with `_bucket`/`_sum`/`_count`, counters and gauges.

use std::fmt::Write;

use aidot_core::serving::histogram::cumulative_counts;
use std::sync::Arc;

use aidot_core::serving::{DispatchReason, ErrorKind, LoadedModel, MetricsSnapshot};
use hdrhistogram::Histogram;

use crate::state::AppState;

/// Bucket bounds of the latency histograms, in seconds: 50 µs to 10 s.
const LATENCY_BOUNDS_S: [f64; 18] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A per-model series: name, help, type and how to read it from a snapshot.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&MetricsSnapshot) -> f64,
);

/// The whole exposition for `/metrics`.
pub fn render(state: &AppState) -> String {
    let models = state.table.list();
    let mut out = String::with_capacity(4096 + models.len() * 8192);
    latency_section(&mut out, &models);
    let snapshots: Vec<_> = models
        .iter()
        .map(|m| m.batcher.metrics().snapshot(m.batcher.queue_depth()))
        .collect();
    let families: [Family; 6] = [
        (
            "aidot_requests_total",
            "Requests answered successfully.",
            "counter",
            |s| s.requests_total as f64,
        ),
        (
            "aidot_rows_total",
            "Rows predicted in successful requests.",
            "counter",
            |s| s.rows_total as f64,
        ),
        (
            "aidot_queue_depth",
            "Rows waiting in the model's queue.",
            "gauge",
            |s| s.queue_depth as f64,
        ),
        (
            "aidot_batch_utilization",
            "Mean batch size over the batch size limit.",
            "gauge",
            |s| s.batch_utilization,
        ),
        (
            "aidot_requests_per_second",
            "Requests per second over the last 10 seconds.",
            "gauge",
            |s| s.requests_per_second,
        ),
        (
            "aidot_rows_per_second",
            "Rows per second over the last 10 seconds.",
            "gauge",
            |s| s.rows_per_second,
        ),
    ];
    for (name, help, kind, value) in families {
        header(&mut out, name, help, kind);
        for (model, snapshot) in models.iter().zip(&snapshots) {
            let _ = writeln!(
                out,
                "{name}{{model=\"{}\"}} {}",
                escape(&model.info.name),
                value(snapshot)
            );
        }
    }
    labelled_counters(&mut out, &models);
    for (kind, count) in state.errors.counts() {
        let _ = writeln!(out, "aidot_server_errors_total{{kind=\"{kind}\"}} {count}");
    }
    header(
        &mut out,
        "aidot_batch_size",
        "Rows per model call.",
        "histogram",
    );
    for (model, snapshot) in models.iter().zip(&snapshots) {
        batch_size_series(&mut out, model, &snapshot.batch_size_distribution);
    }
    header(
        &mut out,
        "aidot_model_info",
        "The loaded version and format of each model.",
        "gauge",
    );
    for model in &models {
        let _ = writeln!(
            out,
            "aidot_model_info{{model=\"{}\",version=\"{}\",format=\"{}\"}} 1",
            escape(&model.info.name),
            escape(&model.info.version),
            escape(&model.info.platform)
        );
    }
    header(
        &mut out,
        "aidot_uptime_seconds",
        "Seconds since the server started.",
        "gauge",
    );
    let _ = writeln!(
        out,
        "aidot_uptime_seconds {}",
        state.started.elapsed().as_secs_f64()
    );
    out
}

fn latency_section(out: &mut String, models: &[Arc<LoadedModel>]) {
    let families = [
        (
            "aidot_request_duration_seconds",
            "End-to-end request latency, from arrival to reply.",
        ),
        (
            "aidot_queue_wait_seconds",
            "Time rows wait in the model's queue before their batch runs.",
        ),
        (
            "aidot_compute_seconds",
            "Time of each model call (one per batch).",
        ),
    ];
    let histograms: Vec<[Histogram<u64>; 3]> = models
        .iter()
        .map(|m| m.batcher.metrics().histograms())
        .collect();
    for (index, (name, help)) in families.iter().enumerate() {
        header(out, name, help, "histogram");
        for (model, histograms) in models.iter().zip(&histograms) {
            latency_series(out, name, &model.info.name, &histograms[index]);
        }
    }
}

/// Batches by dispatch reason and errors by kind; ends with the header of the server-wide
/// error counter, whose samples the caller writes.
fn labelled_counters(out: &mut String, models: &[Arc<LoadedModel>]) {
    header(
        out,
        "aidot_batches_total",
        "Model calls, by why the batch was sent.",
        "counter",
    );
    for model in models {
        for reason in DispatchReason::ALL {
            let _ = writeln!(
                out,
                "aidot_batches_total{{model=\"{}\",reason=\"{}\"}} {}",
                escape(&model.info.name),
                reason.as_str(),
                model.batcher.metrics().dispatched(reason)
            );
        }
    }
    header(
        out,
        "aidot_errors_total",
        "Failed requests (rows, for model errors and timeouts), by kind.",
        "counter",
    );
    for model in models {
        for kind in ErrorKind::ALL {
            let _ = writeln!(
                out,
                "aidot_errors_total{{model=\"{}\",kind=\"{}\"}} {}",
                escape(&model.info.name),
                kind.as_str(),
                model.batcher.metrics().errors(kind)
            );
        }
    }
    header(
        out,
        "aidot_server_errors_total",
        "Failed requests that reached no model, by kind.",
        "counter",
    );
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn latency_series(out: &mut String, name: &str, model: &str, histogram: &Histogram<u64>) {
    let model = escape(model);
    #[allow(clippy::cast_sign_loss)] // positive constants
    let bounds_ns: Vec<u64> = LATENCY_BOUNDS_S.iter().map(|s| (s * 1e9) as u64).collect();
    let counts = cumulative_counts(histogram, &bounds_ns);
    for (bound, count) in LATENCY_BOUNDS_S.iter().zip(counts) {
        let _ = writeln!(
            out,
            "{name}_bucket{{model=\"{model}\",le=\"{bound}\"}} {count}"
        );
    }
    let total = histogram.len();
    let _ = writeln!(
        out,
        "{name}_bucket{{model=\"{model}\",le=\"+Inf\"}} {total}"
    );
    let sum_s = if total == 0 {
        0.0
    } else {
        histogram.mean() * total as f64 / 1e9
    };
    let _ = writeln!(out, "{name}_sum{{model=\"{model}\"}} {sum_s}");
    let _ = writeln!(out, "{name}_count{{model=\"{model}\"}} {total}");
}

fn batch_size_series(
    out: &mut String,
    model: &LoadedModel,
    distribution: &std::collections::BTreeMap<usize, u64>,
) {
    let name = escape(&model.info.name);
    let max = model.batcher.config().max_batch_size;
    let mut bounds = Vec::new();
    let mut bound = 1;
    while bound < max {
        bounds.push(bound);
        bound *= 2;
    }
    bounds.push(max);
    let (mut total, mut sum) = (0u64, 0u64);
    for (&size, &count) in distribution {
        total += count;
        sum += size as u64 * count;
    }
    for bound in bounds {
        let at_or_below: u64 = distribution.range(..=bound).map(|(_, &count)| count).sum();
        let _ = writeln!(
            out,
            "aidot_batch_size_bucket{{model=\"{name}\",le=\"{bound}\"}} {at_or_below}"
        );
    }
    let _ = writeln!(
        out,
        "aidot_batch_size_bucket{{model=\"{name}\",le=\"+Inf\"}} {total}"
    );
    let _ = writeln!(out, "aidot_batch_size_sum{{model=\"{name}\"}} {sum}");
    let _ = writeln!(out, "aidot_batch_size_count{{model=\"{name}\"}} {total}");
}

/// A label value with backslashes, quotes and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
