"""What a model version holds: a saved model object, stored files or a checkpoint, each
recorded as a ``source`` dict plus the blob digests the version must keep."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidot.errors import InvalidArgumentError, NotFoundError, PathNotFoundError
from aidot.registry._servable import infer_signature

if TYPE_CHECKING:
    from aidot.blobs import BlobStore
    from aidot.checkpoints import CheckpointInfo


def store_model(
    blobs: BlobStore, model: Any, input_example: Any, format_name: str | None
) -> tuple[dict[str, Any], set[str], dict[str, Any] | None]:
    import tempfile

    from aidot.registry import formats

    fmt = formats.choose(model, format_name)
    signature = None
    with tempfile.TemporaryDirectory(prefix="aidot-model-") as tmp:
        details = fmt.save(model, Path(tmp), input_example)
        if input_example is not None:
            # The output side comes from the saved model itself, loaded back (this process
            # wrote it, so even a pickle is safe to load): the signature describes what
            # serving will run, and a format that cannot round-trip fails here, not later.
            import numpy as np

            example = np.asarray(input_example)
            loaded = fmt.load(Path(tmp), details, trust=True)
            signature = infer_signature(example, loaded.predict(example))
        source, digests = store_path(blobs, Path(tmp))
    source.update(format=fmt.name, format_details=details, name="model")
    return source, digests, signature


def store_path(blobs: BlobStore, path: Path) -> tuple[dict[str, Any], set[str]]:
    from aidot import _core
    from aidot.data._manifest import Columns, check_relative, encode

    root = path.expanduser().absolute()
    if not root.exists():
        raise PathNotFoundError(f"{root} does not exist; pass the model file or folder")
    paths, sizes, _, _, modes, _ = _core.scan_tree(str(root))
    base = root if root.is_dir() else root.parent
    for rel in paths:
        check_relative(rel)
    reports = blobs.put_files_report([f"{base}/{rel}" for rel in paths])
    digests = [r.digest for r in reports]
    manifest = blobs.put_bytes(
        encode(Columns(paths, digests, [r.size for r in reports], list(modes)))
    )
    source = {
        "kind": "files",
        "manifest": manifest,
        "files": len(paths),
        "bytes": sum(sizes),
        "name": root.name,
    }
    return source, {*digests, manifest}


def checkpoint_source(
    blobs: BlobStore, checkpoint: CheckpointInfo | None
) -> tuple[dict[str, Any], set[str]]:
    from aidot.checkpoints import checkpoint_digests

    assert checkpoint is not None
    source = {
        "kind": "checkpoint",
        "checkpoint_id": checkpoint.id,
        "manifest": checkpoint.manifest,
        "step": checkpoint.step,
        "epoch": checkpoint.epoch,
        "bytes": checkpoint.size,
    }
    # The version references every blob of the checkpoint itself, so that it keeps its
    # weights when the checkpoint's manager later prunes that checkpoint.
    try:
        digests = checkpoint_digests(blobs, checkpoint.manifest, f"checkpoint {checkpoint.id}")
    except NotFoundError:
        raise InvalidArgumentError(
            f"checkpoint {checkpoint.id} is not in this workspace's blob store (a folder "
            "CheckpointManager keeps its own); register a checkpoint of a run's manager"
        ) from None
    return source, digests
