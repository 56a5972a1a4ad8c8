//! `aidot._core.scan_tree`: the native folder listing of data version control.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::gil::detach;

/// `(path, size, mtime_ns, inode, mode)`.
type FileTuple = (String, u64, i64, u64, u32);

/// Every regular file under `root`, sorted by relative path, with its stat; and the
/// listing's fingerprint (hex).
#[pyfunction]
pub(crate) fn scan_tree(py: Python<'_>, root: PathBuf) -> PyResult<(Vec<FileTuple>, String)> {
    let (files, fingerprint) = detach(py, || {
        let files = aidot_core::tree::scan(&root)?;
        let fingerprint = aidot_core::tree::fingerprint(&files);
        Ok((files, fingerprint))
    })?;
    let tuples = files
        .into_iter()
        .map(|f| (f.path, f.size, f.mtime_ns, f.inode, f.mode))
        .collect();
    Ok((tuples, fingerprint.to_hex()))
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
