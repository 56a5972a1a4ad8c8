//! The serving core: tensors, the request batcher, latency histograms, per-model metrics and
//! the table of served models. No HTTP and no Python here: `aidot-server` puts HTTP in front,
//! `aidot-python` plugs Python models in through [`batcher::Predictor`].

pub mod batcher;
pub mod histogram;
pub mod metrics;
pub mod rate;
pub mod table;
pub mod tensor;

pub use batcher::{
    Batcher, BatcherConfig, PendingRun, Predictor, Priority, RowError, RowOutput, RowRequest,
    SubmitError, Ticket, INLINE_LIMIT,
};
pub use histogram::{LatencyHistogram, LatencySummary};
pub use metrics::{DispatchReason, ErrorKind, MetricsSnapshot, PerformanceMetrics};
pub use table::{LoadedModel, ModelInfo, ModelTable};
pub use tensor::{DataType, RowShape, Tensor, TensorSpec};
