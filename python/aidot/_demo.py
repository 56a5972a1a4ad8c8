"""The lifecycle demo behind ``aidot demo``, built on the public API only.

It versions a generated dataset folder twice in the blob store and shows what content
addressing and chunking saved (identical files are stored once, and the second version stores
only what changed); tunes a logistic regression on the second version with a study whose
trials are tracked runs under a TrainingMonitor (checkpoints, pruning); registers the best
trial's model with its lineage and promotes it; then serves it over HTTP from the model
repository and drives it with concurrent clients.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aidot.blobs import ProgressCallback
from aidot.workspace import Workspace

SHARDS = 1_500
DUPLICATES = 300
EMBEDDINGS_MIB = 48


@dataclass(frozen=True)
class ServingReport:
    """The registered model served over HTTP and driven by concurrent clients."""

    url: str
    requests: int
    connections: int
    seconds: float
    agreement: float
    """Share of requests whose answer matches the model called in-process."""
    p50_ms: float
    p95_ms: float
    p99_ms: float
    batch_size_mean: float
    batch_utilization: float
    """Mean batch size over the largest batch allowed."""
    errors: int


@dataclass(frozen=True)
class TrainingReport:
    """The tuning study of the demo and the model it produced."""

    study: str
    trials: int
    pruned: int
    best_run_id: str
    best_params: dict[str, float]
    rows: int
    epochs: int
    accuracy: float
    """The best trial's validation accuracy."""
    model_uri: str
    """The best trial's model, registered from its best checkpoint and promoted to Production."""
    served_agreement: float
    """Share of rows where the model loaded from the registry agrees with the trial's."""


@dataclass(frozen=True)
class VersionReport:
    """What putting one version of the dataset did."""

    name: str
    files: int
    content_bytes: int
    bytes_written: int
    seconds: float
    sample_digest: str
    """Digest of the large embeddings file, to compare with ``b3sum``."""

    @property
    def deduplicated_bytes(self) -> int:
        return self.content_bytes - self.bytes_written


def generate_dataset(folder: Path, seed: int = 0) -> list[Path]:
    """Writes a folder like a real training set: CSV shards, duplicated label files, and one
    large binary of embeddings; returns every file."""
    rng = random.Random(seed)
    shards = folder / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    for i in range(SHARDS):
        rows = rng.randint(40, 200)
        lines = ["x1,x2,x3,label"]
        lines += [
            f"{rng.random():.6f},{rng.random():.6f},{rng.gauss(0, 1):.6f},{rng.randint(0, 1)}"
            for _ in range(rows)
        ]
        (shards / f"part-{i:05d}.csv").write_text("\n".join(lines) + "\n")
    # The same small files appear in many folders of real datasets (labels, licences, schemas).
    labels = "\n".join(f"{i},class_{i}" for i in range(10)) + "\n"
    for i in range(DUPLICATES):
        sub = folder / "splits" / f"fold-{i:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / "labels.csv").write_text(labels)
    (folder / "embeddings.bin").write_bytes(rng.randbytes(EMBEDDINGS_MIB << 20))
    return sorted(p for p in folder.rglob("*") if p.is_file())


def change_dataset(folder: Path, seed: int = 1) -> list[Path]:
    """Edits a few shards, adds new ones and appends 1 MiB of embeddings: a typical next version."""
    rng = random.Random(seed)
    shards = sorted((folder / "shards").glob("*.csv"))
    for shard in rng.sample(shards, 20):
        with shard.open("a") as fh:
            fh.write(f"{rng.random():.6f},{rng.random():.6f},{rng.gauss(0, 1):.6f},1\n")
    for i in range(100):
        (folder / "shards" / f"part-new-{i:03d}.csv").write_text(f"x1\n{rng.random()}\n")
    with (folder / "embeddings.bin").open("ab") as fh:
        fh.write(rng.randbytes(1 << 20))
    return sorted(p for p in folder.rglob("*") if p.is_file())


def put_version(
    ws: Workspace,
    name: str,
    files: list[Path],
    progress: ProgressCallback | None = None,
) -> VersionReport:
    """Adds the folder holding ``files`` as the next version of dataset ``name``."""
    folder = Path(os.path.commonpath(files))
    started = time.perf_counter()
    version = ws.data.add(folder, name, f"{len(files)} files", progress=progress)
    seconds = time.perf_counter() - started
    return VersionReport(
        name=version.ref,
        files=version.file_count,
        content_bytes=version.bytes,
        bytes_written=version.bytes_written,
        seconds=seconds,
        sample_digest=version.files["embeddings.bin"].digest,
    )


