"""W&B's side of the tracking benchmark (offline mode), run in the bench environment's Python.

Usage: python wandb_logging.py FOLDER CALLS. Prints one JSON line: seconds per wandb.log call
and points/s end to end (the calls plus wandb.finish, which writes everything out).
"""

import json
import os
import sys
import time

os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
import wandb

folder, calls = sys.argv[1], int(sys.argv[2])
run = wandb.init(project="bench", dir=folder)
run.log({"loss": 0.0})
start = time.perf_counter()
for i in range(calls):
    run.log({"loss": 1.0 / (i + 1)})
logged = time.perf_counter()
run.finish()
end = time.perf_counter()
print(
    json.dumps(
        {
            "version": wandb.__version__,
            "log_s": (logged - start) / calls,
            "points_per_s": calls / (end - start),
        }
    )
)
