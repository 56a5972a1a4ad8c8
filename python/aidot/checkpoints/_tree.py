"""A training state as a manifest tree plus a flat list of buffers, and back.

A state is nested dicts, lists and tuples of NumPy arrays, torch tensors (when torch is
installed), NumPy and Python scalars, strings, bytes and ``None``. Each array (and each
``bytes``) becomes one buffer, stored as one blob, so an unchanged array is stored once across
checkpoints; the tree records structure, dtype, shape and the buffer's index. Anything else is
refused unless pickling was allowed explicitly.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any

from aidot.errors import IntegrityError, InvalidArgumentError

_INLINE = (bool, int, float, str, type(None))


@dataclass
class Flattened:
    """What :func:`flatten` produced: the tree, and the buffers it points into."""

    tree: Any
    buffers: list[Any] = field(default_factory=list)
    """C-contiguous NumPy arrays (and ``bytes``), in the order the tree refers to them."""
    specs: list[dict[str, Any]] = field(default_factory=list)
    """Per buffer: ``kind`` (numpy, scalar, torch, bytes, pickle), ``dtype``, ``shape``."""


Spare = dict[tuple[str, tuple[int, ...]], list[Any]]
"""Arrays free for reuse as snapshot copies, by dtype and shape."""


def flatten(
    state: Any, *, allow_pickle: bool = False, copy: bool = False, spare: Spare | None = None
) -> Flattened:
    """Splits ``state`` into a JSON-able tree and buffers; ``copy`` snapshots every array (for
    saving in the background while training goes on and changes them), into arrays taken from
    ``spare`` when their dtype and shape match (fresh memory costs page faults; a reused
    array only the copy)."""
    out = Flattened(tree=None)
    out.tree = _flatten(
        state, out, "state", allow_pickle=allow_pickle, copy=copy, spare=spare or {}
    )
    return out


def spare_arrays(flat: Flattened) -> Spare:
    """The snapshot arrays of ``flat``, for the next :func:`flatten` to copy into."""
    import numpy as np

    spare: Spare = {}
    for buffer in flat.buffers:
        if isinstance(buffer, np.ndarray) and buffer.flags.writeable:
            spare.setdefault((buffer.dtype.str, buffer.shape), []).append(buffer)
    return spare


def _flatten(  # noqa: PLR0911 - one return per kind of value
    value: Any, out: Flattened, where: str, *, allow_pickle: bool, copy: bool, spare: Spare
) -> Any:
    import numpy as np

    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, _INLINE):
                raise InvalidArgumentError(
                    f"{where} has a key of type {type(key).__name__}; checkpoint dicts need "
                    "str, int, float, bool or None keys"
                )
            child = _flatten(
                item, out, f"{where}[{key!r}]", allow_pickle=allow_pickle, copy=copy, spare=spare
            )
            items.append([key, child])
        return {"dict": items}
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        kind = "list" if isinstance(value, list) else "tuple"
        return {
            kind: [
                _flatten(v, out, f"{where}[{i}]", allow_pickle=allow_pickle, copy=copy, spare=spare)
                for i, v in enumerate(value)
            ]
        }
    if isinstance(value, _INLINE):
        return {"value": value}
    if isinstance(value, np.ndarray) and value.dtype != object:
        return _buffer(out, value, {"kind": "numpy"}, copy=copy, spare=spare)
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        return _buffer(out, np.asarray(value), {"kind": "scalar"}, copy=True, spare={})
    if _is_torch_tensor(value):
        array, torch_dtype = _tensor_to_numpy(value)
        spec = {"kind": "torch", "torch_dtype": torch_dtype}
        return _buffer(out, array, spec, copy=copy, spare=spare)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        out.buffers.append(data)
        out.specs.append({"kind": "bytes", "type": type(value).__name__})
        return {"buffer": len(out.buffers) - 1}
    if not allow_pickle:
        raise InvalidArgumentError(
            f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which a "
            "checkpoint stores only pickled: pass allow_pickle=True if you trust it, or "
            "convert it to arrays, numbers and strings"
        )
    out.buffers.append(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    out.specs.append({"kind": "pickle"})
    return {"buffer": len(out.buffers) - 1}


def _buffer(
    out: Flattened, array: Any, spec: dict[str, Any], *, copy: bool, spare: Spare
) -> dict[str, int]:
    import numpy as np

    if not copy:
        data = np.ascontiguousarray(array)
    else:
        free = spare.get((array.dtype.str, array.shape))
        if free:
            data = free.pop()
            np.copyto(data, array)
        else:
            data = np.array(array, order="C", copy=True)
    spec.update(dtype=data.dtype.str, shape=list(data.shape))
    out.buffers.append(data)
    out.specs.append(spec)
    return {"buffer": len(out.buffers) - 1}


def unflatten(tree: Any, loaded: list[Any], specs: list[dict[str, Any]]) -> Any:
    """Rebuilds the state from a tree and its loaded buffers (arrays or ``bytes``)."""
    if "dict" in tree:
        return {key: unflatten(child, loaded, specs) for key, child in tree["dict"]}
    if "list" in tree:
        return [unflatten(child, loaded, specs) for child in tree["list"]]
    if "tuple" in tree:
        return tuple(unflatten(child, loaded, specs) for child in tree["tuple"])
    if "value" in tree:
        return tree["value"]
    if "buffer" in tree:
        return loaded[tree["buffer"]]
    raise IntegrityError(f"checkpoint manifest has an unknown node {sorted(tree)}")


def _is_torch_tensor(value: Any) -> bool:
    # No import of torch here: a state without tensors must not pay for it.
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _tensor_to_numpy(tensor: Any) -> tuple[Any, str]:
    import torch

    t = tensor.detach().cpu().contiguous()
    name = str(t.dtype).removeprefix("torch.")
    if t.dtype == torch.bfloat16:  # NumPy has no bfloat16: keep the bits
        return t.view(torch.int16).numpy(), name
    return t.numpy(), name


def numpy_to_tensor(array: Any, torch_dtype: str) -> Any:
    """A torch tensor from a restored array (copied: torch wants writable memory)."""
    import numpy as np
    import torch

    tensor = torch.from_numpy(np.array(array))
    wanted = getattr(torch, torch_dtype)
    return tensor.view(wanted) if tensor.dtype != wanted else tensor
