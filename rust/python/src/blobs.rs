//! `aidot._core.BlobStore`: the native half of `aidot.blobs.BlobStore`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use aidot_core::blobs::{BlobStore, Chunking, Digest, ExportMethod, GcReport, PutReport};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{to_pyerr, InvalidArgumentError};
use crate::gil::{detach, run_cancellable};

/// `(digest, size, bytes_written, chunks)`.
type PutTuple = (String, u64, u64, u32);

/// `(name, what is wrong)` pairs: damaged blobs by digest, damaged packs by id.
type Findings = Vec<(String, String)>;

fn put_tuple(r: PutReport) -> PutTuple {
    (r.digest.to_hex(), r.size, r.bytes_written, r.chunks)
}

fn digest(value: &str) -> PyResult<Digest> {
    Digest::parse(value).map_err(to_pyerr)
}

/// `(blobs_removed, chunks_removed, temp_removed, bytes_freed)`.
type GcTuple = (u64, u64, u64, u64);

fn gc_tuple(r: &GcReport) -> GcTuple {
    (
        r.blobs_removed,
        r.chunks_removed,
        r.temp_removed,
        r.bytes_freed,
    )
}

fn digest_list(values: &[String]) -> PyResult<Vec<Digest>> {
    values.iter().map(|d| digest(d)).collect()
}

fn hex_findings(found: Vec<(Digest, String)>) -> Findings {
    found
        .into_iter()
        .map(|(d, why)| (d.to_hex(), why))
        .collect()
}

fn grace(seconds: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        InvalidArgumentError::new_err(format!(
            "grace_seconds must be a non-negative number, got {seconds}"
        ))
    })
}

/// BLAKE3 hex digest of `data` (what `b3sum` prints for a file with these bytes).
#[pyfunction]
pub(crate) fn hash_bytes(py: Python<'_>, data: &[u8]) -> String {
    // Below 64 KiB hashing takes less time than releasing and re-taking the GIL.
    if data.len() < 1 << 16 {
        return Digest::of(data).to_hex();
    }
    py.detach(|| Digest::of(data).to_hex())
}

#[pyclass(frozen, name = "BlobStore", module = "aidot._core")]
pub(crate) struct PyBlobStore {
    pub(crate) inner: BlobStore,
}

#[pymethods]
impl PyBlobStore {
    #[new]
    #[pyo3(signature = (root, *, chunk_threshold=None, min_chunk=None, avg_chunk=None, max_chunk=None))]
    fn new(
        py: Python<'_>,
        root: PathBuf,
        chunk_threshold: Option<u64>,
        min_chunk: Option<usize>,
        avg_chunk: Option<usize>,
        max_chunk: Option<usize>,
    ) -> PyResult<Self> {
        let d = Chunking::default();
        let chunking = Chunking {
            threshold: chunk_threshold.unwrap_or(d.threshold),
            min_size: min_chunk.unwrap_or(d.min_size),
            avg_size: avg_chunk.unwrap_or(d.avg_size),
            max_size: max_chunk.unwrap_or(d.max_size),
        };
        let inner = detach(py, || BlobStore::with_chunking(&root, chunking))?;
        Ok(Self { inner })
    }

    #[getter]
    fn root(&self) -> PathBuf {
        self.inner.root().to_path_buf()
    }

    /// `(threshold, min, avg, max)` in bytes.
    #[getter]
    fn chunking(&self) -> (u64, usize, usize, usize) {
        let c = self.inner.chunking();
        (c.threshold, c.min_size, c.avg_size, c.max_size)
    }

    fn put_bytes(&self, py: Python<'_>, data: &[u8]) -> PyResult<PutTuple> {
        detach(py, || self.inner.put_bytes(data)).map(put_tuple)
    }

