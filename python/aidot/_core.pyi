# Stubs of the native module built from rust/python (PyO3). Keep in step with the bindings;
# `python -m mypy.stubtest aidot._core` checks them against the built module.
from collections.abc import Callable
from pathlib import Path
from typing import final

__all__ = [
    "BlobStore",
    "ModelTable",
    "Remote",
    "RequestBatcher",
    "Server",
    "__version__",
    "_raise_core_error",
    "gp_maximize",
    "hash_bytes",
    "hash_files",
    "scan_tree",
    "tpe_choose",
]
__version__: str

def hash_bytes(data: bytes) -> str: ...
def _raise_core_error(kind: str) -> None: ...

@final
class BlobStore:
    def __new__(
        cls,
        root: str,
        *,
        chunk_threshold: int | None = None,
        min_chunk: int | None = None,
        avg_chunk: int | None = None,
        max_chunk: int | None = None,
    ) -> BlobStore: ...
    @property
    def root(self) -> Path: ...
    @property
    def chunking(self) -> tuple[int, int, int, int]: ...
    def put_bytes(self, data: bytes) -> tuple[str, int, int, int]: ...
    def put_file(
        self, path: str, progress: Callable[[int, int, int], object] | None = None
    ) -> tuple[str, int, int, int]: ...
    def put_files(
        self, paths: list[str], progress: Callable[[int, int, int], object] | None = None
    ) -> list[tuple[str, int, int, int]]: ...
    def has(self, digest_hex: str) -> bool: ...
    def stat(self, digest_hex: str) -> tuple[int, int, bool]: ...
    def get_bytes(self, digest_hex: str) -> bytes: ...
    def read_into_address(self, digest_hex: str, address: int, length: int) -> int: ...
    def put_addresses_whole(
        self, buffers: list[tuple[int, int]]
    ) -> list[tuple[str, int, int, int]]: ...
    def whole_path(self, digest_hex: str) -> str | None: ...
    def verify_digests(self, digests: list[str]) -> None: ...
    def export(self, digest_hex: str, dest: str, link: bool = False) -> str: ...
    def export_many(
        self,
        items: list[tuple[str, str, int | None]],
        link: bool = False,
        verify: bool = True,
        progress: Callable[[int, int, int], object] | None = None,
    ) -> list[str]: ...
    def verify(
        self, digest_hex: str | None = None
    ) -> tuple[int, list[tuple[str, str]], list[tuple[str, str]]]: ...
    def verify_each(self, digests: list[str]) -> tuple[int, list[tuple[str, str]]]: ...
    def delete(self, digest_hex: str) -> bool: ...
    def delete_stale(
        self, digests: list[str], grace_seconds: float
    ) -> tuple[int, int, int, int]: ...
    def gc(self, live: list[str], grace_seconds: float) -> tuple[int, int, int, int]: ...
    def list(self) -> list[str]: ...
    def usage(self) -> tuple[int, int, int]: ...

def scan_tree(
    root: str,
) -> tuple[list[str], list[int], list[int], list[int], list[int], str]: ...
def hash_files(paths: list[str]) -> list[str]: ...
def gp_maximize(
    x: bytes,
    categorical: list[bool],
    objective: tuple[tuple[bytes, bytes, bytes, float], float] | None,
    constraints: list[tuple[bytes, bytes, bytes, float]],
    starts: bytes,
    free: list[bool],
    scales: list[float],
) -> tuple[list[float], list[float]]: ...
def tpe_choose(
    below: bytes,
    below_weights: bytes,
    above: bytes,
    above_weights: bytes,
    params: list[int | tuple[float, float, float | None, bool]],
    prior_weight: float,
    candidates: int,
    seed: int,
) -> list[float]: ...

@final
class Remote:
    def __new__(cls, url: str, options: dict[str, str], cache: str) -> Remote: ...
    @property
    def url(self) -> str: ...
    def push(
        self,
        store: BlobStore,
        digests_hex: list[str],
        progress: Callable[[int, int, int], object] | None = None,
    ) -> tuple[int, int]: ...
    def pull(
        self,
        store: BlobStore,
        digests_hex: list[str],
        progress: Callable[[int, int, int], object] | None = None,
    ) -> tuple[int, int]: ...
    def put_meta(self, key: str, data: bytes) -> None: ...
    def get_meta(self, key: str) -> bytes | None: ...
    def list_meta(self, prefix: str) -> list[str]: ...

# Serving: the batcher calls `call(data, dtype, shape) -> (dtype, shape, data)` once per batch.
_BatchCall = Callable[[bytes | bytearray, str, tuple[int, ...]], tuple[str, tuple[int, ...], bytes]]

@final
class ModelTable:
    def __new__(cls) -> ModelTable: ...
    def load(
        self,
        name: str,
        call: _BatchCall,
        *,
        version: str,
        platform: str,
        source: str | None,
        inputs: list[tuple[str, str, list[int]]],
        outputs: list[tuple[str, str, list[int]]],
        max_batch_size: int,
        max_delay_ms: float,
        queue_capacity: int,
        preferred_batch_sizes: list[int],
        timeout_ms: float | None,
        latency_target_ms: float | None,
        loaded_at_ms: int,
    ) -> None: ...
    def unload(self, name: str) -> bool: ...
    def names(self) -> list[str]: ...
    def describe(self, name: str) -> str | None: ...
    def metrics(self, name: str) -> str | None: ...

@final
class Server:
    def __new__(
        cls,
        table: ModelTable,
        loader: object | None,
        *,
        host: str,
        port: int,
        reuse_port: bool,
        max_body_bytes: int,
        token: str | None,
        overload_status: int,
        threads: int,
        header_read_timeout_s: float,
        body_read_timeout_s: float,
        drain_timeout_s: float,
    ) -> Server: ...
    @property
    def port(self) -> int: ...
    @property
    def host(self) -> str: ...
    @property
    def running(self) -> bool: ...
    def stop(self) -> None: ...
    def prometheus(self) -> str: ...

@final
class RequestBatcher:
    def __new__(
        cls,
        name: str,
        call: _BatchCall,
        dtype: str,
        *,
        max_batch_size: int,
        max_delay_ms: float,
        queue_capacity: int,
        preferred_batch_sizes: list[int],
        timeout_ms: float | None,
        latency_target_ms: float | None,
    ) -> RequestBatcher: ...
    def submit(
        self, data: bytes, shape: list[int], priority: int = 1, timeout_ms: float | None = None
    ) -> tuple[str, list[int], bytes]: ...
    @property
    def queue_depth(self) -> int: ...
    def metrics(self) -> str: ...
    def close(self) -> None: ...
