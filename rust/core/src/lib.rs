//! aidot's pure-Rust core.
//!
//! Everything here is plain Rust with no Python in it, so it is tested and benchmarked with cargo
//! alone; the `aidot-python` crate wraps it for Python.
//!
//! - [`blobs`]: a content-addressed blob store keyed by BLAKE3 digests, with content-defined
//!   chunking for large files and atomic, durable writes.
//! - [`tree`]: a parallel listing of a folder tree with each file's stat, for data versioning.

pub mod blobs;
mod error;
pub mod tree;

pub use error::{Error, Result};
