//! aidot's pure-Rust core.
//!
//! Everything here is plain Rust with no Python in it, so it is tested and benchmarked with cargo
//! alone; the `aidot-python` crate wraps it for Python.
//!
//! - [`blobs`]: a content-addressed blob store keyed by BLAKE3 digests, with content-defined
//!   chunking for large files and atomic, durable writes.
//! - [`gp`]: the Gaussian-process sampler's posterior, log expected improvement and the
//!   box-constrained BFGS that maximizes it from each starting point.
//! - [`serving`]: the request batcher, HDR latency histograms, per-model metrics and the table
//!   of served models, under the HTTP server.
//! - [`tpe`]: the Parzen estimators of the TPE hyperparameter sampler, fitted and scored in one
//!   call.
//! - [`tree`]: a parallel listing of a folder tree with each file's stat, for data versioning.

pub mod blobs;
mod error;
pub mod gp;
pub mod serving;
pub mod tpe;
pub mod tree;

pub use error::{Error, Result};
