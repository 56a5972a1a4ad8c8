"""Framework integrations, each driven by the real library: scikit-learn, LightGBM, XGBoost."""

from __future__ import annotations

import numpy as np
import pytest

from aidot import EarlyStopping, TrainingMonitor
from aidot.errors import InvalidArgumentError
from aidot.tracking import ExperimentTracker, Run


def classification_data(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return X, y


def regression_data(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = 3 * X[:, 0] - 2 * X[:, 1] + X[:, 2] * X[:, 3] + rng.normal(scale=0.3, size=n)
    return X, y


# --- scikit-learn -------------------------------------------------------------------------


def test_partial_fit_loop_logs_epochs_and_stops_early(tracker: ExperimentTracker, run: Run) -> None:
    from sklearn.linear_model import SGDClassifier

    from aidot.monitoring.sklearn import fit_incremental

    X, y = classification_data()
    stopping = EarlyStopping("val_log_loss", patience=2, min_delta=1e-3)
    model = SGDClassifier(loss="log_loss", alpha=1e-3, random_state=0)
    with TrainingMonitor(run, early_stopping=stopping, system_metrics=False) as monitor:
        fit_incremental(
            model,
            X[:1500],
            y[:1500],
            monitor=monitor,
            epochs=200,
            batch_size=100,
            validation_data=(X[1500:], y[1500:]),
        )
    run.flush()
    assert monitor.should_stop  # converged long before 200 epochs
    epochs = monitor.epoch + 1
    assert epochs < 200
    assert monitor.global_step == epochs * 15
    val = tracker.get_metric_history(run.id, "val_log_loss")
    assert len(val) == epochs
    assert val.values[-1] < val.values[0]
    assert tracker.get_metric_history(run.id, "val_score").values[-1] > 0.8
    assert len(tracker.get_metric_history(run.id, "train_log_loss")) == epochs
    assert model.score(X[1500:], y[1500:]) > 0.8


def test_partial_fit_regressor_reports_mse(tracker: ExperimentTracker, run: Run) -> None:
    from sklearn.linear_model import SGDRegressor

    from aidot.monitoring.sklearn import fit_incremental

    X, y = regression_data()
    with TrainingMonitor(run, system_metrics=False) as monitor:
        fit_incremental(
            SGDRegressor(random_state=0), X, y, monitor=monitor, epochs=3, batch_size=500
        )
    run.flush()
    mse = tracker.get_metric_history(run.id, "train_mse").values
    assert len(mse) == 3
    assert mse[-1] < np.var(y)


def test_fit_incremental_refuses_what_it_cannot_train(run: Run) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import SGDClassifier

    from aidot.monitoring.sklearn import fit_incremental

    X, y = classification_data(100)
    with TrainingMonitor(run, system_metrics=False) as monitor:
        with pytest.raises(InvalidArgumentError, match="no partial_fit"):
            fit_incremental(RandomForestClassifier(), X, y, monitor=monitor, epochs=1)
        with pytest.raises(InvalidArgumentError, match="100 rows but y has 99"):
            fit_incremental(SGDClassifier(), X, y[:99], monitor=monitor, epochs=1)


def test_a_fitted_estimator_logs_its_params(tracker: ExperimentTracker, run: Run) -> None:
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from aidot.monitoring.sklearn import log_estimator

    X, y = regression_data(300)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), GradientBoostingRegressor(random_state=0)),
        {"gradientboostingregressor__n_estimators": [5, 20]},
        cv=2,
    ).fit(X, y)
    log_estimator(search, run)
    run.flush()
    info = tracker.get_run(run.id)
    assert info.params["cv"] == "2"
    assert info.params["estimator"] == "Pipeline"
    assert info.params["estimator__gradientboostingregressor__random_state"] == "0"
    assert info.params["best.gradientboostingregressor__n_estimators"] == "20"
    assert info.tags["estimator_class"] == "sklearn.model_selection._search.GridSearchCV"
    assert info.metrics["fitted.best_score"] == pytest.approx(search.best_score_)
    assert info.metrics["fitted.n_features_in"] == 6


# --- LightGBM -----------------------------------------------------------------------------


