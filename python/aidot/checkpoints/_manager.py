"""CheckpointManager: save training states into the blob store, keep the best and the latest."""

from __future__ import annotations

import atexit
import builtins
import json
import math
import os
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from aidot._ids import new_id, now_ms
from aidot._lifecycle import ClosesOnExit
from aidot.checkpoints._index import (
    CheckpointIndex,
    CheckpointInfo,
    DatabaseIndex,
    FolderIndex,
)
from aidot.checkpoints._tree import (
    Flattened,
    Spare,
    flatten,
    numpy_to_tensor,
    spare_arrays,
    unflatten,
)
from aidot.errors import (
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    SchemaVersionError,
)

if TYPE_CHECKING:
    from aidot.blobs import BlobStore
    from aidot.tracking import Run

PRUNE_GRACE_SECONDS = 60.0
"""Blobs a put wrote or reused this recently survive pruning (a concurrent save may need them)."""

MANIFEST_FORMAT = "aidot.checkpoint"
MANIFEST_VERSION = 1

_live: weakref.WeakSet[CheckpointManager] = weakref.WeakSet()


@atexit.register
def _finish_saves_at_exit() -> None:
    for manager in list(_live):
        manager.wait()


class CheckpointManager(ClosesOnExit):
    """Saves training states as checkpoints and keeps the ``save_top_k`` best by ``monitor``
    plus the ``keep_last`` latest, as PyTorch Lightning's ``ModelCheckpoint`` does.

    ``target`` is a run (checkpoints go to its workspace and are listed with it) or a folder
    (a self-contained store: ``blobs/`` and ``index.json``). Each array of a state is its own
    blob, so arrays that did not change since an earlier checkpoint (frozen layers,
    embeddings) are stored once. With ``async_save`` a save copies the arrays and writes them
    in a background thread while training continues; at most one save is in flight.

    ``save_top_k=-1`` keeps every checkpoint; ``monitor=None`` ranks nothing and keeps the
    ``keep_last`` latest. ``every_n_steps`` / ``every_n_epochs`` make :meth:`save` skip the
    others (it returns ``None`` for them).

    A pruned checkpoint's blobs are deleted once no reference of any owner remains (another
    run's checkpoint, a model version registered from it) and no put has written or reused
    them for ``prune_grace_seconds``, which spares what a concurrent save has put but not yet
    recorded; blobs still within the grace are retried at later prunes, or left to ``gc``.
    """

    def __init__(
        self,
        target: Run | str | os.PathLike[str],
        *,
        monitor: str | None = "val_loss",
        mode: str = "min",
        save_top_k: int = 3,
        keep_last: int = 1,
        every_n_steps: int | None = None,
        every_n_epochs: int | None = None,
        async_save: bool = True,
        allow_pickle: bool = False,
        prune_grace_seconds: float = PRUNE_GRACE_SECONDS,
    ) -> None:
        if mode not in ("min", "max"):
            raise InvalidArgumentError(f"mode must be 'min' or 'max', got {mode!r}")
        if save_top_k < -1:
            raise InvalidArgumentError(f"save_top_k must be -1 (all), 0 or more, got {save_top_k}")
        if keep_last < 0:
            raise InvalidArgumentError(f"keep_last must be 0 or more, got {keep_last}")
        if not prune_grace_seconds >= 0:
            raise InvalidArgumentError(
                f"prune_grace_seconds must be 0 or more, got {prune_grace_seconds}"
            )
        if save_top_k == 0 and keep_last == 0:
            raise InvalidArgumentError("save_top_k=0 and keep_last=0 would keep nothing")
        for name, n in (("every_n_steps", every_n_steps), ("every_n_epochs", every_n_epochs)):
            if n is not None and n < 1:
                raise InvalidArgumentError(f"{name} must be at least 1, got {n}")
        self.monitor = monitor
        self.mode = mode
        self.save_top_k = save_top_k
        self.keep_last = keep_last
        self.every_n_steps = every_n_steps
        self.every_n_epochs = every_n_epochs
        self.async_save = async_save
        self.allow_pickle = allow_pickle
        self.prune_grace_seconds = prune_grace_seconds
        self._blobs, self._index = _open(target)
        self._released: set[str] = set()  # unreferenced, spared by the grace period: retried
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[CheckpointInfo] | None = None
        self._spare: Spare = {}  # the last snapshot's arrays, once written
        self._lock = threading.Lock()
        _live.add(self)

    # --- saving ---------------------------------------------------------------------------

    def should_save(self, step: int | None = None, epoch: int | None = None) -> bool:
        """Whether ``every_n_steps`` / ``every_n_epochs`` call for a checkpoint here."""
        if self.every_n_steps is not None and (step is None or step % self.every_n_steps):
            return False
        return not (
            self.every_n_epochs is not None and (epoch is None or epoch % self.every_n_epochs)
        )

    def save(
        self,
        state: Any,
        *,
        step: int | None = None,
        epoch: int | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> Future[CheckpointInfo] | None:
        """Saves ``state`` (nested dicts/lists of arrays, tensors, scalars, strings, bytes).

        Returns a future of the checkpoint's :class:`CheckpointInfo` (already done unless
        ``async_save``), or ``None`` when ``every_n_*`` skips this step. An error of a
        background save is raised by the next :meth:`save` or :meth:`wait`.
        """
        if not self.should_save(step, epoch):
            return None
        values = _metrics(metrics)
        if self.monitor is not None and self.save_top_k != 0 and self.monitor not in values:
            have = ", ".join(sorted(values)) or "none"
            raise InvalidArgumentError(
                f"checkpoints are ranked by {self.monitor!r} but save() got metrics {have}; "
                f"pass metrics={{{self.monitor!r}: ...}}, or CheckpointManager(monitor=None)"
            )
        with self._lock:
            self.wait()  # one save in flight: extra memory stays at one copy of the state
            meta = {"step": step, "epoch": epoch, "metrics": values}
            if not self.async_save:
                info = self._write(flatten(state, allow_pickle=self.allow_pickle), meta)
                done: Future[CheckpointInfo] = Future()
                done.set_result(info)
                return done
            # The pause training sees: copying the arrays, so that it may change them at once.
            snapshot = flatten(state, allow_pickle=self.allow_pickle, copy=True, spare=self._spare)
            self._spare = {}
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="aidot-checkpoint")
            self._pending = self._executor.submit(self._write_snapshot, snapshot, meta)
            return self._pending

    def wait(self) -> CheckpointInfo | None:
        """Waits for the save in flight, if any; raises its error; returns its info."""
        pending, self._pending = self._pending, None
        return None if pending is None else pending.result()

    def _write_snapshot(self, flat: Flattened, meta: dict[str, Any]) -> CheckpointInfo:
        info = self._write(flat, meta)
        self._spare = spare_arrays(flat)  # written: the next snapshot may copy into them
        return info

    def _write(self, flat: Flattened, meta: dict[str, Any]) -> CheckpointInfo:
        reports = self._blobs.put_buffers(flat.buffers)
        arrays = [
            {**spec, "digest": r.digest, "size": r.size}
            for spec, r in zip(flat.specs, reports, strict=True)
        ]
        created_at = now_ms()
        manifest = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "created_at": created_at,
            **meta,
            "buffers": arrays,
            "tree": flat.tree,
        }
        manifest_bytes = json.dumps(manifest).encode()
        manifest_digest = self._blobs.put_buffers([manifest_bytes])[0].digest
        info = CheckpointInfo(
            id=new_id(),
            step=meta["step"],
            epoch=meta["epoch"],
            metrics=meta["metrics"],
            created_at=created_at,
            manifest=manifest_digest,
            size=sum(r.size for r in reports),
        )
        # Recording is the commit point: a crash before it leaves only unreferenced blobs.
        self._index.add(info, [manifest_digest, *(r.digest for r in reports)])
        # Another manager's prune may have deleted a blob that this save reused between its
        # put and its record (a fine-tuning run sharing a parent's frozen arrays); now that
        # the record protects them, anything missing is written again from the snapshot.
        buffers = [*flat.buffers, manifest_bytes]
        digests = [*(r.digest for r in reports), manifest_digest]
        lost = [b for b, d in zip(buffers, digests, strict=True) if not self._blobs.has(d)]
        if lost:
            self._blobs.put_buffers(lost)
        self._prune()
        return info

    # --- retention ------------------------------------------------------------------------

    def _prune(self) -> None:
        every = self._index.entries()
        keep = {c.id for c in self._retained(every)}
        drop = [c.id for c in every if c.id not in keep]
        released = self._index.remove(drop)
        if self._released:  # spared earlier: unless something references them again
            released |= self._index.unreferenced(self._released)
        if not released:
            return
        candidates = sorted(released)
        self._blobs.delete_stale(candidates, grace_seconds=self.prune_grace_seconds)
        self._released = {d for d in candidates if self._blobs.has(d)}

    def _retained(
        self, checkpoints: builtins.list[CheckpointInfo]
    ) -> builtins.list[CheckpointInfo]:
        if self.save_top_k == -1:
            return checkpoints
        keep = checkpoints[-self.keep_last :] if self.keep_last else []
        return [*keep, *self._ranked(checkpoints)[: self.save_top_k]]

    def _ranked(self, checkpoints: builtins.list[CheckpointInfo]) -> builtins.list[CheckpointInfo]:
        """Checkpoints with the monitored metric, best first (earlier first among equals)."""
        if self.monitor is None:
            return []
        monitor = self.monitor
        scored = [
            c for c in checkpoints if monitor in c.metrics and not math.isnan(c.metrics[monitor])
        ]
        sign = 1.0 if self.mode == "min" else -1.0
        return sorted(scored, key=lambda c: sign * c.metrics[monitor])

    # --- reading --------------------------------------------------------------------------

    def list(self) -> builtins.list[CheckpointInfo]:
        """The checkpoints kept, oldest first (a save in flight appears once done)."""
        return self._index.entries()

    def get(self, which: str | int = "latest") -> CheckpointInfo:
        """``"latest"``, ``"best"`` (by ``monitor`` and ``mode``), a step number, or an id."""
        checkpoints = self._index.entries()
        if not checkpoints:
            raise NotFoundError("there are no checkpoints yet; save one first")
        if which == "latest":
            return checkpoints[-1]
        if which == "best":
            ranked = self._ranked(checkpoints)
            if not ranked:
                raise NotFoundError(
                    f"no checkpoint has a {self.monitor!r} metric to pick the best by"
                )
            return ranked[0]
        if isinstance(which, int) and not isinstance(which, bool):
            at_step = [c for c in checkpoints if c.step == which]
            if not at_step:
                steps = ", ".join(str(c.step) for c in checkpoints)
                raise NotFoundError(f"no checkpoint at step {which}; kept steps: {steps}")
            return at_step[-1]
        by_id = [c for c in checkpoints if c.id == which]
        if not by_id:
            raise NotFoundError(
                f"no checkpoint {which!r}: pass 'latest', 'best', a step number or an id"
            )
        return by_id[0]

    def restore(
        self, which: str | int = "latest", *, mmap: bool = True, verify: bool = True
    ) -> Any:
        """The state saved in a checkpoint (see :meth:`get`), every blob verified first.

        Arrays come back memory-mapped and read-only when the blob store is local and
        ``mmap`` is true (so restoring gigabytes costs the verification hash, not a copy);
        otherwise as fresh arrays. Tensors come back as torch tensors (copied).
        ``verify=False`` skips re-hashing the arrays up front (about 0.2 s a GiB on two
        cores): for a store you trust, restoring then costs almost nothing.
        """
        info = self.get(which)
        return restore_state(
            self._blobs,
            info.manifest,
            label=f"checkpoint {info.id}",
            mmap=mmap,
            verify=verify,
            allow_pickle=self.allow_pickle,
        )

    def close(self) -> None:
        """Waits for the save in flight and stops the background thread."""
        self.wait()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None


