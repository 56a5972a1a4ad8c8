"""Tune a model with TPE and median pruning: every trial is a tracked run, its learning curve
reported step by step so that poor trials stop early.

    python examples/tuning_with_pruning.py
"""

import numpy as np

import aidot
from aidot.tuning import MedianPruner, TPESampler, Trial, TrialPruned

rng = np.random.default_rng(0)
x = rng.normal(size=(1_000, 5))
y = (x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) > 0).astype(float)
train, valid = slice(0, 800), slice(800, None)


def objective(trial: Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    l2 = trial.suggest_float("l2", 1e-6, 1e-1, log=True)
    optimizer = trial.suggest_categorical("optimizer", ["sgd", "momentum"])
    w, velocity = np.zeros(5), np.zeros(5)
    for epoch in range(30):
        p = 1 / (1 + np.exp(-(x[train] @ w)))
        grad = x[train].T @ (p - y[train]) / 800 + l2 * w
        velocity = 0.9 * velocity + grad if optimizer == "momentum" else grad
        w -= lr * velocity
        accuracy = float(np.mean((x[valid] @ w > 0) == y[valid]))
        trial.report(accuracy, epoch)
        if trial.should_prune():
            raise TrialPruned()
    return accuracy


study = aidot.create_study(
    study_name="logistic-search",
    direction="maximize",
    sampler=TPESampler(seed=0),
    pruner=MedianPruner(n_startup_trials=5, n_warmup_steps=5),
    load_if_exists=True,
)
study.optimize(objective, n_trials=30)
pruned = sum(t.state.name == "PRUNED" for t in study.trials)
print(f"best accuracy {study.best_value:.3f} with {study.best_params}")
print(f"{len(study.trials)} trials, {pruned} pruned")
print(f"see them with: aidot studies show {study.study_name}, or aidot ui")