def test_lightgbm_rounds_are_epochs_and_the_monitor_stops_them(
    tracker: ExperimentTracker, run: Run
) -> None:
    import lightgbm

    from aidot.monitoring.lightgbm import aidot_callback

    X, y = regression_data()
    train = lightgbm.Dataset(X[:1500], y[:1500])
    valid = lightgbm.Dataset(X[1500:], y[1500:], reference=train)
    params = {"objective": "regression", "learning_rate": 0.3, "num_leaves": 63, "verbose": -1}
    stopping = EarlyStopping("valid_0-l2", patience=5)
    with TrainingMonitor(run, early_stopping=stopping, system_metrics=False) as monitor:
        booster = lightgbm.train(
            params, train, 1000, valid_sets=[valid], callbacks=[aidot_callback(monitor)]
        )
    run.flush()
    assert monitor.should_stop
    rounds = monitor.epoch + 1
    assert rounds < 1000
    assert booster.best_iteration == stopping.best_epoch + 1  # LightGBM counts from 1
    assert stopping.stopped_epoch == stopping.best_epoch + 5
    l2 = tracker.get_metric_history(run.id, "valid_0-l2")
    np.testing.assert_array_equal(l2.steps, np.arange(rounds))
    assert l2.values.min() == pytest.approx(stopping.best_value)
    info = tracker.get_run(run.id)
    assert info.params["learning_rate"] == "0.3"
    assert info.params["num_leaves"] == "63"
    assert len(tracker.get_metric_history(run.id, "step_time_ms/p50")) == rounds


def test_lightgbm_without_a_monitor_logs_to_the_run(tracker: ExperimentTracker, run: Run) -> None:
    import lightgbm

    from aidot.monitoring.lightgbm import aidot_callback

    X, y = classification_data()
    train = lightgbm.Dataset(X, y)
    params = {"objective": "binary", "metric": ["auc", "binary_logloss"], "verbose": -1}
    lightgbm.train(
        params,
        train,
        10,
        valid_sets=[train],
        valid_names=["train"],
        callbacks=[aidot_callback(run=run)],
    )
    run.flush()
    auc = tracker.get_metric_history(run.id, "train-auc")
    assert len(auc) == 10
    assert auc.values[-1] > 0.9
    assert len(tracker.get_metric_history(run.id, "train-binary_logloss")) == 10


# --- XGBoost ------------------------------------------------------------------------------


def test_xgboost_rounds_are_epochs_and_the_monitor_stops_them(
    tracker: ExperimentTracker, run: Run
) -> None:
    import xgboost

    from aidot.monitoring.xgboost import AidotCallback

    X, y = regression_data()
    dtrain = xgboost.DMatrix(X[:1500], label=y[:1500])
    dvalid = xgboost.DMatrix(X[1500:], label=y[1500:])
    params = {"objective": "reg:squarederror", "eta": 0.5, "max_depth": 8}
    stopping = EarlyStopping("eval-rmse", patience=5)
    with TrainingMonitor(run, early_stopping=stopping, system_metrics=False) as monitor:
        run.log_params(params)
        booster = xgboost.train(
            params, dtrain, 1000, evals=[(dvalid, "eval")], callbacks=[AidotCallback(monitor)]
        )
    run.flush()
    assert monitor.should_stop
    rounds = monitor.epoch + 1
    assert rounds == stopping.best_epoch + 6
    assert booster.num_boosted_rounds() == rounds
    assert booster.best_iteration == stopping.best_epoch
    rmse = tracker.get_metric_history(run.id, "eval-rmse")
    np.testing.assert_array_equal(rmse.steps, np.arange(rounds))
    assert rmse.values.min() == pytest.approx(stopping.best_value)
    assert tracker.get_run(run.id).params["max_depth"] == "8"


def test_xgboost_without_a_monitor_logs_to_the_run(tracker: ExperimentTracker, run: Run) -> None:
    import xgboost

    from aidot.monitoring.xgboost import AidotCallback

    X, y = classification_data()
    dtrain = xgboost.DMatrix(X, label=y)
    xgboost.train(
        {"objective": "binary:logistic", "eval_metric": ["auc", "logloss"]},
        dtrain,
        8,
        evals=[(dtrain, "train")],
        callbacks=[AidotCallback(run=run)],
    )
    run.flush()
    assert len(tracker.get_metric_history(run.id, "train-auc")) == 8
    assert len(tracker.get_metric_history(run.id, "train-logloss")) == 8
