"""The UI's JSON API over real HTTP on loopback, against a seeded SQLite workspace."""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from aidot import Workspace
from aidot.ui import UIServer, serve_ui
from aidot.ui._app import ENDPOINTS
from tests.helpers import stamp_newer_schema
from tests.serving._http import request

from .seed import Seeded, seed_workspace


def get(ui: UIServer, path: str) -> object:
    reply = request(ui.url + path)
    assert reply.status == 200, reply.body[:500]
    return reply.json()


def test_about_names_the_workspace_and_allows_writes_from_loopback(ui: UIServer) -> None:
    about = get(ui, "/api/about")
    assert isinstance(about, dict)
    assert about["writable"] is True
    assert about["problem"] is None
    assert about["workspace"]["db"].startswith("sqlite:///")


def test_runs_are_paged_sorted_and_counted_in_sql(
    ui: UIServer, seeded: tuple[Workspace, Seeded]
) -> None:
    experiment = seeded[1].experiment
    page = request(f"{ui.url}/api/runs?experiment={experiment}&limit=2&order_by=metrics.loss+ASC")
    body = page.json()
    assert body["total"] == 3
    assert [r["params"]["lr"] for r in body["runs"]] == ["0.3", "0.1"]
    rest = request(
        f"{ui.url}/api/runs?experiment={experiment}&limit=2&offset=2&order_by=metrics.loss+ASC"
    ).json()
    assert [r["params"]["lr"] for r in rest["runs"]] == ["0.03"]
    assert rest["total"] == 3
    filtered = request(
        f"{ui.url}/api/runs?experiment={experiment}&filter="
        + quote("params.optimizer = 'adam' and metrics.loss > 0.05")
    ).json()
    assert filtered["total"] == 1
    assert filtered["runs"][0]["id"] == seeded[1].best_run_id


def test_a_bad_filter_or_parameter_is_a_400_that_names_it(ui: UIServer) -> None:
    reply = request(f"{ui.url}/api/runs?filter=" + quote("metrics.loss << 1"))
    assert reply.status == 400
    assert reply.json()["kind"] == "bad_filter"
    assert "metrics.loss << 1" in reply.error
    reply = request(f"{ui.url}/api/runs?limit=many")
    assert reply.status == 400
    assert "limit must be integer" in reply.error
    reply = request(f"{ui.url}/api/runs?offset=-1")
    assert reply.status == 400
    assert "offset" in reply.error


def test_the_column_picker_offers_every_key(ui: UIServer, seeded: tuple[Workspace, Seeded]) -> None:
    columns = get(ui, f"/api/experiments/{seeded[1].experiment}/columns")
    assert columns == {
        "params": ["depth", "lr", "optimizer"],
        "metrics": ["accuracy", "loss", "system/cpu_utilization_percentage"],
        "tags": [],
    }


def test_a_run_lists_its_inputs_checkpoints_and_model_versions(
    ui: UIServer, seeded: tuple[Workspace, Seeded]
) -> None:
    run = get(ui, f"/api/runs/{seeded[1].best_run_id}")
    assert isinstance(run, dict)
    assert run["experiment"]["name"] == "churn"
    assert [d["ref"] for d in run["inputs"]] == ["churn-data@v2"]
    assert [c["step"] for c in run["checkpoints"]] == [200, 299]
    assert run["model_versions"] == [
        {"name": "churn-model", "version": 1, "stage": "Production", "aliases": ["champion"]}
    ]
    assert run["params"]["lr"] == "0.03"
    assert "command" in run["context"]


def test_unknown_ids_are_404_json(ui: UIServer) -> None:
    for path in (
        "/api/runs/01nosuchrun",
        "/api/runs/01nosuchrun/metric?key=loss",
        "/api/studies/nope",
        "/api/models/nope",
        "/api/models/churn-model/versions/99/lineage",
        "/api/datasets/nope",
        "/api/datasets/churn-data/versions/9/files",
        "/api/no/such/route",
    ):
        reply = request(ui.url + path)
        assert reply.status == 404, path
        assert reply.headers["content-type"] == "application/json"
        assert reply.json()["kind"] == "not_found"
        assert reply.error


