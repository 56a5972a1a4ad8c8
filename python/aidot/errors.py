"""The exceptions aidot raises: one hierarchy, each message saying what was wrong and what to do.

::

    AidotError
    ├── NotFoundError                 (also LookupError)
    │   ├── BlobNotFoundError         no blob with that digest is stored
    │   └── PathNotFoundError         (also FileNotFoundError) a path the caller named is missing
    ├── AlreadyExistsError
    ├── InvalidArgumentError          (also ValueError)
    │   ├── InvalidDigestError        not a BLAKE3 hex digest
    │   ├── InvalidFilterError        a search filter or order-by that does not parse
    │   ├── SignatureMismatchError    a batch that does not fit a model's signature
    │   ├── TrustRequiredError        loading a pickled model without trust=True
    │   ├── UnsupportedModelError     an object no model format can save
    │   ├── NotAFileError             a directory (or other non-file) where a file is expected
    │   └── NotAStoreError            a folder that does not hold an aidot blob store
    ├── IntegrityError                stored bytes no longer match their digest
    ├── SchemaVersionError            the database was written by a newer aidot
    ├── StorageError                  (also OSError) the disk or database failed
    │   ├── PathPermissionError       (also PermissionError)
    │   ├── RemoteError               a remote (S3, a folder) failed or lacks a blob
    │   └── StoreUnavailableError     the database cannot be reached right now
    ├── CancelledError                a long call was cancelled; nothing partial is visible
    └── ServingError                  serving a model failed
        ├── ServerStartError          (also OSError) the server could not bind or start
        ├── QueueFullError            a model's queue is full; retry later
        ├── RequestTimeoutError       (also TimeoutError) a request waited past its timeout
        ├── ModelExecutionError       the model raised or returned an unusable output
        └── ModelUnloadedError        the model was unloaded before the request ran

Errors from the Rust core are raised as these classes too (the mapping lives in
``rust/python/src/errors.rs``).
"""

from __future__ import annotations

__all__ = [
    "AidotError",
    "AlreadyExistsError",
    "BlobNotFoundError",
    "CancelledError",
    "IntegrityError",
    "InvalidArgumentError",
    "InvalidDigestError",
    "InvalidFilterError",
    "ModelExecutionError",
    "ModelUnloadedError",
    "NotAFileError",
    "NotAStoreError",
    "NotFoundError",
    "PathNotFoundError",
    "PathPermissionError",
    "QueueFullError",
    "RemoteError",
    "RequestTimeoutError",
    "SchemaVersionError",
    "ServerStartError",
    "ServingError",
    "SignatureMismatchError",
    "StorageError",
    "StoreUnavailableError",
    "TrustRequiredError",
    "UnsupportedModelError",
]


class AidotError(Exception):
    """Base class of every error aidot raises on purpose."""


class NotFoundError(AidotError, LookupError):
    """Something named by the caller does not exist."""


class BlobNotFoundError(NotFoundError):
    """No blob with the given digest is stored."""


class PathNotFoundError(NotFoundError, FileNotFoundError):
    """A file or folder the caller named does not exist."""


class AlreadyExistsError(AidotError):
    """Something the caller asked to create exists already."""


class InvalidArgumentError(AidotError, ValueError):
    """An argument is malformed or out of range."""


class InvalidDigestError(InvalidArgumentError):
    """A string that is not a BLAKE3 digest (64 hexadecimal characters)."""


class InvalidFilterError(InvalidArgumentError):
    """A ``search_runs`` filter or order-by clause that does not parse."""


class SignatureMismatchError(InvalidArgumentError):
    """A batch whose shape or dtype does not fit the model's signature."""


class TrustRequiredError(InvalidArgumentError):
    """A model stored with pickle (cloudpickle) loads only with ``trust=True``: unpickling runs
    whatever code the file contains."""


class UnsupportedModelError(InvalidArgumentError):
    """No model format can save this object."""


class NotAFileError(InvalidArgumentError):
    """A directory or other non-regular file where a regular file is expected."""


class NotAStoreError(InvalidArgumentError):
    """A folder exists but does not hold an aidot blob store."""


class IntegrityError(AidotError):
    """Stored data no longer matches its digest: it was damaged after it was written."""


class SchemaVersionError(AidotError):
    """The metadata database was written by a newer aidot than the one running."""


class StorageError(AidotError, OSError):
    """The disk or the database failed underneath aidot."""


class PathPermissionError(StorageError, PermissionError):
    """The operating system refused access to a path."""


class RemoteError(StorageError):
    """A remote (S3-compatible object storage, or a folder) failed a request after its
    retries, or does not hold what was asked for."""


class StoreUnavailableError(StorageError):
    """The metadata database cannot be reached right now (server down, network lost, a
    SQLite file locked past the busy timeout); retrying later may succeed."""


class CancelledError(AidotError):
    """A long call was cancelled; it made nothing partial visible."""


class ServingError(AidotError):
    """Serving a model failed."""


class ServerStartError(ServingError, OSError):
    """The inference server could not start: the address is taken, not allowed, or invalid."""


class QueueFullError(ServingError):
    """A model's request queue is full (the server answers 503 or 429); retry later."""


class RequestTimeoutError(ServingError, TimeoutError):
    """A request waited in a model's queue longer than its timeout."""


class ModelExecutionError(ServingError):
    """The model raised, or returned an output that does not have one row per input row."""


class ModelUnloadedError(ServingError):
    """The model was unloaded (or its batcher closed) before the request ran."""
