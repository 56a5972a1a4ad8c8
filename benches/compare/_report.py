"""The comparison page: a Markdown table per benchmark suite, the machine, and a PNG chart of
aidot's ratio to each baseline."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benches.conftest import show

SUITE_TITLES = {
    "blobs": "Blob store",
    "checkpoints": "Checkpoints (vs safetensors)",
    "data": "Data versions (vs DVC)",
    "remotes": "Data remotes",
    "registry": "Model registry",
    "tracking": "Tracking (vs MLflow, W&B)",
    "tuning": "Tuning (vs Optuna)",
    "serving": "Serving (vs FastAPI, LitServe, BentoML, nginx)",
    "ui": "Web UI (vs MLflow's UI)",
    "import": "Import time",
}


def load_results(path: Path) -> list[dict[str, Any]]:
    """The comparisons a benchmark session wrote (``.benchmarks/ratios.json``)."""
    results = json.loads(path.read_text())
    if not isinstance(results, list):
        raise ValueError(f"{path} does not hold a list of comparisons")
    return results


def write_report(
    results: Sequence[Mapping[str, Any]],
    machine: Mapping[str, str],
    page: Path,
    charts: Path,
    *,
    date: str,
) -> list[Path]:
    """Writes the Markdown page and one chart per suite; returns the charts written."""
    suites: dict[str, list[Mapping[str, Any]]] = {}
    for result in results:
        suites.setdefault(str(result.get("suite") or "other"), []).append(result)
    charts.mkdir(parents=True, exist_ok=True)
    lines = [
        "# aidot side by side with the tools it replaces",
        "",
        f"Written by `python -m benches.compare` on {date}. Every row ran aidot and its "
        "baseline in the same session, on the same data and disk; the ratio is how many times "
        "better aidot did (a time divided by a time, or a size by a size). Where a row has a "
        "target instead of a tool, it is the issue's target.",
        "",
        "## Machine",
        "",
        *(f"- {key}: {value}" for key, value in machine.items() if value),
        "",
    ]
    peers = peers_of(results)
    if peers:
        lines += [
            "Peers (their own environment): "
            + ", ".join(f"{name} {version}" for name, version in sorted(peers.items()))
            + ".",
            "",
        ]
    written = []
    for suite in sorted(suites):
        rows = suites[suite]
        chart = charts / f"{suite}.png"
        if _chart(rows, chart, SUITE_TITLES.get(suite, suite)):
            written.append(chart)
        lines += [f"## {SUITE_TITLES.get(suite, suite)}", ""]
        if chart in written:
            lines += [f"![{suite}]({charts.name}/{chart.name})", ""]
        ran = sorted({str(r["date"]) for r in rows if r.get("date")})
        if ran:
            lines += [f"Measured {', '.join(ran)}.", ""]
        lines += [
            "| benchmark | aidot | baseline | baseline value | ratio | target |",
            "|---|---|---|---|---|---|",
        ]
        for r in rows:
            unit = str(r.get("unit", "s"))
            speedup = r.get("speedup")
            ratio = (
                f"{speedup:.2f}x"
                if isinstance(speedup, (int, float)) and math.isfinite(speedup)
                else ""
            )
            lines.append(
                f"| {r['name']} | {show(float(r['aidot_s']), unit)} | {r['baseline']} | "
                f"{show(float(r['baseline_s']), unit)} | {ratio} | {r.get('target', '')} |"
            )
        lines.append("")
    page.write_text("\n".join(lines))
    return written


def peers_of(results: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The peer versions the rows were measured with (each row records its session's), the
    latest where suites rerun on different days saw different versions."""
    peers: dict[str, str] = {}
    for result in sorted(results, key=lambda r: str(r.get("date", ""))):
        peers.update(result.get("peers") or {})
    return peers


def _chart(rows: Sequence[Mapping[str, Any]], path: Path, title: str) -> bool:
    """A horizontal bar per comparison: aidot's ratio to the baseline, log scale, 1x marked."""
    usable = [
        r
        for r in rows
        if isinstance(r.get("speedup"), (int, float))
        and math.isfinite(r["speedup"])
        and r["speedup"] > 0
    ]
    if not usable:
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    height = 1.0 + 0.45 * len(usable)
    figure = Figure(figsize=(9, height))
    axes = figure.add_subplot()
    labels = [f"{r['name'][:60]}\nvs {r['baseline'][:40]}" for r in usable]
    values = [float(r["speedup"]) for r in usable]
    colours = ["#16a34a" if v >= 1 else "#dc2626" for v in values]
    axes.barh(range(len(values)), values, color=colours)
    axes.set_yticks(range(len(values)), labels, fontsize=7)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.axvline(1.0, color="#334155", linewidth=1)
    axes.set_xlabel("aidot vs baseline (x better, log scale)")
    axes.set_title(title)
    for i, value in enumerate(values):
        axes.text(value, i, f" {value:.2g}x", va="center", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True
