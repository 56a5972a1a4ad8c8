"""How metric series are stored: compressed chunks of points plus a running downsample.

A chunk holds up to :data:`CHUNK_POINTS` points. Steps and timestamps are delta-encoded (they
mostly grow by a constant, which compresses to almost nothing) and the float64 values are
byte-shuffled (the eight bytes of each value regrouped by position, so exponents sit together)
before zlib; a typical series takes 6-10 bytes per point instead of MLflow's ~250 per row.

The downsample keeps at most :data:`MAX_BUCKETS` buckets of ``width`` consecutive points each,
with the first and last step, min, max and last value, and last timestamp of each. Appending
fills the last bucket and opens new ones; when there are too many, neighbours merge and the
width doubles. Any ``max_points`` view up to ``MAX_BUCKETS`` is derived from it without
touching the chunks.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

CHUNK_POINTS = 4096
MAX_BUCKETS = 2048
_CHUNK_VERSION = 1
_HEADER = struct.Struct("<BI")

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def encode_chunk(steps: I64, values: F64, timestamps: I64) -> bytes:
    """Packs one chunk's points (equal-length arrays) into compressed bytes."""
    n = len(steps)
    shuffled = values.astype("<f8").view(np.uint8).reshape(n, 8).T.tobytes()
    body = b"".join(
        (
            _delta(steps).tobytes(),
            _delta(timestamps).tobytes(),
            shuffled,
        )
    )
    return _HEADER.pack(_CHUNK_VERSION, n) + zlib.compress(body, 1)


def decode_chunk(data: bytes) -> tuple[I64, F64, I64]:
    """The inverse of :func:`encode_chunk`."""
    version, n = _HEADER.unpack_from(data)
    if version != _CHUNK_VERSION:
        raise ValueError(f"unknown metric chunk version {version}")
    body = zlib.decompress(data[_HEADER.size :])
    steps = np.cumsum(np.frombuffer(body, "<i8", n, 0), dtype=np.int64)
    timestamps = np.cumsum(np.frombuffer(body, "<i8", n, 8 * n), dtype=np.int64)
    raw = np.frombuffer(body, np.uint8, 8 * n, 16 * n).reshape(8, n).T.copy()
    values = raw.view("<f8").reshape(n).astype(np.float64)
    return steps, values, timestamps


def _delta(a: I64) -> I64:
    out = np.empty(len(a), dtype="<i8")
    if len(a):
        out[0] = a[0]
        np.subtract(a[1:], a[:-1], out=out[1:])
    return out


