"""Optuna's side of benches/test_bench_tuning.py, run in the bench environment.

Usage: optuna_tuning.py MODE JSON-ARGS; prints one JSON line.
  storage {"db": path, "trials": n}              wall seconds for n random trials into SQLite
  cpu {"sampler": "tpe"|"gp", "function": f, "trials": n, "last": k, "seed": s}
                                                 mean CPU seconds per trial (ask, suggest,
                                                 tell) over the last k
  quality {"sampler": "default"|"tpe"|"gp", "functions": [...], "seeds": [...], "trials": n}
                                                 best value of each (function, seed)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import optuna

from tuning_functions import objective, trivial

optuna.logging.set_verbosity(optuna.logging.ERROR)


def sampler(name: str, seed: int) -> optuna.samplers.BaseSampler | None:
    if name == "default":
        return None if seed is None else optuna.samplers.TPESampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    raise SystemExit(f"unknown sampler {name}")


def main() -> None:
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    out: dict[str, object] = {"version": optuna.__version__}
    if mode == "storage":
        start = time.perf_counter()
        study = optuna.create_study(
            storage=f"sqlite:///{args['db']}", sampler=optuna.samplers.RandomSampler(seed=0)
        )
        study.optimize(trivial, n_trials=args["trials"])
        out["seconds"] = time.perf_counter() - start
    elif mode == "cpu":
        study = optuna.create_study(sampler=sampler(args["sampler"], args["seed"]))
        fn = objective(args["function"])
        spent = []
        for i in range(args["trials"]):
            # ask, the objective's suggest_* calls (where sampling happens) and tell; the
            # test functions themselves cost microseconds.
            start = time.process_time()
            trial = study.ask()
            study.tell(trial, fn(trial))
            if i >= args["trials"] - args["last"]:
                spent.append(time.process_time() - start)
        out["cpu_per_trial"] = sum(spent) / len(spent)
    elif mode == "quality":
        best = {}
        for function in args["functions"]:
            for seed in args["seeds"]:
                study = optuna.create_study(sampler=sampler(args["sampler"], seed))
                study.optimize(objective(function), n_trials=args["trials"])
                best[f"{function}/{seed}"] = study.best_value
        out["best"] = best
    print(json.dumps(out))


if __name__ == "__main__":
    main()
