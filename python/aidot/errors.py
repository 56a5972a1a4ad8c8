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
    │   ├── InvalidDistributionError  an empty or inverted range, log scale with a bound <= 0
    │   ├── DistributionConflictError a parameter suggested again with another distribution
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
    ├── TuningError                   hyperparameter tuning could not go on
    │   ├── GridExhaustedError        every point of a grid search is taken
    │   └── TrialFinishedError        a trial was finished already (by its worker or its
    │                                 expired heartbeat) and cannot change any more
    ├── TrialPruned                   raised by an objective to stop a hopeless trial
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
    "DistributionConflictError",
    "GridExhaustedError",
    "IntegrityError",
    "InvalidArgumentError",
    "InvalidDigestError",
    "InvalidDistributionError",
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
    "TrialFinishedError",
    "TrialPruned",
    "TrustRequiredError",
    "TuningError",
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


class InvalidDistributionError(InvalidArgumentError):
    """A search-space distribution that holds no value (an empty or inverted range, a step
    wider than the range, no categorical choices) or a log scale with a bound at or below 0."""


class DistributionConflictError(InvalidArgumentError):
    """A parameter suggested again, in the same trial or the same study, with a distribution
    of another kind (float vs int vs categorical) or other choices."""


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


class TuningError(AidotError):
    """Hyperparameter tuning could not go on."""


class GridExhaustedError(TuningError):
    """Every point of a grid search is taken by a trial (in this process or another worker)."""


class TrialFinishedError(TuningError):
    """A trial was finished already (told, or failed after its worker's heartbeat expired);
    its state, values and parameters never change once finished."""


class TrialPruned(AidotError):  # noqa: N818 - Optuna's name, which objectives already raise
    """Raise it from an objective (after ``trial.should_prune()``) to end the trial as PRUNED."""


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
