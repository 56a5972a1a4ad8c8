"""Model registry (issue #5 targets, first part): listing 1,000 models with 10 versions each,
resolving ``models:/NAME@Production`` warm, and resolving plus loading a small scikit-learn
model.

Versions are created through the API from one checkpoint (so the setup measures the registry,
not file storage); AIDOT_BENCH_MODELS lowers the count for a quick run.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from aidot import CheckpointManager, Workspace

from .conftest import Comparison, record

MODELS = int(os.environ.get("AIDOT_BENCH_MODELS", "1000"))
VERSIONS = 10


def test_list_and_resolve(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws").init()
    manager = CheckpointManager(tmp_path / "ckpt", monitor=None, async_save=False)
    future = manager.save({"w": np.ones(16)})
    assert future is not None
    checkpoint = future.result()
    start = time.perf_counter()
    for m in range(MODELS):
        for _ in range(VERSIONS):
            ws.registry.create_model_version(f"model-{m:04d}", checkpoint=checkpoint)
        ws.registry.transition_stage(f"model-{m:04d}", VERSIONS, "Production")
    setup = time.perf_counter() - start
    print(f"\nsetup: {MODELS * VERSIONS:,} versions in {setup:.1f} s")

    timings = []
    for _ in range(5):
        start = time.perf_counter()
        listed = ws.registry.list_models()
        timings.append(time.perf_counter() - start)
    assert len(listed) == MODELS
    assert all(m.latest_version == VERSIONS for m in listed)
    list_s = statistics.median(timings)
    record(
        Comparison(
            f"list {MODELS:,} models x {VERSIONS} versions",
            list_s,
            "target",
            0.2,
            "< 0.2 s",
            note=f"({list_s * 1000:.0f} ms)",
        )
    )

    timings = []
    for m in range(0, MODELS, max(1, MODELS // 50)):
        start = time.perf_counter()
        version = ws.registry.resolve(f"models:/model-{m:04d}@Production")
        timings.append(time.perf_counter() - start)
        assert version.version == VERSIONS
    resolve_s = statistics.median(timings)
    record(
        Comparison(
            "resolve models:/NAME@Production (warm)",
            resolve_s,
            "target",
            0.05,
            "< 50 ms",
            note=f"({resolve_s * 1000:.1f} ms)",
        )
    )

    from sklearn.linear_model import LogisticRegression

    features = np.random.default_rng(0).normal(size=(100, 8))
    small = LogisticRegression().fit(features, features[:, 0] > 0)
    ws.registry.create_model_version("small", model=small, input_example=features[:2])
    ws.registry.transition_stage("small", 1, "Production")
    ws.registry.load_model("models:/small@Production")  # warm
    timings = []
    for _ in range(10):
        start = time.perf_counter()
        served = ws.registry.load_model("models:/small@Production")
        timings.append(time.perf_counter() - start)
    assert served.predict(features[:4]).shape == (4,)
    load_s = statistics.median(timings)
    record(
        Comparison(
            "resolve + load a small scikit-learn model (warm)",
            load_s,
            "target",
            0.05,
            "< 50 ms",
            note=f"({load_s * 1000:.1f} ms)",
        )
    )
    ws.close()


def test_registering_a_100_mib_model_costs_the_blob_write(bench_dir: Path) -> None:
    from aidot import BlobStore

    from .test_bench_blobs import write_random_file

    model = bench_dir / "model"
    model.mkdir()
    write_random_file(model / "weights.bin", 100)
    registry_times, put_times = [], []
    for i in range(3):
        store = BlobStore(bench_dir / f"raw{i}")
        start = time.perf_counter()
        store.put_file(model / "weights.bin")
        put_times.append(time.perf_counter() - start)
        ws = Workspace(bench_dir / f"ws{i}").init()
        start = time.perf_counter()
        ws.registry.create_model_version("big", path=model)
        registry_times.append(time.perf_counter() - start)
        ws.close()
    registry_s, put_s = statistics.median(registry_times), statistics.median(put_times)
    record(
        Comparison(
            "register a 100 MiB model (path=)",
            registry_s,
            "BlobStore.put_file of the same file",
            put_s,
            "dominated by the blob write",
            note=f"({registry_s * 1000:.0f} ms vs {put_s * 1000:.0f} ms)",
        )
    )