def load_table(data_folder: Path) -> tuple[Any, Any]:
    """The shards' features and a label that depends on them (the generated labels are
    random, real ones would not be)."""
    import numpy as np

    shards = sorted((data_folder / "shards").glob("part-0*.csv"))
    table = np.concatenate([np.loadtxt(p, delimiter=",", skiprows=1, ndmin=2) for p in shards])
    raw, noise = table[:, :3], table[:, 3]
    labels = ((raw[:, 0] + 0.5 * raw[:, 2] + 0.1 * noise) > 0.6).astype(np.float64)
    return raw, labels


def tune_and_register(
    ws: Workspace,
    data_folder: Path,
    dataset: str,
    *,
    trials: int = 20,
    epochs: int = 40,
    on_trial: Callable[[int, str, float | None], None] | None = None,
) -> TrainingReport:
    """A tuning study (TPE, median pruning) of a logistic regression's learning rate and L2
    penalty, each trial a run trained under a :class:`~aidot.TrainingMonitor` that keeps its
    best checkpoint; the best trial's best weights are registered with their lineage (dataset
    -> trial run -> version) and promoted to Production."""
    import numpy as np

    from aidot import CheckpointManager, TrainingMonitor
    from aidot.registry import NumpyModel
    from aidot.tuning import MedianPruner, PruningCallback, TPESampler, Trial, TrialState

    raw, y = load_table(data_folder)
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    x = np.c_[(raw - mean) / std, np.ones(len(raw))]
    split = int(0.8 * len(y))
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    data_version = ws.data.get(dataset)
    best_weights: dict[int, Any] = {}  # each trial's weights at its best validation accuracy

    def objective(trial: Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 10.0, log=True)
        l2 = trial.suggest_float("l2", 1e-6, 1.0, log=True)
        trial.run.log_input(data_version)
        weights = np.zeros(x.shape[1])
        checkpoints = CheckpointManager(
            trial.run, monitor="val_accuracy", mode="max", save_top_k=1, keep_last=0
        )
        monitor = TrainingMonitor(
            trial.run, callbacks=[PruningCallback(trial, "val_accuracy")], progress=False
        )
        best = -1.0
        with monitor, checkpoints:
            for epoch in monitor.epochs(epochs):
                p = 1.0 / (1.0 + np.exp(-(x_train @ weights)))
                eps = 1e-12
                loss = -np.mean(y_train * np.log(p + eps) + (1 - y_train) * np.log(1 - p + eps))
                weights = weights - lr * ((x_train.T @ (p - y_train)) / len(y_train) + l2 * weights)
                accuracy = float(np.mean((x_val @ weights > 0) == y_val))
                if accuracy > best:  # a checkpoint on each improvement; the best one is kept
                    best, best_weights[trial.number] = accuracy, weights
                    checkpoints.save(
                        {"weights": weights}, epoch=epoch, metrics={"val_accuracy": accuracy}
                    )
                monitor.on_epoch_end(loss=float(loss), val_accuracy=accuracy)
        return best

    def report(study: Any, trial: Any) -> None:
        if on_trial is not None:
            on_trial(trial.number, trial.state.name, trial.value)

    taken = set(ws.study_names())
    name = next(n for i in range(1, 10_000) if (n := f"demo-tuning-{i}") not in taken)
    study = ws.create_study(
        study_name=name,
        direction="maximize",
        sampler=TPESampler(seed=0),
        pruner=MedianPruner(n_startup_trials=5, n_warmup_steps=10),
    )
    study.optimize(objective, n_trials=trials, callbacks=[report])
    best = study.best_trial
    assert best.run_id is not None
    weights = best_weights[best.number]
    model = NumpyModel({"weights": weights, "mean": mean, "std": std}, PREDICT_FUNCTION)
    version = ws.registry.create_model_version(
        "demo-classifier",
        model=model,
        input_example=raw[:4],
        run=best.run_id,
        metrics={"val_accuracy": float(best.value or 0.0)},
        description=f"best of study {study.study_name}, trial {best.number}",
    )
    ws.registry.transition_stage(
        "demo-classifier", version.version, "Production", archive_existing=True, comment="demo"
    )
    served = ws.registry.load_model("models:/demo-classifier@Production")
    agreement = float(np.mean(served.predict(raw) == (x @ weights > 0)))
    pruned = len(study.get_trials(states=(TrialState.PRUNED,)))
    return TrainingReport(
        study=study.study_name,
        trials=len(study.trials),
        pruned=pruned,
        best_run_id=best.run_id,
        best_params={k: float(v) for k, v in best.params.items()},
        rows=len(y),
        epochs=epochs,
        accuracy=float(best.value or 0.0),
        model_uri=version.uri,
        served_agreement=agreement,
    )


