//! `aidot._core.Remote`: the native half of data remotes (S3-compatible storage or a folder).

use std::collections::HashMap;
use std::path::PathBuf;

use aidot_core::blobs::{Digest, Remote};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::blobs::PyBlobStore;
use crate::errors::to_pyerr;
use crate::gil::{detach, run_cancellable};

fn digests(values: &[String]) -> PyResult<Vec<Digest>> {
    values
        .iter()
        .map(|d| Digest::parse(d).map_err(to_pyerr))
        .collect()
}

#[pyclass(frozen, name = "Remote", module = "aidot._core")]
pub(crate) struct PyRemote {
    inner: Remote,
}

#[pymethods]
impl PyRemote {
    #[new]
    #[pyo3(signature = (url, options, cache))]
    fn new(
        py: Python<'_>,
        url: &str,
        options: HashMap<String, String>,
        cache: PathBuf,
    ) -> PyResult<Self> {
        let mut options: Vec<(String, String)> = options.into_iter().collect();
        options.sort();
        let inner = detach(py, || Remote::open(url, &options, &cache))?;
        Ok(Self { inner })
    }

    #[getter]
    fn url(&self) -> &str {
        self.inner.url()
    }

    /// Uploads what the remote lacks of these blobs; returns `(objects, bytes)` sent.
    #[pyo3(signature = (store, digests_hex, progress=None))]
    fn push(
        &self,
        py: Python<'_>,
        store: PyRef<'_, PyBlobStore>,
        digests_hex: Vec<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(u64, u64)> {
        let wanted = digests(&digests_hex)?;
        let blobs = &store.inner;
        let sent = run_cancellable(py, progress.as_ref(), |p| {
            self.inner.push(blobs, &wanted, p)
        })?;
        Ok((sent.objects, sent.bytes))
    }

    /// Downloads the blobs the local store lacks; returns `(objects, bytes)` received.
    #[pyo3(signature = (store, digests_hex, progress=None))]
    fn pull(
        &self,
        py: Python<'_>,
        store: PyRef<'_, PyBlobStore>,
        digests_hex: Vec<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(u64, u64)> {
        let wanted = digests(&digests_hex)?;
        let blobs = &store.inner;
        let received = run_cancellable(py, progress.as_ref(), |p| {
            self.inner.pull(blobs, &wanted, p)
        })?;
        Ok((received.objects, received.bytes))
    }

    fn put_meta(&self, py: Python<'_>, key: &str, data: &[u8]) -> PyResult<()> {
        detach(py, || self.inner.put_meta(key, data))
    }

    fn get_meta<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let found = detach(py, || self.inner.get_meta(key))?;
        Ok(found.map(|data| PyBytes::new(py, &data)))
    }

    fn list_meta(&self, py: Python<'_>, prefix: &str) -> PyResult<Vec<String>> {
        detach(py, || self.inner.list_meta(prefix))
    }
}
