"""MLflow's side of the tracking benchmark, run in the bench environment's Python.

Usage: python mlflow_logging.py FOLDER CALLS BATCH_POINTS. Prints one JSON line: seconds per
log_metric call, points/s through log_batch, bytes per point in the SQLite file, and the time
to read the batched history back.
"""

import json
import os
import sys
import time

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

folder, calls, batch_points = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = os.path.join(folder, "mlflow.db")
mlflow.set_tracking_uri(f"sqlite:///{db}")
mlflow.set_experiment("bench")
client = MlflowClient()
with mlflow.start_run() as run:
    mlflow.log_metric("warmup", 0.0, step=0)
    start = time.perf_counter()
    for i in range(calls):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    call_s = (time.perf_counter() - start) / calls

    size_before = os.path.getsize(db)
    now = int(time.time() * 1000)
    start = time.perf_counter()
    for first in range(0, batch_points, 1000):
        metrics = [Metric("batched", 1.0 / (i + 1), now, i) for i in range(first, first + 1000)]
        client.log_batch(run.info.run_id, metrics=metrics)
    batch_s = time.perf_counter() - start
    size_after = os.path.getsize(db)

    start = time.perf_counter()
    history = client.get_metric_history(run.info.run_id, "batched")
    read_s = time.perf_counter() - start
    assert len(history) == batch_points

print(
    json.dumps(
        {
            "version": mlflow.__version__,
            "log_metric_s": call_s,
            "log_batch_points_per_s": batch_points / batch_s,
            "bytes_per_point": (size_after - size_before) / batch_points,
            "history_read_s": read_s,
            "history_points": batch_points,
        }
    )
)
