//! aidot's HTTP inference server: axum on a tokio runtime of its own, in front of the serving
//! core's batchers.
//!
//! Routes, one module per family: the AiDotNet.Serving contract (`/api/inference/predict`,
//! `/api/models`), the Open Inference Protocol v2 (`/v2/...`: health, metadata, inference with
//! JSON or binary tensors, the model repository extension, statistics), and operations
//! (`/metrics` in the Prometheus format, `/healthz`, `/openapi.json`). Handlers parse on the
//! HTTP threads (no GIL anywhere here), queue rows into the model's batcher and await the reply.
//! Models are reached through [`aidot_core::serving::Predictor`] and loaded by name through
//! [`ModelLoader`], so this crate knows nothing of Python.

mod body;
mod config;
mod error;
mod infer;
pub mod prometheus;
mod routes;
mod serve;
mod state;
mod values;

pub use config::ServerConfig;
pub use routes::seed::describe;
pub use routes::{router, OPENAPI};
pub use serve::{Server, ThreadSetup};
pub use state::{AppState, LoadError, ModelLoader};
