"""The model registry on SQLite and the real PostgreSQL server: versions, stages and their
history, aliases, URIs, lineage records and the rules that keep it consistent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from aidot import CheckpointManager, Workspace
from aidot.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from aidot.registry import ModelRegistry
from tests.helpers import numbers_from_processes


@pytest.fixture
def ws(tmp_path: Path, db_uri: str) -> Iterator[Workspace]:
    workspace = Workspace(tmp_path / "ws", db=db_uri)
    yield workspace
    workspace.close()


@pytest.fixture
def registry(ws: Workspace) -> ModelRegistry:
    return ws.registry


def model_folder(root: Path, content: bytes = b"weights") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.bin").write_bytes(content)
    (root / "config.json").write_text('{"layers": 2}')
    return root


def test_versions_are_numbered_and_carry_their_lineage(
    ws: Workspace, registry: ModelRegistry, tmp_path: Path
) -> None:
    registry.register_model("churn", "predicts churn", tags={"team": "growth"})
    with pytest.raises(AlreadyExistsError, match="churn"):
        registry.register_model("churn")
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("a,b\n1,2\n")
    dataset = ws.data.add(data, "rows")
    with ws.tracker.start_run("train") as run:
        run.log_input(dataset)
        v1 = registry.create_model_version(
            "churn",
            path=model_folder(tmp_path / "m1"),
            run=run,
            metrics={"auc": 0.91},
            signature={"inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4]}]},
            tags={"framework": "numpy"},
        )
    assert (v1.version, v1.stage, v1.uri) == (1, "Development", "models:/churn/1")
    assert v1.run_id == run.id
    assert v1.lineage["datasets"] == ["rows@v1"]
    assert v1.source["kind"] == "files"
    assert v1.source["files"] == 2
    assert v1.metrics == {"auc": 0.91}
    ws.blobs.verify_digests([v1.source["manifest"]])
    assert registry.get_model("churn").latest_version == 1
    assert registry.get_model("churn").tags == {"team": "growth"}

    folder = CheckpointManager(tmp_path / "ckpts", monitor=None, async_save=False)
    future = folder.save({"w": np.ones(4)}, step=7)
    assert future is not None
    with pytest.raises(InvalidArgumentError, match="not in this workspace's blob store"):
        registry.create_model_version("churn", checkpoint=future.result())
    manager = CheckpointManager(run, monitor=None, async_save=False)
    future = manager.save({"w": np.ones(4)}, step=7)
    assert future is not None
    v2 = registry.create_model_version("churn", checkpoint=future.result())
    assert v2.version == 2
    assert v2.source["kind"] == "checkpoint"
    assert v2.lineage["checkpoint"] == future.result().id
    assert [v.version for v in registry.list_versions("churn")] == [2, 1]
    assert [(m.name, m.latest_version) for m in registry.list_models()] == [("churn", 2)]
    registry.update_model("churn", description="better", tags={"owner": "ana"})
    assert registry.get_model("churn").tags == {"team": "growth", "owner": "ana"}


def test_stages_follow_the_rules_and_leave_a_history(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    for i in range(3):
        registry.create_model_version("m", path=model_folder(tmp_path / f"v{i}", bytes([i])))
    before_production = int(time.time() * 1000)
    time.sleep(0.01)
    registry.transition_stage("m", 1, "Staging", comment="offline eval passed")
    registry.transition_stage("m", 1, "production")
    assert registry.resolve("models:/m@Production").version == 1
    time.sleep(0.01)
    between = int(time.time() * 1000)
    time.sleep(0.01)
    registry.transition_stage("m", 2, "Production", archive_existing=True)
    assert registry.get_version("m", 1).stage == "Archived"
    assert registry.resolve("models:/m@Production").version == 2
    assert registry.create_model_version("m", path=tmp_path / "v0").lineage["replaces"] == 2

    with pytest.raises(InvalidArgumentError, match="from Archived it may go to Development"):
        registry.transition_stage("m", 1, "Production")
    with pytest.raises(InvalidArgumentError, match="unknown stage 'Live'"):
        registry.transition_stage("m", 3, "Live")
    registry.transition_stage("m", 1, "Development")  # re-qualify first

    assert registry.version_at("m", "Production", before_production) is None
    assert registry.version_at("m", "Production", between) == 1
    assert registry.version_at("m", "Production", int(time.time() * 1000)) == 2
    events = [(e.event, e.version, e.target, e.previous) for e in registry.history("m")]
    assert ("stage", 1, "Staging", "Development") in events
    assert ("stage", 1, "Archived", "Production") in events
    staging = next(e for e in registry.history("m") if e.target == "Staging")
    assert staging.comment == "offline eval passed"
    assert staging.actor


def test_aliases_and_uris(registry: ModelRegistry, tmp_path: Path) -> None:
    for i in range(2):
        registry.create_model_version("m", path=model_folder(tmp_path / f"v{i}", bytes([i])))
    registry.set_alias("m", "champion", 1)
    assert registry.resolve("models:/m@champion").version == 1
    assert registry.get_version("m", 1).aliases == ["champion"]
    t1 = int(time.time() * 1000)
    time.sleep(0.01)
    registry.set_alias("m", "champion", 2)
    assert registry.resolve("models:/m@champion").version == 2
    assert registry.version_at("m", "champion", t1) == 1
    assert registry.resolve("models:/m/1").version == 1
    registry.delete_alias("m", "champion")
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        registry.resolve("models:/m@champion")
    with pytest.raises(InvalidArgumentError, match="stage name"):
        registry.set_alias("m", "staging", 1)
    with pytest.raises(InvalidArgumentError, match="not a model URI"):
        registry.resolve("runs:/abc/model")
    with pytest.raises(InvalidArgumentError, match="names no version"):
        registry.resolve("models:/m")
    with pytest.raises(NotFoundError, match="no version in Production"):
        registry.resolve("models:/m@Production")
    with pytest.raises(NotFoundError, match="has no version 9"):
        registry.resolve("models:/m/9")
    with pytest.raises(NotFoundError, match="no model named 'other'"):
        registry.resolve("models:/other/1")


def test_deleting_versions(ws: Workspace, registry: ModelRegistry, tmp_path: Path) -> None:
    v1 = registry.create_model_version("m", path=model_folder(tmp_path / "a", b"one"))
    registry.create_model_version("m", path=model_folder(tmp_path / "b", b"two"))
    registry.transition_stage("m", 1, "Production")
    registry.set_alias("m", "champion", 1)
    with pytest.raises(InvalidArgumentError, match="is in Production"):
        registry.delete_version("m", 1)
    registry.delete_version("m", 1, force=True)
    with pytest.raises(NotFoundError):
        registry.get_version("m", 1)
    assert registry.version_at("m", "champion", int(time.time() * 1000)) is None
    assert registry.history("m")[-1].event == "deleted"
    ws.gc(grace_seconds=0)
    assert v1.source["manifest"] not in set(ws.blobs)  # released with the version
    assert registry.create_model_version("m", path=tmp_path / "a").version == 3  # never reused


def test_bad_arguments(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="exactly one of"):
        registry.create_model_version("m")
    with pytest.raises(InvalidArgumentError, match="model name"):
        registry.create_model_version("../m", path=tmp_path)
    with pytest.raises(NotFoundError, match="does not exist"):
        registry.create_model_version("m", path=tmp_path / "missing")
    with pytest.raises(InvalidArgumentError, match="dataset versions"):
        registry.create_model_version("m", path=model_folder(tmp_path / "x"), datasets=["rows"])


def test_processes_creating_versions_at_once_get_distinct_numbers(
    ws: Workspace, tmp_path: Path
) -> None:
    folder = model_folder(tmp_path / "model")
    ws.registry.register_model("shared")
    script = """
        import sys
        from aidot import Workspace
        ws = Workspace(sys.argv[1], db=sys.argv[2])
        print(",".join(str(ws.registry.create_model_version("shared", path=sys.argv[3]).version)
                       for _ in range(5)))
        """
    argv = [str(ws.home), ws.db_uri, str(folder)]
    numbers = numbers_from_processes(script, [argv] * 4, timeout=120)
    assert sorted(numbers) == list(range(1, 21))


def test_the_models_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from aidot.cli import cli

    monkeypatch.setenv("AIDOT_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("COLUMNS", "200")  # rich tables would wrap at 80
    ws = Workspace()
    ws.registry.create_model_version("churn", path=model_folder(tmp_path / "m"), description="x")
    ws.registry.create_model_version("churn", path=model_folder(tmp_path / "n", b"other"))
    ws.close()

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["models", *args], catch_exceptions=False)
        return result.exit_code, result.output

    assert "churn" in run("ls")[1]
    code, out = run("promote", "churn", "1", "Production", "-m", "ship it")
    assert (code, "is now in Production" in out) == (0, True)
    code, out = run("promote", "churn", "2", "production", "--archive-existing")
    assert code == 0
    assert "champion" in run("alias", "churn", "champion", "2")[1]
    code, out = run("versions", "churn")
    assert "Archived" in out
    assert "champion" in out
    code, out = run("history", "churn")
    assert "ship it" in out
    assert "Production -> Archived" in out
    assert "churn" in run("show", "churn")[1]
    code, out = run("promote", "churn", "1", "Production")
    assert code == 1
    assert "from Archived it may go to Development" in out
    assert "churn" in run("ls", "--filter", "name LIKE 'ch%'")[1]
    assert "no models match" in run("ls", "--filter", "name = 'other'")[1]
    code, out = run("search", "name = 'churn' and version >= 2", "--order-by", "version DESC")
    assert code == 0
    assert "v2" in out
    assert "v1 " not in out
    code, out = run("search", "colour = 'red'")
    assert code == 1
    assert "unknown key 'colour'" in out


def test_lineage_compare_and_download(ws: Workspace, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from aidot.cli import cli

    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("a\n1\n")
    dataset = ws.data.add(data, "rows")
    versions = []
    for lr in ("0.1", "0.01"):
        with ws.tracker.start_run("train") as run:
            run.log_input(dataset)
            run.log_params({"lr": lr, "depth": "3"})
            run.log_metric("loss", float(lr))
            manager = CheckpointManager(run, monitor=None, async_save=False)
            future = manager.save({"w": np.full(3, float(lr))}, step=5)
            assert future is not None
            versions.append(
                ws.registry.create_model_version(
                    "m", checkpoint=future.result(), run=run, metrics={"auc": 0.8 + float(lr)}
                )
            )
        ws.registry.transition_stage("m", versions[-1].version, "Production", archive_existing=True)
    run.flush()

    lineage = ws.registry.lineage("models:/m@Production")
    assert lineage.version.version == 2
    assert lineage.run.params == {"lr": "0.01", "depth": "3"}
    assert lineage.datasets[0]["ref"] == "rows@v1"
    assert lineage.datasets[0]["files"] == 1
    assert lineage.checkpoint is not None
    assert lineage.checkpoint["step"] == 5
    assert lineage.replaces == 1

    compared = ws.registry.compare("m", 1, 2)
    assert compared["params"]["lr"] == ("0.1", "0.01")
    assert compared["params"]["depth"] == ("3", "3")
    assert compared["metrics"]["auc"] == pytest.approx((0.9, 0.81))

    with pytest.raises(InvalidArgumentError, match="is a checkpoint"):
        ws.registry.download("models:/m/1", tmp_path / "out")
    ws.registry.create_model_version("files", path=model_folder(tmp_path / "model"))
    assert ws.registry.download("models:/files/1", tmp_path / "out") == 2
    assert (tmp_path / "out" / "config.json").read_text() == '{"layers": 2}'

    result = CliRunner().invoke(
        cli,
        ["models", "lineage", "models:/m@Production"],
        catch_exceptions=False,
        env={"COLUMNS": "200", "AIDOT_HOME": str(ws.home), "AIDOT_DB_URI": ws.db_uri},
    )
    assert result.exit_code == 0, result.output
    assert "param lr = 0.01" in result.output
    assert "data rows@v1" in result.output
    assert "replaces models:/m/1" in result.output


def test_search_models_and_versions(registry: ModelRegistry, tmp_path: Path) -> None:
    from aidot.errors import InvalidFilterError

    registry.register_model("churn", "predicts churn", tags={"team": "growth"})
    registry.register_model("churn-eu", tags={"team": "growth", "region": "eu"})
    registry.register_model("fraud", tags={"team": "risk"})
    for name, aucs in (("churn", [0.81, 0.93, 0.88]), ("churn-eu", [0.7]), ("fraud", [0.99])):
        for i, auc in enumerate(aucs):
            registry.create_model_version(
                name,
                path=model_folder(tmp_path / f"{name}{i}", f"{name}{i}".encode()),
                metrics={"auc": auc},
                tags={"data": "full" if i else "sample"},
            )
    registry.transition_stage("churn", 2, "Production")
    registry.set_alias("churn", "champion", 2)
    updated = registry.update_version("churn", 3, description="retrained", tags={"data": "full"})
    assert (updated.description, updated.tags) == ("retrained", {"data": "full"})
    with pytest.raises(NotFoundError):
        registry.update_version("churn", 9, description="x")

    def names(models: list[object]) -> list[str]:
        return [m.name for m in models]  # type: ignore[attr-defined]

    assert names(registry.search_models("name LIKE 'churn%'")) == ["churn", "churn-eu"]
    assert names(registry.search_models("tags.team = 'growth' and tags.region != 'eu'")) == [
        "churn"
    ]
    assert names(registry.search_models("description ILIKE '%CHURN%'")) == ["churn"]
    assert len(registry.search_models(None)) == 3

    def versions(found: list[object]) -> list[str]:
        return [f"{v.name}/{v.version}" for v in found]  # type: ignore[attr-defined]

    assert versions(registry.search_versions("name = 'churn' and metrics.auc > 0.85")) == [
        "churn/3",
        "churn/2",
    ]
    assert versions(registry.search_versions("stage = 'Production'")) == ["churn/2"]
    assert versions(registry.search_versions("alias = 'champion'")) == ["churn/2"]
    assert versions(
        registry.search_versions("tags.data = 'full'", order_by=["metrics.auc DESC"])
    ) == ["churn/2", "churn/3"]
    assert versions(registry.search_versions(order_by=["metrics.auc ASC"], max_results=2)) == [
        "churn-eu/1",
        "churn/1",
    ]
    assert versions(registry.search_versions("version >= 3")) == ["churn/3"]
    for bad, problem in [
        ("metrics.auc > 'x'", "compares with a number"),
        ("name > 'a'", "is text"),
        ("colour = 'red'", "unknown key"),
        ("name = 'a' or name = 'b'", "expected 'and' between comparisons"),
        ("name = 'a' and", "ends with 'and'"),
    ]:
        with pytest.raises(InvalidFilterError, match=problem):
            registry.search_versions(bad)
    with pytest.raises(InvalidFilterError, match="models have no metrics"):
        registry.search_models("metrics.auc > 0.5")


def test_a_deleted_version_number_is_never_given_again(ws: Workspace, tmp_path: Path) -> None:
    # Found by the registry's model-based test: deleting the latest version let the next
    # create take its number, so models:/m/2 named two different models over time.
    folder = model_folder(tmp_path / "model")
    for _ in range(2):
        ws.registry.create_model_version("m", path=folder)
    ws.registry.delete_version("m", 2)
    assert ws.registry.create_model_version("m", path=folder).version == 3
    assert [v.version for v in ws.registry.list_versions("m")] == [3, 1]