def read_manifest(blobs: BlobStore, manifest_digest: str, label: str) -> dict[str, Any]:
    """The manifest of a checkpoint (``label`` names it in errors), checked for its format."""
    try:
        manifest: dict[str, Any] = json.loads(blobs.get_bytes(manifest_digest))
    except ValueError as exc:
        raise IntegrityError(f"{label}: its manifest is not JSON ({exc})") from exc
    if manifest.get("format") != MANIFEST_FORMAT:
        raise IntegrityError(f"{label}: its manifest is not a checkpoint's")
    if manifest.get("version", 0) > MANIFEST_VERSION:
        raise SchemaVersionError(
            f"{label} was written by a newer aidot (manifest version "
            f"{manifest['version']}, this aidot reads up to {MANIFEST_VERSION}); upgrade "
            "aidot to restore it"
        )
    return manifest


def checkpoint_digests(blobs: BlobStore, manifest_digest: str, label: str) -> set[str]:
    """Every blob a checkpoint uses: its manifest and its buffers (what a model version
    registered from it must reference to keep it)."""
    manifest = read_manifest(blobs, manifest_digest, label)
    return {manifest_digest, *(b["digest"] for b in manifest["buffers"])}


def restore_state(
    blobs: BlobStore,
    manifest_digest: str,
    *,
    label: str,
    mmap: bool = True,
    verify: bool = True,
    allow_pickle: bool = False,
) -> Any:
    """The state a checkpoint manifest describes (see :meth:`CheckpointManager.restore`)."""
    manifest = read_manifest(blobs, manifest_digest, label)
    buffers = manifest["buffers"]
    if verify:
        blobs.verify_digests(b["digest"] for b in buffers)
    loaded = []
    for spec in buffers:
        kind = spec["kind"]
        if kind in ("bytes", "pickle"):
            data = blobs.get_bytes(spec["digest"])
            if kind == "pickle":
                if not allow_pickle:
                    raise InvalidArgumentError(
                        f"{label} holds pickled objects; restore with allow_pickle=True "
                        "if you trust it"
                    )
                import pickle

                loaded.append(pickle.loads(data))
            else:
                loaded.append(bytearray(data) if spec.get("type") == "bytearray" else data)
            continue
        array = _array(blobs, spec, mmap=mmap)
        if kind == "scalar":
            loaded.append(array[()])
        elif kind == "torch":
            loaded.append(numpy_to_tensor(array, spec["torch_dtype"]))
        else:
            loaded.append(array)
    return unflatten(manifest["tree"], loaded, buffers)


