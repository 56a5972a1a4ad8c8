"""Track a training loop: params, per-step and per-epoch metrics, system metrics and an
artifact, then find the best run with MLflow's filter syntax.

    python examples/tracking_training_loop.py      # uses $AIDOT_HOME, else ./.aidot
"""

import numpy as np

import aidot
from aidot import TrainingMonitor

ws = aidot.default_workspace()
rng = np.random.default_rng(0)
x = rng.normal(size=(2_000, 8))
y = x @ rng.normal(size=8) + 0.1 * rng.normal(size=2_000)

for lr in (0.3, 0.1, 0.01):
    with ws.tracker.start_run("linear-regression", name=f"lr={lr}") as run:
        run.log_params({"lr": lr, "batch_size": 100, "epochs": 10})
        w = np.zeros(8)
        with TrainingMonitor(run, progress=False) as monitor:
            for _epoch in monitor.epochs(10):
                for start in range(0, len(x), 100):
                    xb, yb = x[start : start + 100], y[start : start + 100]
                    grad = xb.T @ (xb @ w - yb) / len(xb)
                    w -= lr * grad
                    monitor.on_step(loss=float(np.mean((xb @ w - yb) ** 2)))
                monitor.on_epoch_end(val_loss=float(np.mean((x @ w - y) ** 2)))
        run.log_dict({"weights": w.tolist()}, "model/weights.json")

ws.tracker.flush()
best = ws.tracker.search_runs(
    "linear-regression", "metrics.val_loss < 1", order_by=["metrics.val_loss ASC"]
)[0]
print(f"best run {best.name}: val_loss {best.metrics['val_loss']:.5f} (id {best.id})")
history = ws.tracker.get_metric_history(best.id, "loss")
print(f"its loss curve has {len(history)} points; open it with: aidot ui")
