//! `aidot._core.scan_tree`: the native folder listing of data version control.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::gil::detach;

/// `(path, size, mtime_ns, inode, mode)`.
type FileTuple = (String, u64, i64, u64, u32);

/// Every regular file under `root`, sorted by relative path, with its stat.
#[pyfunction]
pub(crate) fn scan_tree(py: Python<'_>, root: PathBuf) -> PyResult<Vec<FileTuple>> {
    let files = detach(py, || aidot_core::tree::scan(&root))?;
    Ok(files
        .into_iter()
        .map(|f| (f.path, f.size, f.mtime_ns, f.inode, f.mode))
        .collect())
}

/// BLAKE3 hex digests of files, hashed in parallel; nothing is stored.
#[pyfunction]
pub(crate) fn hash_files(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Vec<String>> {
    let digests = detach(py, || aidot_core::tree::hash_files(&paths))?;
    Ok(digests
        .iter()
        .map(aidot_core::blobs::Digest::to_hex)
        .collect())
}