@dataclass
class Downsample:
    """Buckets of ``width`` consecutive points: steps, min, max, last value, last timestamp."""

    width: int
    counts: I64
    first_steps: I64
    last_steps: I64
    mins: F64
    maxs: F64
    lasts: F64
    last_timestamps: I64

    @classmethod
    def empty(cls) -> Downsample:
        i, f = np.empty(0, np.int64), np.empty(0, np.float64)
        return cls(1, i, i, i, f, f, f, i)

    def append(self, steps: I64, values: F64, timestamps: I64) -> Downsample:
        """A new downsample with these points added after the existing ones."""
        base = self
        # Widen first, so that a large append is not bucketized finely and then merged.
        while len(base.counts) + -(-len(steps) // base.width) > MAX_BUCKETS:
            base = base.coarsen() if len(base.counts) else base._widened()
        return base._append(steps, values, timestamps)

    def _widened(self) -> Downsample:
        return Downsample(self.width * 2, *self._arrays())

    def _arrays(self) -> tuple[I64, I64, I64, F64, F64, F64, I64]:
        return (
            self.counts,
            self.first_steps,
            self.last_steps,
            self.mins,
            self.maxs,
            self.lasts,
            self.last_timestamps,
        )

    def _append(self, steps: I64, values: F64, timestamps: I64) -> Downsample:
        parts = [self]
        start = 0
        if len(self.counts) and self.counts[-1] < self.width:
            # Top up the last, partial bucket first.
            take = min(int(self.width - self.counts[-1]), len(steps))
            head = _bucketize(steps[:take], values[:take], timestamps[:take], take)
            parts = [self._without_last(), _merge_pair(self._last(), head)]
            start = take
        if start < len(steps):
            parts.append(_bucketize(steps[start:], values[start:], timestamps[start:], self.width))
        merged = _concat(parts, self.width)
        while len(merged.counts) > MAX_BUCKETS:
            merged = merged.coarsen()
        return merged

    def coarsen(self, factor: int = 2) -> Downsample:
        """Merges each run of ``factor`` neighbouring buckets into one."""
        n = len(self.counts)
        groups = np.arange(n) // factor
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        ends = np.r_[starts[1:], n] - 1
        return Downsample(
            width=self.width * factor,
            counts=np.add.reduceat(self.counts, starts),
            first_steps=self.first_steps[starts],
            last_steps=self.last_steps[ends],
            mins=_nan_reduceat(np.fmin, self.mins, starts),
            maxs=_nan_reduceat(np.fmax, self.maxs, starts),
            lasts=self.lasts[ends],
            last_timestamps=self.last_timestamps[ends],
        )

    def limit(self, max_points: int) -> Downsample:
        """The coarsest view with at most ``max_points`` buckets."""
        factor = -(-len(self.counts) // max_points) if max_points > 0 else len(self.counts)
        return self.coarsen(factor) if factor > 1 else self

    def encode(self) -> bytes:
        arrays = self._arrays()
        body = struct.pack("<QI", self.width, len(self.counts)) + b"".join(
            a.astype("<f8" if a.dtype.kind == "f" else "<i8").tobytes() for a in arrays
        )
        return zlib.compress(body, 1)

    @classmethod
    def decode(cls, data: bytes) -> Downsample:
        body = zlib.decompress(data)
        width, n = struct.unpack_from("<QI", body)
        offset = 12

        def take(dtype: str) -> npt.NDArray[np.generic]:
            nonlocal offset
            a: npt.NDArray[np.generic] = np.frombuffer(body, dtype, n, offset).copy()
            offset += 8 * n
            return a

        i8, f8 = "<i8", "<f8"
        return cls(
            int(width),
            take(i8).astype(np.int64),
            take(i8).astype(np.int64),
            take(i8).astype(np.int64),
            take(f8).astype(np.float64),
            take(f8).astype(np.float64),
            take(f8).astype(np.float64),
            take(i8).astype(np.int64),
        )

    def _last(self) -> Downsample:
        return self._slice(slice(-1, None))

    def _without_last(self) -> Downsample:
        return self._slice(slice(None, -1))

    def _slice(self, s: slice) -> Downsample:
        return Downsample(self.width, *(a[s] for a in self._arrays()))  # type: ignore[arg-type]


def _bucketize(steps: I64, values: F64, timestamps: I64, width: int) -> Downsample:
    n = len(steps)
    starts = np.arange(0, n, width)
    ends = np.r_[starts[1:], n] - 1
    return Downsample(
        width=width,
        counts=(ends - starts + 1).astype(np.int64),
        first_steps=steps[starts],
        last_steps=steps[ends],
        mins=_nan_reduceat(np.fmin, values, starts),
        maxs=_nan_reduceat(np.fmax, values, starts),
        lasts=values[ends],
        last_timestamps=timestamps[ends],
    )


def _merge_pair(a: Downsample, b: Downsample) -> Downsample:
    """One bucket made of bucket ``a`` followed by the points of ``b`` (one bucket each)."""
    return Downsample(
        width=a.width,
        counts=a.counts + b.counts,
        first_steps=a.first_steps,
        last_steps=b.last_steps,
        mins=np.fmin(a.mins, b.mins),
        maxs=np.fmax(a.maxs, b.maxs),
        lasts=b.lasts,
        last_timestamps=b.last_timestamps,
    )


def _concat(parts: list[Downsample], width: int) -> Downsample:
    return Downsample(
        width,
        np.concatenate([p.counts for p in parts]),
        np.concatenate([p.first_steps for p in parts]),
        np.concatenate([p.last_steps for p in parts]),
        np.concatenate([p.mins for p in parts]),
        np.concatenate([p.maxs for p in parts]),
        np.concatenate([p.lasts for p in parts]),
        np.concatenate([p.last_timestamps for p in parts]),
    )


def _nan_reduceat(ufunc: np.ufunc, values: F64, starts: npt.NDArray[np.intp]) -> F64:
    """min/max per segment ignoring NaN (NaN only when a whole segment is NaN)."""
    if len(values) == 0:
        return np.empty(0, np.float64)
    result: F64 = ufunc.reduceat(values, starts)
    return result
