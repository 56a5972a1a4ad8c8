"""Benchmark helpers: every comparison times aidot and its baseline in the same run, on the
same data, and the ratios are printed at the end of the session and written to
``.benchmarks/ratios.md``."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Comparison:
    name: str
    aidot_s: float
    baseline: str
    baseline_s: float
    target: str
    note: str = ""
    unit: str = "s"
    """``s`` for times (shown in s, ms or us), ``count`` for a count out of the baseline's
    (no ratio then), anything else is printed as is (``bytes``)."""
    suite: str = ""
    """Which benchmark module measured it (``ui``, ``tuning``...); set by :func:`record`."""

    def show(self, value: float) -> str:
        return show(value, self.unit)

    @property
    def speedup(self) -> float:
        """How many times faster aidot is than the baseline (>1 is faster); NaN for counts."""
        if self.unit == "count":
            return math.nan
        return self.baseline_s / self.aidot_s if self.aidot_s else float("inf")


def show(value: float, unit: str) -> str:
    """A measured value as the tables print it: a time in s, ms or us, a size in MiB, a
    count as a whole number."""
    if math.isnan(value):
        return ""
    if unit != "s":
        return _show_other(value, unit)
    if value >= 1:
        return f"{value:.3f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.3f} us"


def _show_other(value: float, unit: str) -> str:
    if unit == "count":
        return f"{value:.0f}"
    if unit == "bytes" and value >= 1 << 20:
        return f"{value / (1 << 20):.1f} MiB"
    return f"{value:.1f} {unit}"


RESULTS: list[Comparison] = []


def timed(fn: Callable[[], object], setup: Callable[[], object] | None, rounds: int) -> float:
    """Median wall time of ``fn`` over ``rounds`` runs, each after ``setup``."""
    times = []
    for _ in range(rounds):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Interleaved:
    """Runs the baseline right before each benchmark round, so that both see the same machine
    state (this VM's disk and memory speed drift by 2-4x within minutes)."""

    def __init__(self, baseline: Callable[[], object], reset: Callable[[], object]) -> None:
        self.baseline = baseline
        self.reset = reset
        self.times: list[float] = []

    def setup(self) -> None:
        start = time.perf_counter()
        self.baseline()
        self.times.append(time.perf_counter() - start)
        self.reset()

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def sync() -> None:
    subprocess.run(["sync"], check=True)


def record(comparison: Comparison) -> Comparison:
    if not comparison.suite:
        # "benches/test_bench_ui.py::test_x (call)" -> "ui"
        current = os.environ.get("PYTEST_CURRENT_TEST", "")
        module = current.split("::", 1)[0].rsplit("/", 1)[-1]
        comparison.suite = module.removeprefix("test_bench_").removesuffix(".py")
    RESULTS.append(comparison)
    return comparison


@pytest.fixture
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scratch folder on the same disk as the project (not a tmpfs)."""
    root = Path(os.environ.get("AIDOT_BENCH_DIR", Path.cwd() / ".benchmarks" / "scratch"))
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tmp_path_factory.mktemp("bench", numbered=True))
    folder = root / path.name
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    lines = [
        "| benchmark | aidot | baseline | baseline time | aidot vs baseline | target |",
        "|---|---|---|---|---|---|",
    ]
    for r in RESULTS:
        ratio = f"{r.speedup:.2f}x" if math.isfinite(r.speedup) else ""
        lines.append(
            f"| {r.name} | {r.show(r.aidot_s)} | {r.baseline} | {r.show(r.baseline_s)} | "
            f"{ratio} {r.note} | {r.target} |"
        )
    terminalreporter.write_sep(
        "=", "aidot vs baselines (median times or sizes; >1x means aidot is better)"
    )
    for line in lines:
        terminalreporter.write_line(line)
    out = Path(".benchmarks")
    out.mkdir(exist_ok=True)
    (out / "ratios.md").write_text("\n".join(lines) + "\n")
    # Machine-readable, for benches/compare (tables and charts over several sessions).
    (out / "ratios.json").write_text(
        json.dumps(
            [{**dataclasses.asdict(r), "speedup": _finite(r.speedup)} for r in RESULTS], indent=1
        )
        + "\n"
    )


def _finite(value: float) -> float | None:
    """``value``, or None where JSON has no number for it (a count's ratio)."""
    return value if math.isfinite(value) else None
