"""search_runs with MLflow's filter syntax, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aidot.errors import InvalidFilterError, NotFoundError
from aidot.store import MetadataStore
from aidot.tracking import ExperimentTracker, RunStatus


@pytest.fixture
def tracker(db_uri: str) -> Iterator[ExperimentTracker]:
    """Twelve runs in two experiments with params, tags and metrics."""
    store = MetadataStore(db_uri)
    tracker = ExperimentTracker(store, synchronous=True)
    for i in range(12):
        experiment = "churn" if i < 10 else "other"
        with tracker.start_run(experiment, name=f"run-{i:02d}") as run:
            run.log_params({"lr": f"0.0{i % 3 + 1}", "depth": i})
            run.set_tags({"team": "a" if i % 2 else "b"})
            run.log_metric("loss", 1.0 / (i + 1))
            run.log_metric("val loss", 2.0 / (i + 1))
    with pytest.raises(ValueError, match="boom"), tracker.start_run("churn", name="broken") as run:  # noqa: PT012
        run.log_metric("loss", 0.001)
        raise ValueError("boom")
    yield tracker
    tracker.close()
    store.close()


def names(runs: list) -> list[str]:  # type: ignore[type-arg]
    return [r.name for r in runs]


def test_filters_on_metrics_params_tags_and_attributes(tracker: ExperimentTracker) -> None:
    found = tracker.search_runs("churn", "metrics.loss < 0.2 and params.lr = '0.01'")
    assert sorted(names(found)) == ["run-06", "run-09"]
    found = tracker.search_runs("churn", "tags.team = 'a' and attributes.status = 'FINISHED'")
    assert sorted(names(found)) == ["run-01", "run-03", "run-05", "run-07", "run-09"]
    assert names(tracker.search_runs("churn", "attributes.status = 'FAILED'")) == ["broken"]
    found = tracker.search_runs(["churn", "other"], "metrics.`val loss` >= 1")
    assert sorted(names(found)) == ["run-00", "run-01"]
    assert names(tracker.search_runs(None, "attributes.run_name LIKE 'run-1%'")) == [
        "run-11",
        "run-10",
    ]
    assert len(tracker.search_runs("churn", "params.depth != '3'")) == 9


def test_order_by_and_max_results(tracker: ExperimentTracker) -> None:
    best = tracker.search_runs("churn", order_by=["metrics.loss ASC"], max_results=3)
    assert names(best) == ["broken", "run-09", "run-08"]
    assert best[0].status is RunStatus.FAILED
    assert best[1].metrics["loss"] == pytest.approx(0.1)
    assert best[1].params == {"lr": "0.01", "depth": "9"}
    worst = tracker.search_runs("churn", "attributes.status = 'FINISHED'", ["metrics.loss DESC"])
    assert names(worst)[:2] == ["run-00", "run-01"]
    by_param = tracker.search_runs("churn", order_by=["params.lr DESC", "metrics.loss ASC"])
    assert by_param[0].params["lr"] == "0.03"
    newest_first = tracker.search_runs("other")
    assert names(newest_first) == ["run-11", "run-10"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("metrics.loss <", "needs ENTITY.KEY OP VALUE"),
        ("loss < 1", "cannot read"),
        ("metrics.loss < 'a'", "compares with a number"),
        ("params.lr = 0.1", "quoted string"),
        ("params.lr < '0.1'", "is text"),
        ("metrics.loss < 1 or metrics.loss > 2", "cannot read"),
        ("metrics.loss < 1 and", "ends with .and."),
        ("attributes.colour = 'red'", "unknown run attribute"),
        ("metrics.loss LIKE 1", "not metrics"),
    ],
)
def test_bad_filters_name_the_problem(tracker: ExperimentTracker, text: str, problem: str) -> None:
    with pytest.raises(InvalidFilterError, match=problem):
        tracker.search_runs("churn", text)


def test_bad_order_by_and_experiments(tracker: ExperimentTracker) -> None:
    with pytest.raises(InvalidFilterError, match="cannot order by"):
        tracker.search_runs("churn", order_by=["loss"])
    with pytest.raises(InvalidFilterError, match="unknown run attribute"):
        tracker.search_runs("churn", order_by=["attributes.colour"])
    with pytest.raises(NotFoundError):
        tracker.search_runs("no-such-experiment")


def test_dataframe_view(tracker: ExperimentTracker) -> None:
    pd = pytest.importorskip("pandas")
    frame = tracker.search_runs_df("churn", order_by=["metrics.loss ASC"], max_results=2)
    assert list(frame["run_name"]) == ["broken", "run-09"]
    assert {"metrics.loss", "params.lr", "tags.team", "status"} <= set(frame.columns)
    assert isinstance(frame, pd.DataFrame)


def test_pages_of_runs_follow_the_order_and_the_count_matches(tracker: ExperimentTracker) -> None:
    order = ["metrics.loss ASC"]
    everything = names(tracker.search_runs("churn", order_by=order))
    pages = [
        names(tracker.search_runs("churn", order_by=order, max_results=4, offset=offset))
        for offset in (0, 4, 8, 12)
    ]
    assert [n for page in pages for n in page] == everything
    assert [len(p) for p in pages] == [4, 4, 3, 0]
    assert tracker.count_runs("churn") == 11
    assert tracker.count_runs("churn", "tags.team = 'a'") == 5
    assert tracker.count_runs(["churn", "other"], "metrics.loss < 0.2") == 8
    with pytest.raises(InvalidFilterError):
        tracker.count_runs("churn", "metrics.loss <")
    with pytest.raises(ValueError, match="offset must be 0 or more"):
        tracker.search_runs("churn", offset=-1)


def test_run_keys_are_what_a_runs_table_offers_as_columns(tracker: ExperimentTracker) -> None:
    assert tracker.run_keys("other") == {
        "params": ["depth", "lr"],
        "metrics": ["loss", "val loss"],
        "tags": ["team"],
    }


def test_a_tag_is_set_on_a_finished_run(tracker: ExperimentTracker) -> None:
    (run,) = tracker.search_runs("other", "attributes.name = 'run-11'")
    tracker.set_tag(run.id, "reviewed", "yes")
    assert tracker.get_run(run.id).tags == {"team": "a", "reviewed": "yes"}
    with pytest.raises(NotFoundError):
        tracker.set_tag("01nosuchrun", "reviewed", "yes")


def test_a_deleted_run_leaves_searches_and_counts_until_restored(
    tracker: ExperimentTracker,
) -> None:
    (run,) = tracker.search_runs("other", "attributes.name = 'run-10'")
    tracker.delete_run(run.id)
    assert names(tracker.search_runs("other")) == ["run-11"]
    assert tracker.count_runs("other") == 1
    assert tracker.count_runs("other", include_deleted=True) == 2
    assert names(tracker.search_runs("other", include_deleted=True)) == ["run-11", "run-10"]
    assert tracker.get_run(run.id).lifecycle == "deleted"  # still readable by id
    tracker.restore_run(run.id)
    assert tracker.get_run(run.id).lifecycle == "active"
    assert tracker.count_runs("other") == 2
    with pytest.raises(NotFoundError):
        tracker.delete_run("01nosuchrun")
