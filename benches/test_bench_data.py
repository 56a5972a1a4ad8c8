"""Data version control against DVC (issue #4 targets): add, re-add after a 1% change, status
and checkout of 50,000 small files and of 2 GiB in four large files; storage after appending
1 MiB to a 512 MiB file.

DVC runs from the bench environment (`make bench-env`; $AIDOT_BENCH_DVC, else `dvc` on PATH)
in a git + DVC repository around its own copy of the same files (DVC relinks the files it adds,
which would change the stats aidot's cache relies on if they shared them); aidot's workspace is
a sibling folder on the same disk. Checkouts alternate between the two sides and report each
side's median (AIDOT_BENCH_CHECKOUT_ROUNDS, default 3). Sizes: AIDOT_BENCH_FILES (default
50000), AIDOT_BENCH_BIG_MIB (2048).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aidot import Workspace

from .conftest import Comparison, record, sync
from .test_bench_blobs import BIG_MIB, FILES, dvc_command, write_random_file, write_small_files


def seconds(fn: Callable[[], object]) -> float:
    sync()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def dvc_repo(root: Path) -> Callable[..., None]:
    dvc = dvc_command()
    if dvc is None:
        pytest.skip("dvc not installed in the bench environment: make bench-env")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([dvc, "init", "-q"], cwd=root, check=True)

    def run(*args: str) -> None:
        subprocess.run([dvc, *args], cwd=root, check=True, capture_output=True)

    return run


def compare(name: str, aidot_s: float, baseline: str, baseline_s: float, target: str) -> None:
    record(Comparison(name, aidot_s, baseline, baseline_s, target))


def both_sides(
    bench_dir: Path, name: str, data: Path
) -> tuple[Path, Callable[..., None], Workspace]:
    """DVC's repository around its own copy of ``data``, its command, and aidot's workspace."""
    repo = bench_dir / name
    repo.mkdir()
    subprocess.run(["cp", "-a", str(data), str(repo / "data")], check=True)
    return repo, dvc_repo(repo), Workspace(bench_dir / f"{name}-ws").init()


def compare_adds(
    ws: Workspace, dvc: Callable[..., None], data: Path, name: str, *, label: str, target: str
) -> float:
    """Times aidot's add of ``data`` as ``name``, then DVC's of its copy, and records both;
    returns aidot's seconds."""
    aidot_add = seconds(lambda: ws.data.add(data, name))
    dvc_add = seconds(lambda: dvc("add", "-q", "data"))
    # DVC returns before its copies are on the disk; flushing them is what aidot's time includes.
    start = time.perf_counter()
    sync()
    dvc_flush = time.perf_counter() - start
    compare(f"data add, {label}", aidot_add, "dvc add", dvc_add, target)
    compare(
        f"data add, {label}, both durable",
        aidot_add,
        "dvc add, then sync",
        dvc_add + dvc_flush,
        "(as durable as aidot)",
    )
    return aidot_add


DIRECT = ("oflag=direct", "conv=fsync")


def durable_write_floor(folder: Path, mib: int, writers: int = 4) -> float:
    """Seconds for ``writers`` parallel ``dd`` processes to write ``mib`` MiB in all past the
    page cache and fsync it: the disk's own rate, which no add that is durable when it returns
    can beat (``dvc add`` does not fsync, so the disk's write rate does not bound its time)."""
    blocks = f"count={mib // 4 // writers}"  # of 4 MiB

    def write() -> None:
        processes = [
            subprocess.Popen(
                ["dd", "if=/dev/zero", f"of={folder / f'dd-{i}'}", "bs=4M", blocks, *DIRECT],
                stderr=subprocess.DEVNULL,
            )
            for i in range(writers)
        ]
        assert [process.wait() for process in processes] == [0] * writers

    floor = seconds(write)
    for i in range(writers):
        (folder / f"dd-{i}").unlink()
    return floor


CHECKOUT_ROUNDS = int(os.environ.get("AIDOT_BENCH_CHECKOUT_ROUNDS", "3"))


def alternating_checkouts(
    aidot: dict[str, Callable[[Path], object]],
    dvc: Callable[[], object],
    bench_dir: Path,
    repo: Path,
    keep_outputs: bool = True,
) -> tuple[dict[str, list[float]], list[float]]:
    """Seconds of each round of each aidot variant's and of DVC's checkouts, alternating.

    The first round reads aidot's store from the disk (its add wrote past the page cache)
    while DVC's add left its cache in memory; later rounds find both in memory.

    Every round writes into a folder that never existed: aidot's into a new one, DVC's
    after the previous round's output is moved aside, not deleted. ext4 scans past
    recently deleted inodes when it creates files (for a minute or more after a large
    delete), which would slow whichever side ran after a deletion. A few large files
    cost it nothing: without ``keep_outputs`` each round's outputs are deleted after it,
    so that 2 GiB times three rounds times three sides fit on the disk.
    """
    aside = bench_dir / "dvc-outputs"
    aside.mkdir(exist_ok=True)
    aidot_s: dict[str, list[float]] = {label: [] for label in aidot}
    dvc_s = []
    for i in range(CHECKOUT_ROUNDS):
        for label, checkout in aidot.items():
            out = bench_dir / f"checkout-{i}-{label.replace(' ', '-')}"
            aidot_s[label].append(seconds(lambda: checkout(out)))  # noqa: B023 (called at once)
        (repo / "data").rename(aside / str(i))
        dvc_s.append(seconds(dvc))
        if not keep_outputs:
            for folder in [aside / str(i), *bench_dir.glob(f"checkout-{i}-*")]:
                shutil.rmtree(folder)
    return aidot_s, dvc_s