    #[pyo3(signature = (path, progress=None))]
    fn put_file(
        &self,
        py: Python<'_>,
        path: PathBuf,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PutTuple> {
        let paths = [path];
        run_cancellable(py, progress.as_ref(), |p| self.inner.put_files(&paths, p))
            .map(|mut reports| put_tuple(reports.remove(0)))
    }

    /// Exports `(digest, dest, mode)` items in parallel; returns how each was written.
    #[pyo3(signature = (items, link=false, verify=true, progress=None))]
    fn export_many(
        &self,
        py: Python<'_>,
        items: Vec<(String, PathBuf, Option<u32>)>,
        link: bool,
        verify: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Vec<&'static str>> {
        let parsed = items
            .into_iter()
            .map(|(d, dest, mode)| Ok((digest(&d)?, dest, mode)))
            .collect::<PyResult<Vec<_>>>()?;
        let methods = run_cancellable(py, progress.as_ref(), |p| {
            self.inner.export_many(&parsed, link, verify, p)
        })?;
        Ok(methods.into_iter().map(ExportMethod::as_str).collect())
    }

    #[pyo3(signature = (paths, progress=None))]
    fn put_files(
        &self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Vec<PutTuple>> {
        run_cancellable(py, progress.as_ref(), |p| self.inner.put_files(&paths, p))
            .map(|reports| reports.into_iter().map(put_tuple).collect())
    }

    fn has(&self, py: Python<'_>, digest_hex: &str) -> PyResult<bool> {
        let d = digest(digest_hex)?;
        Ok(py.detach(|| self.inner.has(&d)))
    }

    /// `(size, chunks, chunked)`.
    fn stat(&self, py: Python<'_>, digest_hex: &str) -> PyResult<(u64, u32, bool)> {
        let d = digest(digest_hex)?;
        let s = detach(py, || self.inner.stat(&d))?;
        Ok((s.size, s.chunks, s.chunked))
    }

    fn get_bytes<'py>(&self, py: Python<'py>, digest_hex: &str) -> PyResult<Bound<'py, PyBytes>> {
        let d = digest(digest_hex)?;
        let blob = detach(py, || self.inner.open_blob(&d))?;
        let size = usize::try_from(blob.size())
            .map_err(|_| InvalidArgumentError::new_err("blob too large for memory"))?;
        // Reads straight into the new bytes object: one copy from the page cache, no more.
        PyBytes::new_with(py, size, |buffer| {
            detach(py, || blob.read_into(buffer)).map(|_| ())
        })
    }

    /// Stores `(address, length)` buffers in parallel, each as one file (see
    /// `put_buffers_whole`). The Python caller keeps every buffer alive and unchanged until
    /// this call returns.
    fn put_addresses_whole(
        &self,
        py: Python<'_>,
        buffers: Vec<(usize, usize)>,
    ) -> PyResult<Vec<PutTuple>> {
        if buffers
            .iter()
            .any(|&(address, length)| address == 0 && length > 0)
        {
            return Err(InvalidArgumentError::new_err("null buffer address"));
        }
        // SAFETY: the Python wrapper holds each exported, C-contiguous buffer of exactly
        // `length` bytes at `address` until this call returns; they are only read.
        let slices: Vec<&[u8]> = buffers
            .iter()
            .map(|&(address, length)| {
                if length == 0 {
                    &[][..]
                } else {
                    unsafe { std::slice::from_raw_parts(address as *const u8, length) }
                }
            })
            .collect();
        let reports = detach(py, || self.inner.put_buffers_whole(&slices))?;
        Ok(reports.into_iter().map(put_tuple).collect())
    }

    /// The file holding a blob stored whole, or `None` when it is packed or chunked.
    fn whole_path(&self, py: Python<'_>, digest_hex: &str) -> PyResult<Option<PathBuf>> {
        let d = digest(digest_hex)?;
        detach(py, || self.inner.whole_path(&d))
    }

    /// Re-hashes the blobs in parallel; raises `IntegrityError` naming a damaged one.
    fn verify_digests(&self, py: Python<'_>, digests: Vec<String>) -> PyResult<()> {
        let parsed = digest_list(&digests)?;
        detach(py, || self.inner.verify_digests(&parsed))
    }