def _array(blobs: BlobStore, spec: dict[str, Any], *, mmap: bool) -> Any:
    import numpy as np

    dtype = np.dtype(spec["dtype"])
    shape = tuple(spec["shape"])
    if spec["size"] == 0:
        return np.empty(shape, dtype)
    path = blobs.whole_path(spec["digest"]) if mmap else None
    if path is not None:
        return np.memmap(path, dtype=dtype, mode="r", shape=shape)
    array = np.empty(shape, dtype)
    blobs.read_into(spec["digest"], cast("Any", array))
    return array


def _open(target: Run | str | os.PathLike[str]) -> tuple[BlobStore, CheckpointIndex]:
    from aidot.tracking import Run

    if isinstance(target, Run):
        tracker = target._tracker
        return tracker._blob_store(), DatabaseIndex(tracker._store, target.id)
    if isinstance(target, (str, os.PathLike)):
        from aidot.blobs import BlobStore

        folder = Path(target)
        return BlobStore(folder / "blobs"), FolderIndex(folder)
    raise InvalidArgumentError(
        f"CheckpointManager needs a run or a folder, got {type(target).__name__}"
    )


def _metrics(metrics: Mapping[str, float] | None) -> dict[str, float]:
    out = {}
    for key, value in (metrics or {}).items():
        try:
            out[str(key)] = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"checkpoint metric {key!r} must be a number, got {value!r}"
            ) from None
    return out
