"""Parameter importance, plots, and the ``aidot studies`` / ``aidot tune`` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aidot import Workspace
from aidot.cli import cli
from aidot.errors import InvalidArgumentError, NotFoundError
from aidot.tuning import RandomSampler, Trial, param_importances, plots


def lopsided(trial: Trial) -> float:
    """``big`` decides almost everything, ``small`` a little, ``noise`` nothing."""
    big = trial.suggest_float("big", -1.0, 1.0)
    small = trial.suggest_float("small", -1.0, 1.0)
    trial.suggest_float("noise", -1.0, 1.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return 10 * big**2 + small**2 + (0.5 if kind == "b" else 0.0)


@pytest.fixture
def studied(workspace: Workspace) -> Workspace:
    workspace.create_study("lopsided", sampler=RandomSampler(seed=0)).optimize(
        lopsided, n_trials=80
    )
    return workspace


def test_importance_ranks_the_parameters_that_matter(studied: Workspace) -> None:
    study = studied.load_study("lopsided")
    importance = study.importance()
    assert next(iter(importance)) == "big"
    assert importance["big"] > 0.6
    assert importance["noise"] < importance["small"]
    assert sum(importance.values()) == pytest.approx(1.0)
    assert param_importances(study, ["small", "noise"]).keys() == {"small", "noise"}
    with pytest.raises(InvalidArgumentError, match="not a parameter"):
        study.importance(["missing"])


def test_importance_needs_finished_trials(workspace: Workspace) -> None:
    with pytest.raises(NotFoundError, match="COMPLETE"):
        workspace.create_study("empty").importance()


@pytest.mark.parametrize(
    ("draw", "kwargs"),
    [
        (plots.plot_optimization_history, {}),
        (plots.plot_param_importances, {}),
        (plots.plot_parallel_coordinate, {}),
        (plots.plot_slice, {"params": ["big", "kind"]}),
        (plots.plot_contour, {}),
    ],
)
def test_plots_are_written_as_png(
    studied: Workspace, tmp_path: Path, draw: object, kwargs: dict[str, object]
) -> None:
    figure = draw(studied.load_study("lopsided"), **kwargs)  # type: ignore[operator]
    path = tmp_path / "plot.png"
    plots.save(figure, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5000


def test_contour_needs_two_parameters(studied: Workspace) -> None:
    with pytest.raises(InvalidArgumentError, match="two parameters"):
        plots.plot_contour(studied.load_study("lopsided"), params=["big"])


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_studies_commands(studied: Workspace, tmp_path: Path) -> None:
    home = str(studied.home)
    code, out = run("studies", "ls", "--workspace", home)
    assert code == 0
    assert "lopsided" in out
    assert "80" in out
    code, out = run("studies", "show", "lopsided", "--workspace", home, "--limit", "5")
    assert code == 0
    assert "best trial" in out
    assert "big" in out
    image = tmp_path / "h.png"
    code, out = run(
        "studies", "plot", "lopsided", "--kind", "history", "-o", str(image), "--workspace", home
    )
    assert code == 0
    assert image.exists()
    code, out = run("studies", "show", "missing", "--workspace", home)
    assert code == 1
    assert "no study named 'missing'" in out
    code, out = run("studies", "delete", "lopsided", "--yes", "--workspace", home)
    assert code == 0
    assert run("studies", "ls", "--workspace", home)[1].startswith("no studies")


def test_the_worker_options_name_every_sampler_and_pruner() -> None:
    from aidot.cli._tune import PRUNERS, SAMPLERS
    from aidot.tuning._specs import pruners_by_name, samplers_by_name

    assert list(samplers_by_name()) == SAMPLERS
    assert list(pruners_by_name()) == PRUNERS


def test_tune_worker_creates_and_runs_a_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "train.py").write_text(
        "def objective(trial):\n    return trial.suggest_float('x', -1, 1) ** 2\n"
    )
    monkeypatch.chdir(tmp_path)
    home = str(tmp_path / "ws")
    code, out = run(
        "tune",
        "worker",
        "cli",
        "--module",
        "train:objective",
        "--n-trials",
        "6",
        "--direction",
        "minimize",
        "--sampler",
        "tpe",
        "--seed",
        "1",
        "--workspace",
        home,
    )
    assert code == 0, out
    assert "6 complete" in out
    with Workspace(home) as ws:
        study = ws.load_study("cli")
        assert len(study.trials) == 6
        assert type(study.sampler).__name__ == "TPESampler"  # remembered from the first worker
    code, out = run("tune", "worker", "cli", "--module", "train:nothing", "--workspace", home)
    assert code == 1
    assert "no function 'nothing'" in out
    code, out = run("tune", "worker", "nope", "--module", "train:objective", "--workspace", home)
    assert code == 1
    assert "no study named 'nope'" in out