    /// Reads into `length` writable bytes at `address`. The Python caller obtains both from an
    /// exported buffer it keeps alive (and unresizable) for the duration of the call.
    fn read_into_address(
        &self,
        py: Python<'_>,
        digest_hex: &str,
        address: usize,
        length: usize,
    ) -> PyResult<u64> {
        let d = digest(digest_hex)?;
        if address == 0 && length > 0 {
            return Err(InvalidArgumentError::new_err("null buffer address"));
        }
        // SAFETY: the Python wrapper holds an exported, writable, C-contiguous buffer of exactly
        // `length` bytes at `address` until this call returns; nothing else writes to it.
        let buffer: &mut [u8] = if length == 0 {
            &mut []
        } else {
            unsafe { std::slice::from_raw_parts_mut(address as *mut u8, length) }
        };
        detach(py, || self.inner.read_into(&d, buffer))
    }

    #[pyo3(signature = (digest_hex, dest, link=false))]
    fn export(
        &self,
        py: Python<'_>,
        digest_hex: &str,
        dest: PathBuf,
        link: bool,
    ) -> PyResult<&'static str> {
        let d = digest(digest_hex)?;
        detach(py, || self.inner.export(&d, &dest, link))
            .map(aidot_core::blobs::ExportMethod::as_str)
    }

    /// `(checked, [(digest, problem), ...], [(pack id, problem), ...])`.
    #[pyo3(signature = (digest_hex=None))]
    fn verify(
        &self,
        py: Python<'_>,
        digest_hex: Option<&str>,
    ) -> PyResult<(u64, Findings, Findings)> {
        let d = digest_hex.map(digest).transpose()?;
        let report = detach(py, || self.inner.verify(d.as_ref()))?;
        Ok((
            report.checked,
            hex_findings(report.corrupt),
            report.damaged_packs,
        ))
    }

    /// `(checked, [(digest, problem), ...])` for these blobs, a missing one included.
    fn verify_each(&self, py: Python<'_>, digests: Vec<String>) -> PyResult<(u64, Findings)> {
        let parsed = digest_list(&digests)?;
        let report = detach(py, || self.inner.verify_each(&parsed))?;
        Ok((report.checked, hex_findings(report.corrupt)))
    }

    fn delete(&self, py: Python<'_>, digest_hex: &str) -> PyResult<bool> {
        let d = digest(digest_hex)?;
        detach(py, || self.inner.delete(&d))
    }

    /// [`GcTuple`] of deleting those of `digests` untouched for `grace_seconds`.
    fn delete_stale(
        &self,
        py: Python<'_>,
        digests: Vec<String>,
        grace_seconds: f64,
    ) -> PyResult<GcTuple> {
        let parsed = digest_list(&digests)?;
        let grace = grace(grace_seconds)?;
        let r = detach(py, || self.inner.delete_stale(&parsed, grace))?;
        Ok(gc_tuple(&r))
    }

    /// [`GcTuple`] of collecting everything not in `live`.
    fn gc(&self, py: Python<'_>, live: Vec<String>, grace_seconds: f64) -> PyResult<GcTuple> {
        let live: HashSet<Digest> = live.iter().map(|d| digest(d)).collect::<PyResult<_>>()?;
        let grace = grace(grace_seconds)?;
        let r = detach(py, || self.inner.gc(&live, grace))?;
        Ok(gc_tuple(&r))
    }

    fn list(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        detach(py, || self.inner.list()).map(|ds| ds.iter().map(Digest::to_hex).collect())
    }

    /// `(blobs, chunks, bytes)`.
    fn usage(&self, py: Python<'_>) -> PyResult<(u64, u64, u64)> {
        let u = detach(py, || self.inner.usage())?;
        Ok((u.blobs, u.chunks, u.bytes))
    }
}
