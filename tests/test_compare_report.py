"""benches/compare's page: tables grouped by suite, the machine, and real PNG charts, from a
benchmark session's ratios.json."""

from __future__ import annotations

import json
from pathlib import Path

from benches.compare._machine import describe
from benches.compare._report import load_results, write_report


def test_the_page_has_a_table_and_a_chart_per_suite(tmp_path: Path) -> None:
    results = [
        {
            "name": "runs page first rows",
            "aidot_s": 0.166,
            "baseline": "MLflow UI",
            "baseline_s": 2.69,
            "target": "< 1 s",
            "note": "",
            "unit": "s",
            "suite": "ui",
            "speedup": 2.69 / 0.166,
            "date": "2026-11-26",
            "peers": {"mlflow": "3.17.1", "wandb": "0.31.0"},
        },
        {
            "name": "append 1 MiB, add again",
            "aidot_s": 1.5 * 2**20,
            "baseline": "DVC",
            "baseline_s": 513 * 2**20,
            "target": "< 8 MiB",
            "note": "",
            "unit": "bytes",
            "suite": "data",
            "speedup": 342.0,
            "date": "2026-11-27",
            "peers": {"dvc": "3.67.1", "mlflow": "3.17.2"},
        },
        {
            "name": "TPE CPU per trial",
            "aidot_s": 0.0077,
            "baseline": "Optuna",
            "baseline_s": 0.0224,
            "target": ">= 5x",
            "note": "",
            "unit": "s",
            "suite": "tuning",
            "speedup": float("nan"),
        },
    ]
    source = tmp_path / "ratios.json"
    source.write_text(json.dumps(results))
    page = tmp_path / "comparison.md"
    charts = write_report(
        load_results(source),
        describe(),
        page,
        tmp_path / "comparison",
        date="2026-11-27",
    )
    text = page.read_text()
    assert "## Web UI (vs MLflow's UI)" in text
    assert "| runs page first rows | 166.00 ms | MLflow UI | 2.690 s | 16.20x | < 1 s |" in text
    assert "| append 1 MiB, add again | 1.5 MiB | DVC | 513.0 MiB | 342.00x | < 8 MiB |" in text
    assert "| TPE CPU per trial | 7.70 ms | Optuna | 22.40 ms |  | >= 5x |" in text
    assert "- cores: " in text
    # Every suite's peers are listed, not only the last run's; the latest version wins.
    assert "Peers (their own environment): dvc 3.67.1, mlflow 3.17.2, wandb 0.31.0." in text
    # A chart for each suite with a finite ratio; the NaN-only suite has none.
    assert sorted(c.name for c in charts) == ["data.png", "ui.png"]
    for chart in charts:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](comparison/{chart.name})" in text


def test_a_rerun_replaces_its_suite_or_with_k_only_its_rows() -> None:
    from benches.compare.__main__ import merge

    def row(suite: str, name: str, value: float) -> dict[str, object]:
        return {"suite": suite, "name": name, "aidot_s": value}

    published = [row("tuning", "storage", 1.0), row("tuning", "gp", 2.0), row("ui", "page", 3.0)]
    fresh = [row("tuning", "gp", 4.0)]
    whole = merge(published, fresh, "today", peers={"optuna": "5.0.0"})
    assert [(r["suite"], r["name"], r["aidot_s"]) for r in whole] == [
        ("ui", "page", 3.0),
        ("tuning", "gp", 4.0),
    ]
    partial = merge(published, fresh, "today", whole_suites=False)
    assert [(r["suite"], r["name"], r["aidot_s"]) for r in partial] == [
        ("tuning", "storage", 1.0),
        ("ui", "page", 3.0),
        ("tuning", "gp", 4.0),
    ]
    assert partial[-1]["date"] == "today"
    assert whole[-1]["peers"] == {"optuna": "5.0.0"}
    assert "date" not in partial[0]


def test_a_count_row_shows_whole_numbers_and_no_ratio(tmp_path: Path) -> None:
    from benches.conftest import Comparison

    row = Comparison(
        "GPSampler: functions where it is not significantly worse",
        7,
        "Optuna GPSampler (of 8 functions)",
        8,
        "at least its quality",
        unit="count",
        suite="tuning",
    )
    assert row.show(row.aidot_s) == "7"
    source = tmp_path / "ratios.json"
    source.write_text(json.dumps([{**row.__dict__, "speedup": None}]))
    page = tmp_path / "comparison.md"
    write_report(load_results(source), describe(), page, tmp_path / "charts", date="today")
    assert (
        "| GPSampler: functions where it is not significantly worse | 7 | "
        "Optuna GPSampler (of 8 functions) | 8 |  | at least its quality |"
    ) in page.read_text()