def test_a_metric_series_comes_downsampled_with_its_extremes(
    ui: UIServer, seeded: tuple[Workspace, Seeded]
) -> None:
    run_id = seeded[1].best_run_id
    whole = get(ui, f"/api/runs/{run_id}/metric?key=loss&max_points=1000")
    assert isinstance(whole, dict)
    assert whole["downsampled"] is False
    assert whole["steps"] == list(range(300))
    small = get(ui, f"/api/runs/{run_id}/metric?key=loss&max_points=30")
    assert isinstance(small, dict)
    assert small["downsampled"] is True
    assert small["total_points"] == 300
    assert 2 <= len(small["values"]) <= 30
    assert min(small["mins"]) == pytest.approx(min(whole["values"]))
    assert max(small["maxs"]) == pytest.approx(max(whole["values"]))


def test_non_finite_values_are_null_in_json(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    with ws.tracker.start_run("e", name="nan") as run:
        run.log_metric("loss", 1.0, step=0)
        run.log_metric("loss", math.nan, step=1)
        run.log_metric("loss", math.inf, step=2)
    ws.tracker.flush()
    with serve_ui(ws, port=0) as ui:
        history = request(f"{ui.url}/api/runs/{run.id}/metric?key=loss").json()
        rows = request(f"{ui.url}/api/runs?experiment=e").json()
    assert history["values"] == [1.0, None, None]
    assert rows["runs"][0]["metrics"]["loss"] is None
    ws.close()


def test_artifacts_are_listed_previewed_and_downloaded_safely(
    ui: UIServer, seeded: tuple[Workspace, Seeded]
) -> None:
    run_id = seeded[1].run_ids[0]
    listed = get(ui, f"/api/runs/{run_id}/artifacts")
    assert [a["path"] for a in listed] == ["config.json", "notes/summary.txt", "plots/curve.png"]  # type: ignore[union-attr]
    text = request(f"{ui.url}/api/runs/{run_id}/artifact?path=notes/summary.txt")
    assert text.status == 200
    assert text.body == b"lr=0.3\nnotes for run 0\n"
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.headers["content-security-policy"] == "sandbox"
    assert text.headers["content-disposition"].startswith("inline")
    image = request(f"{ui.url}/api/runs/{run_id}/artifact?path=plots/curve.png&download=true")
    assert image.body[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.headers["content-disposition"] == "attachment; filename*=UTF-8''curve.png"
    missing = request(f"{ui.url}/api/runs/{run_id}/artifact?path=notes")
    assert missing.status == 404
    assert "notes" in missing.error
    no_path = request(f"{ui.url}/api/runs/{run_id}/artifact")
    assert no_path.status == 400
    assert "'path'" in no_path.error


def test_studies_show_trials_best_and_importance(
    ui: UIServer, seeded: tuple[Workspace, Seeded]
) -> None:
    (listed,) = get(ui, "/api/studies")  # type: ignore[misc]
    assert listed["name"] == "churn-tuning"
    assert listed["trials"] == 12
    assert listed["states"] == {"COMPLETE": 12}
    study = get(ui, "/api/studies/churn-tuning")
    assert isinstance(study, dict)
    assert study["param_names"] == ["depth", "kind", "x"]
    best = [t for t in study["trials"] if t["best"]]
    assert len(best) == 1
    assert best[0]["values"] == study["best_values"]
    assert best[0]["values"][0] == min(t["values"][0] for t in study["trials"])
    importance = get(ui, "/api/studies/churn-tuning/importance")
    assert isinstance(importance, dict)
    assert set(importance["importance"]) == {"depth", "kind", "x"}
    assert sum(importance["importance"].values()) == pytest.approx(1.0)


def test_the_registry_shows_versions_history_and_lineage(ui: UIServer) -> None:
    (model,) = get(ui, "/api/models")  # type: ignore[misc]
    assert model["stages"] == {"Production": 1, "Development": 1}
    detail = get(ui, "/api/models/churn-model")
    assert isinstance(detail, dict)
    assert [(v["version"], v["stage"], v["aliases"]) for v in detail["versions"]] == [
        (2, "Development", []),
        (1, "Production", ["champion"]),
    ]
    assert [e["event"] for e in detail["history"]] == [
        "created",
        "stage",
        "stage",
        "alias",
        "created",
    ]
    lineage = get(ui, "/api/models/churn-model/versions/1/lineage")
    assert isinstance(lineage, dict)
    kinds = {n["kind"]: n for n in lineage["nodes"]}
    assert set(kinds) == {"data", "run", "checkpoint", "version"}
    assert kinds["data"]["label"] == "churn-data@v2"
    edges = {(e["from"].split(":")[0], e["to"].split(":")[0]) for e in lineage["edges"]}
    assert edges == {("data", "run"), ("run", "checkpoint"), ("checkpoint", "version")}


def test_datasets_list_files_and_diff(ui: UIServer) -> None:
    (dataset,) = get(ui, "/api/datasets")  # type: ignore[misc]
    assert (dataset["name"], dataset["version"], dataset["files"]) == ("churn-data", 2, 30)
    versions = get(ui, "/api/datasets/churn-data")
    assert [v["version"] for v in versions] == [2, 1]  # type: ignore[union-attr]
    page = get(ui, "/api/datasets/churn-data/versions/2/files?offset=28&limit=5")
    assert isinstance(page, dict)
    assert page["total"] == 30
    assert [f["path"] for f in page["files"]] == ["part-28.csv", "part-30.csv"]
    diff = get(ui, "/api/datasets/churn-data/diff?from=1&to=2")
    assert diff == {
        "from": "churn-data@v1",
        "to": "churn-data@v2",
        "added": ["part-30.csv"],
        "modified": ["part-00.csv"],
        "deleted": ["part-29.csv"],
    }
    missing = request(f"{ui.url}/api/datasets/churn-data/diff?from=1&to=7")
    assert missing.status == 404


def test_the_openapi_document_describes_every_route(ui: UIServer) -> None:
    document = get(ui, "/api/openapi.json")
    assert isinstance(document, dict)
    assert document["openapi"].startswith("3.1")
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        assert operation["summary"]
        documented = {p["name"] for p in operation["parameters"]}
        assert documented == {p.name for p in endpoint.params}
        assert ("403" in operation["responses"]) == endpoint.writes


def test_the_page_is_served_for_app_paths_with_a_strict_policy(ui: UIServer) -> None:
    for path in ("/", "/runs/anything", "/models/x/versions/3", "/no/such/page"):
        reply = request(ui.url + path)
        assert reply.status == 200
        assert reply.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'self'" in reply.headers["content-security-policy"]
        assert b'<main id="page">' in reply.body
    vendored = request(ui.url + "/static/vendor/uPlot.iife.js")
    assert vendored.status == 200
    assert b"uPlot" in vendored.body[:400]


# --- writes -------------------------------------------------------------------------------


@pytest.fixture
def fresh(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    from aidot.registry.formats import NumpyModel

    model = NumpyModel({"w": np.ones(2)}, "numpy:dot")
    ws.registry.create_model_version("m", model=model)
    ws.registry.create_model_version("m", model=model)
    return ws


def test_stages_and_aliases_change_through_the_api(fresh: Workspace) -> None:
    with serve_ui(fresh, port=0) as ui:
        moved = request(f"{ui.url}/api/models/m/versions/1/stage", "POST", {"stage": "Staging"})
        assert moved.status == 200, moved.body
        assert moved.json()["stage"] == "Staging"
        refused = request(f"{ui.url}/api/models/m/versions/1/stage", "POST", {"stage": "Gone"})
        assert refused.status == 400
        assert "Gone" in refused.error
        missing = request(f"{ui.url}/api/models/m/versions/1/stage", "POST", {})
        assert missing.status == 400
        assert "stage" in missing.error
        aliased = request(f"{ui.url}/api/models/m/aliases", "POST", {"alias": "best", "version": 2})
        assert aliased.json()["aliases"] == ["best"]
        for version in ("2", 2**40, True):
            bad = request(
                f"{ui.url}/api/models/m/aliases", "POST", {"alias": "best", "version": version}
            )
            assert bad.status == 400, version
        huge = request(
            f"{ui.url}/api/models/m/versions/{2**40}/stage", "POST", {"stage": "Staging"}
        )
        assert huge.status == 400
        assert "at most 2147483647" in huge.error
        removed = request(f"{ui.url}/api/models/m/aliases/best", "DELETE")
        assert removed.status == 200
    assert fresh.registry.get_version("m", 1).stage == "Staging"
    assert fresh.registry.get_version("m", 2).aliases == []
    fresh.close()


def test_a_run_tag_is_set_and_bad_bodies_change_nothing(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    with ws.tracker.start_run("e", name="r") as run:
        run.log_param("a", 1)
    with serve_ui(ws, port=0) as ui:
        ok = request(f"{ui.url}/api/runs/{run.id}/tags", "POST", {"key": "note", "value": "good"})
        assert ok.status == 200
        assert ok.json()["tags"] == {"note": "good"}
        not_json = request(
            f"{ui.url}/api/runs/{run.id}/tags",
            "POST",
            "key=x&value=y",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert not_json.status == 415
        broken = request(f"{ui.url}/api/runs/{run.id}/tags", "POST", b"{not json")
        assert broken.status == 400
        assert "not valid JSON" in broken.error
        foreign = request(
            f"{ui.url}/api/runs/{run.id}/tags",
            "POST",
            {"key": "x", "value": "y"},
            headers={"Origin": "http://evil.example"},
        )
        assert foreign.status == 403
        unknown = request(f"{ui.url}/api/runs/01nosuchrun/tags", "POST", {"key": "x", "value": "y"})
        assert unknown.status == 404
    assert ws.tracker.get_run(run.id).tags == {"note": "good"}
    ws.close()


def _starlette_request(client: str, headers: dict[str, str]) -> object:
    from starlette.requests import Request

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/x",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": (client, 50000),
    }
    return Request(scope)


def test_writes_from_other_machines_need_the_token() -> None:
    from aidot.ui._access import check_write
    from aidot.ui._endpoint import ApiError

    json_body = {"Content-Type": "application/json", "Host": "ui:5000"}
    check_write(_starlette_request("127.0.0.1", json_body), None)  # type: ignore[arg-type]
    check_write(_starlette_request("::1", json_body), None)  # type: ignore[arg-type]
    with pytest.raises(ApiError, match="read-only from other machines") as refused:
        check_write(_starlette_request("10.1.2.3", json_body), None)  # type: ignore[arg-type]
    assert refused.value.status == 403
    with_token = {**json_body, "Authorization": "Bearer s3cret"}
    check_write(_starlette_request("10.1.2.3", with_token), "s3cret")  # type: ignore[arg-type]
    with pytest.raises(ApiError, match="does not match"):
        check_write(
            _starlette_request("10.1.2.3", {**json_body, "Authorization": "Bearer guess"}),  # type: ignore[arg-type]
            "s3cret",
        )


def test_a_workspace_from_a_newer_aidot_is_reported_not_crashed(tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws") as old:
        old.store  # noqa: B018 - creates the database
    stamp_newer_schema(old.db_uri)
    newer = Workspace(tmp_path / "ws")
    with serve_ui(newer, port=0) as ui:
        about = request(f"{ui.url}/api/about").json()
        runs = request(f"{ui.url}/api/runs")
    assert about["problem"]["kind"] == "newer_workspace"
    assert "upgrade aidot" in about["problem"]["error"]
    assert runs.status == 409
    assert runs.json()["kind"] == "newer_workspace"


def test_a_run_is_deleted_and_restored_through_the_api(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    with ws.tracker.start_run("e", name="keep"):
        pass
    with ws.tracker.start_run("e", name="drop") as dropped:
        pass
    with serve_ui(ws, port=0) as ui:
        assert request(f"{ui.url}/api/runs/{dropped.id}", "DELETE").status == 200
        listed = request(f"{ui.url}/api/runs?experiment=e").json()
        assert [r["name"] for r in listed["runs"]] == ["keep"]
        assert listed["total"] == 1
        shown = request(f"{ui.url}/api/runs/{dropped.id}").json()
        assert shown["lifecycle"] == "deleted"
        restored = request(f"{ui.url}/api/runs/{dropped.id}/restore", "POST", {})
        assert restored.status == 200
        assert request(f"{ui.url}/api/runs?experiment=e").json()["total"] == 2
        assert request(f"{ui.url}/api/runs/01nosuchrun", "DELETE").status == 404
    ws.close()


def test_the_api_reads_a_postgresql_workspace(postgres_uri: str, tmp_path: Path) -> None:
    ws = Workspace(db=postgres_uri, blobs=tmp_path / "blobs")
    facts = seed_workspace(ws, tmp_path / "data")
    with serve_ui(ws, port=0) as ui:
        page = request(f"{ui.url}/api/runs?experiment=churn&order_by=metrics.loss+DESC&limit=1")
        assert page.json()["total"] == 3
        assert page.json()["runs"][0]["id"] == facts.best_run_id
        assert request(f"{ui.url}/api/studies/churn-tuning").json()["trials"][0]["number"] == 0
        lineage = request(f"{ui.url}/api/models/churn-model/versions/1/lineage").json()
        assert {n["kind"] for n in lineage["nodes"]} == {"data", "run", "checkpoint", "version"}
        assert request(f"{ui.url}/api/datasets/churn-data/diff?from=1&to=2").json()["added"] == [
            "part-30.csv"
        ]
        bad = request(f"{ui.url}/api/runs?filter=" + quote("metrics.loss <"))
        assert bad.status == 400
    ws.close()