def compare_checkouts(
    label: str,
    aidot_rounds: dict[str, list[float]],
    dvc_rounds: list[float],
    targets: dict[str, str],
) -> None:
    """Records each variant's median against DVC's, and the first round of the first variant
    (aidot's store cold, DVC's cache warm) beside DVC's first."""
    dvc_s = statistics.median(dvc_rounds)
    for variant, rounds in aidot_rounds.items():
        name = f"data checkout, {label}" + (f", {variant}" if len(aidot_rounds) > 1 else "")
        compare(name, statistics.median(rounds), "dvc checkout", dvc_s, targets[variant])
    first = next(iter(aidot_rounds.values()))[0]
    compare(
        f"data checkout, {label}, first after the add",
        first,
        "dvc checkout, first",
        dvc_rounds[0],
        "(aidot's store read from the disk, DVC's cache from memory)",
    )


# The large files go first: deleting the small test's half a million files makes ext4 scan past the
# freed inodes whenever a file is created for the next minutes (`recently_deleted` in a profile),
# which would charge that test's cleanup to the 2,048 chunk files of this one.
def test_large_files_vs_dvc(bench_dir: Path) -> None:
    data = bench_dir / "large-data"
    data.mkdir(parents=True)
    for i in range(4):
        write_random_file(data / f"shard{i}.bin", BIG_MIB // 4)
    repo, dvc, ws = both_sides(bench_dir, "large", data)
    label = f"{BIG_MIB:,} MiB in 4 files"
    floor = durable_write_floor(bench_dir, BIG_MIB)
    aidot_add = compare_adds(ws, dvc, data, "large", label=label, target=">= 4x")
    compare(
        f"data add, {label}, against the disk",
        aidot_add,
        "4 x dd oflag=direct conv=fsync",
        floor,
        "(the floor for a durable add)",
    )

    aidot_rounds, dvc_rounds = alternating_checkouts(
        {
            "verified": lambda out: ws.data.checkout("large", out),
            "no verify": lambda out: ws.data.checkout("large", out, verify=False),
        },
        lambda: dvc("checkout", "-q"),
        bench_dir,
        repo,
        keep_outputs=False,
    )
    assert (repo / "data" / "shard3.bin").stat().st_size == (BIG_MIB // 4) << 20
    targets = {"verified": ">= 3x", "no verify": "(--no-verify, as DVC)"}
    compare_checkouts(label, aidot_rounds, dvc_rounds, targets)

    grown = data / "shard0.bin"
    used = ws.blobs.usage().bytes
    with grown.open("ab") as fh:
        fh.write(os.urandom(1 << 20))
    ws.data.add(data, "large")
    new_bytes = ws.blobs.usage().bytes - used
    record(
        Comparison(
            f"append 1 MiB to a {BIG_MIB // 4} MiB file, add again: new storage",
            new_bytes,
            "DVC: a second full copy",
            (BIG_MIB // 4 + 1) << 20,
            "< 8 MiB",
            unit="bytes",
        )
    )
    ws.close()


def test_small_files_vs_dvc(bench_dir: Path) -> None:
    data = bench_dir / "small-data"
    paths = write_small_files(data, FILES)
    repo, dvc, ws = both_sides(bench_dir, "small", data)
    label = f"{FILES:,} x 4 KiB"
    compare_adds(ws, dvc, data, "small", label=label, target=">= 15x")

    aidot_status = seconds(lambda: ws.data.status("small"))
    assert not ws.data.status("small")
    dvc_status = seconds(lambda: dvc("status", "-q"))
    compare(f"data status, unchanged {label}", aidot_status, "dvc status", dvc_status, "< 0.5 s")

    for path in paths[:: max(1, len(paths) // (FILES // 100))][: FILES // 100]:
        content = os.urandom(4096)  # 1% of the files rewritten, the same in both trees
        path.write_bytes(content)
        (repo / "data" / path.relative_to(data)).write_bytes(content)
    aidot_readd = seconds(lambda: ws.data.add(data, "small"))
    dvc_readd = seconds(lambda: dvc("add", "-q", "data"))
    compare(f"data add again, 1% of {label} rewritten", aidot_readd, "dvc add", dvc_readd, ">= 10x")

    aidot_rounds, dvc_rounds = alternating_checkouts(
        {"aidot": lambda out: ws.data.checkout("small", out)},
        lambda: dvc("checkout", "-q"),
        bench_dir,
        repo,
    )
    sample = paths[7].relative_to(data)
    assert (bench_dir / "checkout-0-aidot" / sample).read_bytes() == paths[7].read_bytes()
    assert (repo / "data" / sample).read_bytes() == paths[7].read_bytes()
    compare_checkouts(label, aidot_rounds, dvc_rounds, {"aidot": ">= 10x"})
    ws.close()
