"""Tensors between the Rust batcher's raw bytes and NumPy arrays, once per batch.

Fixed-size types travel as their little-endian bytes. Strings and objects (the protocol's
``BYTES``) travel as 4-byte little-endian lengths, each followed by that many bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

_LENGTH = struct.Struct("<I")
BYTES_DTYPE = "|O"


def to_array(data: bytes | bytearray, dtype: str, shape: tuple[int, ...]) -> Any:
    """The array that ``data`` encodes, over the same memory for fixed-size types (writable
    when ``data`` is a bytearray)."""
    import numpy as np

    if dtype != BYTES_DTYPE:
        return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
    items: list[bytes] = []
    view = memoryview(data)
    at = 0
    while at < len(view):
        (length,) = _LENGTH.unpack_from(view, at)
        items.append(bytes(view[at + 4 : at + 4 + length]))
        at += 4 + length
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)


def from_array(value: Any) -> tuple[str, tuple[int, ...], bytes]:
    """``(dtype, shape, bytes)`` of an array (or anything ``np.asarray`` takes)."""
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind in "OUS":
        parts: list[bytes] = []
        for item in array.reshape(-1):
            raw = item if isinstance(item, bytes) else str(item).encode()
            parts.append(_LENGTH.pack(len(raw)))
            parts.append(raw)
        return BYTES_DTYPE, tuple(array.shape), b"".join(parts)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    array = np.ascontiguousarray(array)
    return array.dtype.str, tuple(array.shape), array.tobytes()


def batch_caller(
    predict: Callable[[Any], Any],
) -> Callable[[bytes | bytearray, str, tuple[int, ...]], tuple[str, tuple[int, ...], bytes]]:
    """The function the Rust dispatcher calls with each batch: decode, predict, encode.

    The common case (fixed-size types in and out) stays on a short path: this runs once per
    batch, so its overhead is paid by every request at low load.
    """
    import numpy as np

    ndarray, asarray = np.ndarray, np.asarray
    dtypes: dict[str, Any] = {}
    # Output dtype -> its protocol string, for the plain ones (fixed size, little-endian or
    # native): a dtype's ``.str`` builds a new string each time, the lookup does not.
    plain: dict[Any, str] = {}

    def call(
        data: bytes | bytearray, dtype: str, shape: tuple[int, ...]
    ) -> tuple[str, tuple[int, ...], bytes]:
        if dtype == BYTES_DTYPE:
            return from_array(predict(to_array(data, dtype, shape)))
        np_dtype = dtypes.get(dtype)
        if np_dtype is None:
            np_dtype = dtypes[dtype] = np.dtype(dtype)
        # The array over ``data`` (writable: the dispatcher passes a bytearray); the
        # constructor is a third of frombuffer + reshape.
        result = asarray(predict(ndarray(shape, np_dtype, data)))
        out_dtype = plain.get(result.dtype)
        if out_dtype is None:
            if result.dtype.kind in "OUS" or result.dtype.byteorder == ">":
                return from_array(result)
            out_dtype = plain[result.dtype] = result.dtype.str
        # tobytes writes C order whatever the array's layout.
        return out_dtype, result.shape, result.tobytes()

    return call
