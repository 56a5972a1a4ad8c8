"""scikit-learn: log an estimator's params, and train with ``partial_fit`` under a monitor.

::

    from aidot.monitoring import EarlyStopping, TrainingMonitor
    from aidot.monitoring.sklearn import fit_incremental, log_estimator

    with aidot.start_run("sgd") as run:
        with TrainingMonitor(run, early_stopping=EarlyStopping("val_log_loss")) as monitor:
            fit_incremental(SGDClassifier(loss="log_loss"), X, y, monitor=monitor, epochs=20,
                            classes=[0, 1], validation_data=(X_val, y_val))
        log_estimator(model, run)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aidot.errors import InvalidArgumentError

if TYPE_CHECKING:
    from aidot.monitoring._monitor import TrainingMonitor
    from aidot.tracking import Run

__all__ = ["estimator_params", "fit_incremental", "log_estimator"]


def estimator_params(estimator: Any) -> dict[str, str]:
    """``get_params(deep=True)`` as strings; nested estimators appear by class name, their own
    params under ``name__param`` as scikit-learn spells them."""
    if not hasattr(estimator, "get_params"):
        raise InvalidArgumentError(
            f"{type(estimator).__name__} is not a scikit-learn estimator (no get_params)"
        )
    out = {}
    for key, value in estimator.get_params(deep=True).items():
        text = type(value).__name__ if hasattr(value, "get_params") else repr(value)
        out[key] = text if len(text) <= 8000 else text[:7997] + "..."
    return out


def log_estimator(estimator: Any, run: Run | None = None, *, prefix: str = "") -> None:
    """Logs a (fitted) estimator to ``run`` (default: the active run): its params, its class
    as the tag ``estimator_class``, the scalar fitted attributes (``n_iter_``,
    ``best_score_``, ...) as metrics ``fitted.<name>``, and a search's ``best_params_`` as
    params ``best.<name>``."""
    import numbers

    run = _resolve(run)
    params = {f"{prefix}{k}": v for k, v in estimator_params(estimator).items()}
    run.log_params(params)
    cls = type(estimator)
    run.set_tag(f"{prefix}estimator_class", f"{cls.__module__}.{cls.__qualname__}")
    fitted = {}
    for name in dir(estimator):
        if not name.endswith("_") or name.startswith("_") or name.endswith("__"):
            continue
        try:
            value = getattr(estimator, name)
        except Exception:  # some fitted attributes raise when not applicable
            continue
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            fitted[f"{prefix}fitted.{name.rstrip('_')}"] = float(value)
        elif getattr(value, "shape", None) == (1,) and isinstance(value[0], numbers.Real):
            fitted[f"{prefix}fitted.{name.rstrip('_')}"] = float(value[0])
    if fitted:
        run.log_metrics(fitted)
    best = getattr(estimator, "best_params_", None)
    if isinstance(best, dict):
        run.log_params({f"{prefix}best.{k}": v for k, v in best.items()})


def fit_incremental(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    monitor: TrainingMonitor,
    epochs: int,
    batch_size: int = 256,
    classes: Sequence[Any] | None = None,
    validation_data: tuple[Any, Any] | None = None,
    shuffle: bool = True,
    random_state: int | None = 0,
) -> Any:
    """Trains ``estimator`` with ``partial_fit`` over minibatches for up to ``epochs`` epochs,
    reporting each batch as a step and each epoch's scores to ``monitor`` (so early stopping
    applies); returns the estimator.

    Epoch metrics: ``train_score`` and ``val_score`` (the estimator's own ``score``), and for
    classifiers with ``predict_proba`` ``train_log_loss`` / ``val_log_loss``, for regressors
    ``train_mse`` / ``val_mse``.
    """
    import numpy as np
    from sklearn.base import is_classifier

    if not hasattr(estimator, "partial_fit"):
        raise InvalidArgumentError(
            f"{type(estimator).__name__} has no partial_fit; use estimator.fit and "
            "log_estimator, or an incremental estimator (SGDClassifier, MLPClassifier...)"
        )
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be at least 1, got {batch_size}")
    X_all, y_all = np.asarray(X), np.asarray(y)
    if len(X_all) != len(y_all):
        raise InvalidArgumentError(f"X has {len(X_all)} rows but y has {len(y_all)}")
    classify = is_classifier(estimator)
    labels = np.unique(y_all) if classify and classes is None else classes
    rng = np.random.default_rng(random_state)
    if monitor.steps_per_epoch is None:
        monitor.steps_per_epoch = -(-len(X_all) // batch_size)
    for _ in monitor.epochs(epochs):
        order = rng.permutation(len(X_all)) if shuffle else np.arange(len(X_all))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            if classify:
                estimator.partial_fit(X_all[rows], y_all[rows], classes=labels)
            else:
                estimator.partial_fit(X_all[rows], y_all[rows])
            monitor.on_step()
        metrics = _scores(estimator, "train", X_all, y_all)
        if validation_data is not None:
            metrics.update(_scores(estimator, "val", *validation_data))
        monitor.on_epoch_end(**metrics)
    return estimator


def _scores(estimator: Any, prefix: str, X: Any, y: Any) -> dict[str, float]:
    from sklearn.base import is_regressor
    from sklearn.metrics import log_loss, mean_squared_error

    out = {f"{prefix}_score": float(estimator.score(X, y))}
    if hasattr(estimator, "predict_proba"):
        try:
            proba = estimator.predict_proba(X)
        except AttributeError:  # e.g. SGDClassifier with a loss that has no probabilities
            return out
        out[f"{prefix}_log_loss"] = float(log_loss(y, proba, labels=estimator.classes_))
    elif is_regressor(estimator):
        out[f"{prefix}_mse"] = float(mean_squared_error(y, estimator.predict(X)))
    return out


def _resolve(run: Run | None) -> Run:
    if run is not None:
        return run
    from aidot._fluent import active_run

    active = active_run()
    if active is None:
        raise InvalidArgumentError(
            "no run to log to: pass run=, or start one with aidot.start_run()"
        )
    return active
