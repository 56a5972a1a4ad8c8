//! The one mapping from core errors to Python exceptions. The classes themselves are defined in
//! Python (`aidot/errors.py`), so there is a single hierarchy with docstrings users can read.

use aidot_core::Error;
use pyo3::prelude::*;

pyo3::import_exception!(aidot.errors, BlobNotFoundError);
pyo3::import_exception!(aidot.errors, CancelledError);
pyo3::import_exception!(aidot.errors, IntegrityError);
pyo3::import_exception!(aidot.errors, InvalidArgumentError);
pyo3::import_exception!(aidot.errors, InvalidDigestError);
pyo3::import_exception!(aidot.errors, ModelExecutionError);
pyo3::import_exception!(aidot.errors, ModelUnloadedError);
pyo3::import_exception!(aidot.errors, NotAFileError);
pyo3::import_exception!(aidot.errors, NotAStoreError);
pyo3::import_exception!(aidot.errors, PathNotFoundError);
pyo3::import_exception!(aidot.errors, PathPermissionError);
pyo3::import_exception!(aidot.errors, QueueFullError);
pyo3::import_exception!(aidot.errors, RemoteError);
pyo3::import_exception!(aidot.errors, RequestTimeoutError);
pyo3::import_exception!(aidot.errors, ServerStartError);
pyo3::import_exception!(aidot.errors, StorageError);

/// Converts a core error into the most specific `aidot.errors` exception.
pub(crate) fn to_pyerr(err: Error) -> PyErr {
    let message = err.to_string();
    match err {
        Error::InvalidDigest { .. } => InvalidDigestError::new_err(message),
        Error::BlobNotFound { .. } => BlobNotFoundError::new_err(message),
        Error::Corrupt { .. } => IntegrityError::new_err(message),
        Error::NotAFile { .. } => NotAFileError::new_err(message),
        Error::NotAStore { .. } => NotAStoreError::new_err(message),
        Error::InvalidArgument(_) => InvalidArgumentError::new_err(message),
        Error::Cancelled => CancelledError::new_err(message),
        Error::Remote { .. } => RemoteError::new_err(message),
        Error::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => PathNotFoundError::new_err(message),
            std::io::ErrorKind::PermissionDenied => PathPermissionError::new_err(message),
            std::io::ErrorKind::IsADirectory => NotAFileError::new_err(message),
            _ => StorageError::new_err(message),
        },
    }
}

/// Raises the Python exception a core error of the named kind maps to; lets the test suite
/// check every variant's mapping without having to provoke each one through the file system.
#[pyfunction(name = "_raise_core_error")]
pub(crate) fn raise_core_error(kind: &str) -> PyResult<()> {
    use std::io;
    let io_error = |k: io::ErrorKind| Error::Io {
        action: "open",
        path: "/nowhere".into(),
        source: io::Error::from(k),
    };
    let err = match kind {
        "invalid_digest" => Error::InvalidDigest {
            value: "xyz".into(),
        },
        "blob_not_found" => Error::BlobNotFound {
            digest: "0".repeat(64),
            root: "/store".into(),
        },
        "corrupt" => Error::Corrupt {
            digest: "0".repeat(64),
            detail: "test".into(),
        },
        "not_a_file" => Error::NotAFile {
            path: "/dir".into(),
        },
        "not_a_store" => Error::NotAStore {
            path: "/dir".into(),
            detail: "test".into(),
        },
        "invalid_argument" => Error::InvalidArgument("test".into()),
        "cancelled" => Error::Cancelled,
        "remote" => Error::Remote {
            url: "s3://test".into(),
            detail: "test".into(),
        },
        "io_not_found" => io_error(io::ErrorKind::NotFound),
        "io_permission" => io_error(io::ErrorKind::PermissionDenied),
        "io_is_a_directory" => io_error(io::ErrorKind::IsADirectory),
        "io_other" => io_error(io::ErrorKind::Other),
        other => {
            return Err(InvalidArgumentError::new_err(format!(
                "unknown error kind {other:?}"
            )))
        }
    };
    Err(to_pyerr(err))
}
