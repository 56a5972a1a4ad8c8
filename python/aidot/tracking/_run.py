"""A run in progress: what the training loop logs to."""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from time import time_ns
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aidot._ids import now_ms
from aidot.errors import InvalidArgumentError
from aidot.tracking._artifacts import dict_bytes, join
from aidot.tracking._validation import check_key, check_value

if TYPE_CHECKING:
    from aidot.tracking._tracker import ExperimentTracker


class RunStatus(str, enum.Enum):
    """Where a run is in its life."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    CRASHED = "CRASHED"
    """Never stored: a RUNNING run whose process stopped sending heartbeats."""


class Run:
    """An active run. Use it as a context manager (``with tracker.start_run() as run:``): it
    ends FINISHED, FAILED when the block raises, or KILLED on Ctrl-C.

    ``log_metric`` only queues the point; it reaches the store within the tracker's flush
    interval, at :meth:`flush`, at :meth:`end`, or at interpreter exit.
    """

    def __init__(self, tracker: ExperimentTracker, run_id: str, experiment_id: str) -> None:
        self.id = run_id
        self.experiment_id = experiment_id
        self._tracker = tracker
        self._writer = tracker._writer
        self._add = tracker._writer.add_function()
        self._steps: dict[str, int] = {}
        self._params: dict[str, str] = {}
        self._ended = False
        self._on_end: Callable[[Run], None] | None = None

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment_id={self.experiment_id!r})"

    # --- metrics --------------------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Records ``value`` for ``key``. ``step`` defaults to the number of points this run
        object has logged for the key; ``timestamp`` (ms since the epoch) to now."""
        # The hot path of a training loop: about 1 us, so no more work than needed here.
        steps = self._steps
        last = steps.get(key)
        if last is None:
            check_key(key, "metric name")
            last = 0
        if value.__class__ is not float:
            value = check_value(key, value)
        if step is None:
            step = last
        elif step.__class__ is not int:
            step = int(step)
        steps[key] = step + 1
        stamp = time_ns() // 1_000_000 if timestamp is None else int(timestamp)
        self._add((self.id, key, value, step, stamp))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Records several metrics at the same step and time."""
        stamp = time_ns() // 1_000_000
        for key, value in metrics.items():
            self.log_metric(key, value, step, stamp)

    # --- params and tags ------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        """Records a parameter. Logging the same key again with another value is an error."""
        self._tracker._log_params(self.id, {key: value}, self._params)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Records several parameters at once."""
        self._tracker._log_params(self.id, params, self._params)

    def set_tag(self, key: str, value: Any) -> None:
        """Sets a tag (tags, unlike params, may change)."""
        self._tracker._set_tags(self.id, {key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Sets several tags at once."""
        self._tracker._set_tags(self.id, tags)

    # --- inputs ---------------------------------------------------------------------------

    def log_input(self, dataset_version: Any) -> None:
        """Records that this run used a dataset version (a :class:`~aidot.data.DatasetVersion`
        from ``ws.data.add`` or ``ws.data.get``), so the data behind a result can be found."""
        version_id = getattr(dataset_version, "id", None)
        if not isinstance(version_id, str):
            raise InvalidArgumentError(
                f"log_input needs a dataset version (ws.data.get('NAME@v3')), got "
                f"{type(dataset_version).__name__}"
            )
        from aidot.tracking._ops import Op

        self._tracker._record(Op("input", self.id, version_id))

    # --- artifacts ------------------------------------------------------------------------

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Stores a file in the blob store as ``artifact_path/NAME`` of this run."""
        path = Path(local_path)
        _refuse_backslash(path, path.name)
        self._tracker._artifacts_for(self.id).log_files(
            self.id, [(path, join(artifact_path, path.name))]
        )

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Stores every file under a folder, keeping relative paths, in one parallel batch."""
        from aidot.blobs import list_files

        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidArgumentError(f"{root} is not a folder; use log_artifact for a file")
        relatives = list_files(root)  # links: the rule of datasets and registered folders
        for relative in relatives:
            _refuse_backslash(root / relative, relative)
        pairs = [(root / rel, join(artifact_path, rel)) for rel in relatives]
        self._tracker._artifacts_for(self.id).log_files(self.id, pairs)

    def log_dict(self, dictionary: Any, artifact_file: str) -> None:
        """Stores a dict as JSON (or YAML for a .yaml/.yml name)."""
        data = dict_bytes(dictionary, artifact_file)
        self._tracker._artifacts_for(self.id).log_bytes(self.id, data, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        """Stores a string as a UTF-8 text file."""
        self._tracker._artifacts_for(self.id).log_bytes(self.id, text.encode(), artifact_file)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """Stores a matplotlib figure, in the format its name asks for (.png, .svg, .pdf)."""
        import io

        buffer = io.BytesIO()
        suffix = PurePosixPath(artifact_file).suffix.lstrip(".") or "png"
        figure.savefig(buffer, format=suffix)
        self._tracker._artifacts_for(self.id).log_bytes(self.id, buffer.getvalue(), artifact_file)

    # --- lifecycle ------------------------------------------------------------------------

    def flush(self) -> None:
        """Returns once every metric logged so far is in the store."""
        self._writer.flush()

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """Flushes and records the final status; ending twice does nothing."""
        if self._ended:
            return
        final = RunStatus(status)
        if final in (RunStatus.RUNNING, RunStatus.CRASHED):
            raise InvalidArgumentError(f"a run ends FINISHED, FAILED or KILLED, not {final.value}")
        self._writer.flush()
        self._tracker._end_run(self.id, final, now_ms())
        self._ended = True
        if self._on_end is not None:
            self._on_end(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED)
        else:
            self.end(RunStatus.FAILED)


def _refuse_backslash(path: Path, name: str) -> None:
    """A file named ``a\\b`` would be logged as ``a/b``: refused instead, with the fix."""
    if "\\" in name:
        raise InvalidArgumentError(
            f"{path}: a backslash in a file name is a folder separator on Windows, so the "
            "artifact could not be downloaded as it is; rename the file"
        )
