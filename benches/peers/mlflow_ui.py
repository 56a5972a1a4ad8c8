"""MLflow's side of the UI benchmark, run in the bench environment's Python: fills an MLflow
SQLite store with the same runs as aidot's (10 params and 10 metrics each, the same values
from the same seed) and one run with a long series.

Usage: python mlflow_ui.py FOLDER RUNS POINTS. Prints one JSON line: the experiment ids, the
long run's id and the seconds the filling took.
"""

import json
import os
import random
import sys
import time

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

folder, runs, points = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = MlflowClient(tracking_uri=f"sqlite:///{os.path.join(folder, 'mlflow.db')}")
start = time.perf_counter()
big = client.create_experiment("big", artifact_location=os.path.join(folder, "artifacts"))
rng = random.Random(0)
now = int(time.time() * 1000)
for i in range(runs):
    params = {f"p{j}": round(rng.random(), 6) for j in range(10)}
    metrics = {f"m{j}": rng.random() for j in range(10)}
    metrics["m0"] = i / runs
    run = client.create_run(big, run_name=f"run-{i}")
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
    )
    client.set_terminated(run.info.run_id)
long_experiment = client.create_experiment("long")
long_run = client.create_run(long_experiment, run_name="long")
for first in range(0, points, 1000):
    batch = [
        Metric("loss", 1.0 / (1.0 + step * 1e-3) + 0.01 * (step % 97) / 97, now, step)
        for step in range(first, min(first + 1000, points))
    ]
    client.log_batch(long_run.info.run_id, metrics=batch)
client.set_terminated(long_run.info.run_id)
print(
    json.dumps(
        {
            "experiment": big,
            "long_experiment": long_experiment,
            "long_run": long_run.info.run_id,
            "seconds": time.perf_counter() - start,
        }
    )
)