PREDICT_FUNCTION = "aidot._demo:predict_logistic"


def predict_logistic(arrays: dict[str, Any], batch: Any) -> Any:
    """The demo model as a NumpyModel function: standardise, then a logistic regression."""
    import numpy as np

    x = (np.asarray(batch, dtype=np.float64) - arrays["mean"]) / arrays["std"]
    logits = np.c_[x, np.ones(len(x))] @ arrays["weights"]
    return logits > 0


def serve_model(
    ws: Workspace, data_folder: Path, model_uri: str, requests: int = 4000, connections: int = 16
) -> ServingReport:
    """Loads the Production model into the workspace's repository, starts the HTTP server on
    loopback and sends ``requests`` one-row requests from ``connections`` concurrent clients."""
    import http.client
    import json
    import time
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from aidot.serving import serve

    shard = sorted((data_folder / "shards").glob("part-0*.csv"))[0]
    rows = np.loadtxt(shard, delimiter=",", skiprows=1, ndmin=2)[:, :3]
    expected = ws.registry.load_model(model_uri).predict(rows)
    name = model_uri.removeprefix("models:/").split("/")[0]
    ws.repository.load(name, f"models:/{name}@Production")
    with serve(ws.repository) as server:

        def client(worker: int) -> tuple[int, int]:
            agree = failed = 0
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            for i in range(worker, requests, connections):
                body = json.dumps({"features": [rows[i % len(rows)].tolist()]})
                connection.request(
                    "POST",
                    f"/api/inference/predict/{name}",
                    body,
                    {"Content-Type": "application/json"},
                )
                reply = connection.getresponse()
                payload = reply.read()
                if reply.status != 200:
                    failed += 1
                    continue
                answer = json.loads(payload)["predictions"][0][0]
                agree += int(bool(answer) == bool(expected[i % len(rows)]))
            connection.close()
            return agree, failed

        started = time.perf_counter()
        with ThreadPoolExecutor(connections) as pool:
            results = list(pool.map(client, range(connections)))
        seconds = time.perf_counter() - started
        metrics = ws.repository.metrics(name)
        url = server.url
    ws.repository.unload(name)
    return ServingReport(
        url=url,
        requests=requests,
        connections=connections,
        seconds=seconds,
        agreement=sum(a for a, _ in results) / requests,
        p50_ms=metrics.end_to_end.p50_ms,
        p95_ms=metrics.end_to_end.p95_ms,
        p99_ms=metrics.end_to_end.p99_ms,
        batch_size_mean=metrics.batch_size_mean,
        batch_utilization=metrics.batch_utilization,
        errors=sum(f for _, f in results),
    )


def run(
    ws: Workspace,
    data_folder: Path,
    step: Callable[[str], None],
    progress_for: Callable[[str], ProgressCallback],
    *,
    on_trial: Callable[[int, str, float | None], None] | None = None,
    trials: int = 20,
) -> tuple[list[VersionReport], TrainingReport, ServingReport]:
    """Runs the demo; ``step`` announces each stage, ``progress_for(label)`` makes a callback
    for the blob store's progress, ``on_trial(number, state, value)`` hears of each trial."""
    step("generating a dataset folder")
    files = generate_dataset(data_folder)
    step("adding it as version 1 of dataset 'demo'")
    v1 = put_version(ws, "demo", files, progress_for("v1"))
    step("changing the dataset (20 edited shards, 100 new, 1 MiB appended)")
    files = change_dataset(data_folder)
    step("adding version 2 (only changed files are read; changed chunks stored)")
    v2 = put_version(ws, "demo", files, progress_for("v2"))
    step(
        f"tuning a logistic regression on demo@v2: {trials} trials (TPE, median pruning), "
        "each a tracked run under a TrainingMonitor keeping its best checkpoint"
    )
    training = tune_and_register(ws, data_folder, v2.name, trials=trials, on_trial=on_trial)
    step("registering the best trial's model, promoting it to Production, loading it back")
    step("serving the Production model over HTTP and sending it 4,000 concurrent requests")
    serving = serve_model(ws, data_folder, training.model_uri)
    step("verifying every blob")
    report = ws.blobs.verify()
    if not report.ok:
        raise RuntimeError(f"verification found damaged blobs: {report.corrupt}")
    return [v1, v2], training, serving


def default_data_folder(ws: Workspace) -> Path:
    """Where the demo writes its generated dataset: beside the workspace's stores."""
    return ws.home / "demo-data"
