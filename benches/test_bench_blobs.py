"""Blob store throughput against `cp` + `sync` and `dvc add` (issue #2 targets).

Sizes can be lowered for a quick run: AIDOT_BENCH_BIG_MIB (default 2048), AIDOT_BENCH_FILES
(default 50000). `dvc` is looked up as $AIDOT_BENCH_DVC, else on PATH; install it in a separate
environment (`make bench-env`), never in aidot's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from aidot import BlobStore

from .conftest import Comparison, Interleaved, record, sync, timed

BIG_MIB = int(os.environ.get("AIDOT_BENCH_BIG_MIB", "2048"))
FILES = int(os.environ.get("AIDOT_BENCH_FILES", "50000"))


def write_random_file(path: Path, mib: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for i in range(mib):
            # Vary every block so chunking finds no accidental duplicates.
            fh.write(i.to_bytes(8, "little") + block[8:])


def write_small_files(folder: Path, count: int, size: int = 4096) -> list[Path]:
    paths = []
    for d in range(0, count, 1000):
        sub = folder / f"d{d // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        for i in range(d, min(d + 1000, count)):
            path = sub / f"{i:06d}.bin"
            path.write_bytes(os.urandom(size))
            paths.append(path)
    return paths


def dvc_command() -> str | None:
    return os.environ.get("AIDOT_BENCH_DVC") or shutil.which("dvc")


def test_put_large_file_vs_cp_and_sync(benchmark: pytest.FixtureRequest, bench_dir: Path) -> None:
    source = bench_dir / "big.bin"
    write_random_file(source, BIG_MIB)
    sync()
    source.read_bytes() if BIG_MIB <= 4096 else None  # warm the page cache

    def cp_sync() -> None:
        subprocess.run(["cp", str(source), str(bench_dir / "copy.bin")], check=True)
        sync()

    def fresh_store() -> None:
        shutil.rmtree(bench_dir / "blobs", ignore_errors=True)
        (bench_dir / "copy.bin").unlink(missing_ok=True)
        sync()

    def put() -> None:
        BlobStore(bench_dir / "blobs").put_file(source)

    rounds = Interleaved(cp_sync, fresh_store)
    benchmark.pedantic(put, setup=rounds.setup, rounds=5)
    aidot_s = benchmark.stats.stats.median
    r = record(
        Comparison(
            f"put_file {BIG_MIB} MiB (warm cache)",
            aidot_s,
            "cp + sync",
            rounds.median,
            ">= 0.8x cp + sync",
        )
    )
    benchmark.extra_info.update(baseline_s=rounds.median, ratio=r.speedup)

    # Re-putting the same content writes nothing and is at least twice as fast.
    store = BlobStore(bench_dir / "blobs")
    usage = store.usage()
    again = timed(lambda: store.put_file(source), None, rounds=3)
    assert store.usage() == usage
    record(Comparison(f"re-put {BIG_MIB} MiB", again, "first put", aidot_s, ">= 2x first put"))


def test_put_many_small_files_vs_dvc(benchmark: pytest.FixtureRequest, bench_dir: Path) -> None:
    data = bench_dir / "data"
    paths = write_small_files(data, FILES)
    sync()

    # Every round writes to new folders: this disk gets slow at creating files right where
    # many were just deleted, which would penalise whichever side runs second.
    counter = iter(range(1_000_000))
    target = {"store": bench_dir / "blobs-init"}

    def cp_r() -> None:
        subprocess.run(
            ["cp", "-r", str(data), str(bench_dir / f"copy-{next(counter)}")], check=True
        )
        sync()

    def fresh_store() -> None:
        target["store"] = bench_dir / f"blobs-{next(counter)}"
        sync()

    def put() -> None:
        BlobStore(target["store"]).put_files(paths)

    rounds = Interleaved(cp_r, fresh_store)
    benchmark.pedantic(put, setup=rounds.setup, rounds=3)
    aidot_s = benchmark.stats.stats.median
    files_per_s = FILES / aidot_s
    benchmark.extra_info.update(files_per_s=files_per_s, baseline_s=rounds.median)
    record(
        Comparison(
            f"put_files {FILES} x 4 KiB",
            aidot_s,
            "cp -r + sync",
            rounds.median,
            ">= 15,000 files/s",
            note=f"({files_per_s:,.0f} files/s)",
        )
    )

    store = BlobStore(target["store"])
    usage = store.usage()
    again = timed(lambda: store.put_files(paths), None, rounds=3)
    assert store.usage() == usage
    record(Comparison(f"re-put {FILES} x 4 KiB", again, "first put", aidot_s, ">= 2x first put"))

    dvc = dvc_command()
    if dvc is None:
        pytest.skip("dvc not installed in the bench environment; see docs/benchmarks.md")

    def dvc_add() -> None:
        subprocess.run([dvc, "add", "-q", "data"], cwd=bench_dir, check=True)

    def dvc_reset() -> None:
        for name in (".dvc", ".git", "data.dvc", ".gitignore", ".dvcignore"):
            target = bench_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        subprocess.run(["git", "init", "-q"], cwd=bench_dir, check=True)
        subprocess.run([dvc, "init", "-q"], cwd=bench_dir, check=True)
        sync()

    dvc_s = timed(dvc_add, dvc_reset, rounds=1)
    record(
        Comparison(
            f"put_files {FILES} x 4 KiB", aidot_s, "dvc add", dvc_s, ">= 15x faster than dvc add"
        )
    )


def test_append_one_mib_to_256_mib(bench_dir: Path) -> None:
    source = bench_dir / "grow.bin"
    write_random_file(source, 256)
    store = BlobStore(bench_dir / "blobs")
    store.put_file(source)
    before = store.usage().bytes
    with source.open("ab") as fh:
        fh.write(os.urandom(1 << 20))
    start = time.perf_counter()
    store.put_file(source)
    elapsed = time.perf_counter() - start
    added = store.usage().bytes - before
    print(f"\nappend 1 MiB to 256 MiB: {added / (1 << 20):.2f} MiB new storage in {elapsed:.2f} s")
    assert added < 8 << 20
