//! `aidot._core.scan_tree`: the native folder listing of data version control.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::gil::detach;

/// Columns of a listing: paths, sizes, mtimes (ns), inodes, modes, and its fingerprint (hex).
type Columns = (Vec<String>, Vec<u64>, Vec<i64>, Vec<u64>, Vec<u32>, String);

/// Every regular file under `root`, sorted by relative path, as columns (cheaper to build
/// than a tuple per file, and ready for NumPy), with the listing's fingerprint.
#[pyfunction]
pub(crate) fn scan_tree(py: Python<'_>, root: PathBuf) -> PyResult<Columns> {
    let (files, fingerprint) = detach(py, || {
        let files = aidot_core::tree::scan(&root)?;
        let fingerprint = aidot_core::tree::fingerprint(&files);
        Ok((files, fingerprint))
    })?;
    let n = files.len();
    let (mut sizes, mut mtimes, mut inodes, mut modes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let paths = files
        .into_iter()
        .map(|f| {
            sizes.push(f.size);
            mtimes.push(f.mtime_ns);
            inodes.push(f.inode);
            modes.push(f.mode);
            f.path
        })
        .collect();
    Ok((paths, sizes, mtimes, inodes, modes, fingerprint.to_hex()))
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
