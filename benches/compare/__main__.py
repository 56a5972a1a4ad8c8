"""``python -m benches.compare [--only ui,tuning] [-k EXPR] [--quick] [--no-install]``: see the
package docstring."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benches.compare._machine import describe
from benches.compare._report import load_results, write_report

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".bench-venv"
PEERS = ["dvc", "mlflow", "wandb", "safetensors", "fastapi", "litserve", "bentoml", "optuna"]
# Smaller sizes for a quick look; the published numbers use the defaults.
QUICK = {
    "AIDOT_BENCH_BIG_MIB": "256",
    "AIDOT_BENCH_FILES": "5000",
    "AIDOT_BENCH_CKPT_MIB": "128",
    "AIDOT_BENCH_SECONDS": "2",
    "AIDOT_BENCH_MODELS": "100",
    "AIDOT_BENCH_RUNS": "1000",
    "AIDOT_BENCH_TUNING_SEEDS": "2",
    "AIDOT_BENCH_UI_RUNS": "1000",
    "AIDOT_BENCH_UI_POINTS": "100000",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benches.compare", description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated suites (ui,tuning,...)")
    parser.add_argument(
        "-k",
        dest="keyword",
        default="",
        help="only the benchmarks pytest -k selects; the suite's other rows are kept",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a quick look")
    parser.add_argument(
        "--no-install", action="store_true", help="use the peers' environment as it is"
    )
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "comparison.md")
    args = parser.parse_args(argv)

    if not args.no_install:
        subprocess.run(["make", "bench-env"], cwd=ROOT, check=True)
    env = {**os.environ, **(QUICK if args.quick else {})}
    env.setdefault("AIDOT_BENCH_PEERS_PYTHON", str(VENV / "bin" / "python"))
    env.setdefault("AIDOT_BENCH_DVC", str(VENV / "bin" / "dvc"))
    suites = [s.strip() for s in args.only.split(",") if s.strip()]
    targets = [f"benches/test_bench_{s}.py" for s in suites] or ["benches"]
    for target in targets:
        if not (ROOT / target).exists():
            print(f"error: no benchmark suite {target}", file=sys.stderr)
            return 2
    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *targets,
            *(["-k", args.keyword] if args.keyword else []),
            "-s",
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=7200",
        ],
        cwd=ROOT,
        env=env,
        check=False,
    ).returncode
    fresh = load_results(ROOT / ".benchmarks" / "ratios.json")
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # Suites not rerun keep their last published results (each row says when it ran).
    kept = args.page.with_suffix(".json")
    published = load_results(kept) if kept.exists() else []
    peers = peer_versions(Path(env["AIDOT_BENCH_PEERS_PYTHON"]))
    results = merge(published, fresh, date, peers=peers, whole_suites=not args.keyword)
    kept.write_text(json.dumps(results, indent=1) + "\n")
    written = write_report(
        results,
        {**describe(), **({"sizes": "quick (reduced)"} if args.quick else {})},
        args.page,
        args.page.with_suffix(""),
        date=date,
    )
    print(f"wrote {args.page} and {len(written)} charts; pytest exit status {status}")
    return status


def merge(
    published: list[dict[str, Any]],
    fresh: list[dict[str, Any]],
    date: str,
    *,
    peers: dict[str, str] | None = None,
    whole_suites: bool = True,
) -> list[dict[str, Any]]:
    """The published rows with the fresh ones in their place, each fresh row stamped with the
    date and the peers' versions: every suite that ran again is replaced whole (so renamed or
    removed benchmarks go), or with ``whole_suites=False`` (a ``-k`` selection) only the rows
    that ran again."""
    if whole_suites:
        rerun = {r.get("suite") for r in fresh}
        kept = [r for r in published if r.get("suite") not in rerun]
    else:
        again = {(r.get("suite"), r.get("name")) for r in fresh}
        kept = [r for r in published if (r.get("suite"), r.get("name")) not in again]
    return kept + [{**r, "date": date, "peers": peers or {}} for r in fresh]


def peer_versions(python: Path) -> dict[str, str]:
    """The versions of the peers installed in their environment."""
    if not python.exists():
        return {}
    probe = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run(
        [str(python), "-c", probe, *PEERS], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {}
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


if __name__ == "__main__":
    sys.exit(main())
