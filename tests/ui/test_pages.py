"""Every page of the UI in a real headless Chromium, on a seeded workspace: what is shown
(numbers, rows, charts), what clicking does, and the not-found and error states. Screenshots
land in ``test-artifacts/ui/``."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aidot import Workspace
from aidot.serving import ModelRepository, serve
from aidot.ui import UIServer, serve_ui
from tests.helpers import stamp_newer_schema

from .seed import Seeded

TIMEOUT_MS = 15_000
DASH = "\N{EN DASH}"  # the pager writes its ranges with an en dash


def test_the_runs_table_sorts_filters_and_picks_columns(page: Any, ui: UIServer) -> None:
    page.goto(f"{ui.url}/?experiment=churn")
    rows = page.locator("table.runs tbody tr")
    rows.first.wait_for(timeout=TIMEOUT_MS)
    assert rows.count() == 3
    assert page.locator(".pager .count").inner_text() == f"1{DASH}3 of 3 runs"
    assert page.locator("table.runs .badge").first.inner_text() == "FINISHED"

    page.locator("th", has_text="loss").click()  # descending first
    # Not wait_for_function: under the UI's CSP (no 'unsafe-eval') Playwright cannot
    # re-evaluate a string predicate, so any wait that needs a second poll fails.
    page.wait_for_url(re.compile(r"metrics\.loss\+DESC"), timeout=TIMEOUT_MS)
    page.wait_for_selector("table.runs tbody tr:first-child >> text=lr-0.03")
    page.locator("th", has_text="loss").click()
    page.wait_for_selector("table.runs tbody tr:first-child >> text=lr-0.3")

    page.fill("input.filter", "metrics.loss <")
    page.press("input.filter", "Enter")
    error = page.locator(".filter-error .error")
    error.wait_for(timeout=TIMEOUT_MS)
    assert "bad filter 'metrics.loss <'" in error.inner_text()
    page.fill("input.filter", "params.optimizer = 'adam'")
    page.press("input.filter", "Enter")
    page.wait_for_selector(f".pager .count >> text=1{DASH}2 of 2 runs")
    assert page.locator(".filter-error .error").count() == 0

    page.locator(".picker summary").click()
    page.locator(".picker label", has_text="system/cpu_utilization_percentage").locator(
        "input"
    ).check()
    page.wait_for_selector("table.runs th >> text=system/cpu_utilization_percentage")


def test_two_runs_are_compared_on_one_chart_per_metric(page: Any, ui: UIServer) -> None:
    page.goto(f"{ui.url}/?experiment=churn")
    page.locator("table.runs tbody tr").first.wait_for(timeout=TIMEOUT_MS)
    checkboxes = page.locator("table.runs tbody input[type=checkbox]")
    checkboxes.nth(0).check()
    checkboxes.nth(1).check()
    page.locator("button", has_text="Compare (2)").click()
    page.wait_for_selector("figure.metric[data-metric=loss] canvas", timeout=TIMEOUT_MS)
    assert page.locator("h1").inner_text() == "Comparing 2 runs"
    assert page.locator("figure.metric").count() == 2  # accuracy and loss
    highlighted = page.locator("table.compare-params tr.diff th").all_inner_texts()
    assert highlighted == ["depth", "lr"]  # the optimizer is adam for both


def test_a_run_page_shows_charts_artifacts_and_links(
    page: Any, ui: UIServer, seeded: tuple[Workspace, Seeded]
) -> None:
    run_id = seeded[1].run_ids[0]
    page.goto(f"{ui.url}/runs/{run_id}")
    page.wait_for_selector("figure.metric[data-metric=loss] canvas", timeout=TIMEOUT_MS)
    assert page.locator("h1").inner_text().startswith("lr-0.3")
    assert "(300 points)" in page.locator("figure[data-metric=loss] figcaption").inner_text()
    system = page.locator("figure[data-metric='system/cpu_utilization_percentage'] canvas")
    assert system.count() == 1
    page.check("input[aria-label='log scale']")
    page.select_option("select[aria-label='x axis']", "time")
    page.wait_for_selector("figure.metric[data-metric=loss] canvas")

    page.locator("a", has_text="notes/summary.txt").click()
    page.wait_for_selector("pre.artifact-text")
    assert page.locator("pre.artifact-text").inner_text().startswith("lr=0.3")
    page.locator("a", has_text="plots/curve.png").first.click()
    image = page.locator(".preview img")
    image.wait_for()
    from playwright.sync_api import expect

    expect(image).to_have_js_property("complete", True, timeout=TIMEOUT_MS)
    assert image.evaluate("img => img.naturalWidth") > 0, "the preview image did not decode"

    page.locator("a", has_text="churn-data@v2").click()
    page.wait_for_selector("h1 >> text=churn-data")


def test_a_tag_is_set_from_the_run_page(page: Any, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    with ws.tracker.start_run("e", name="tagged") as run:
        run.log_metric("loss", 1.0)
    with serve_ui(ws, port=0) as ui:
        page.goto(f"{ui.url}/runs/{run.id}")
        page.fill("input[aria-label='tag name']", "reviewed")
        page.fill("input[aria-label='tag value']", "yes")
        page.click("button >> text=Set tag")
        page.wait_for_selector("table.kv th >> text=reviewed")
    assert ws.tracker.get_run(run.id).tags == {"reviewed": "yes"}
    ws.close()


def test_a_running_run_updates_live(page: Any, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    run = ws.tracker.start_run("live", name="training")
    run.log_metric("loss", 1.0, step=0)
    ws.tracker.flush()
    with serve_ui(ws, port=0) as ui:
        page.goto(f"{ui.url}/?experiment=live")
        page.wait_for_selector("table.runs .badge >> text=RUNNING", timeout=TIMEOUT_MS)
        run.end()
        # The table polls while a run is running; the new status arrives without a reload.
        page.wait_for_selector("table.runs .badge >> text=FINISHED", timeout=TIMEOUT_MS)
    ws.close()


def test_a_study_page_draws_history_coordinates_and_importance(page: Any, ui: UIServer) -> None:
    page.goto(f"{ui.url}/studies")
    page.locator("a", has_text="churn-tuning").click()
    page.wait_for_selector("figure.history canvas", timeout=TIMEOUT_MS)
    assert page.locator("svg.parcoords polyline").count() == 12
    assert page.locator("table.grid tbody tr").count() == 12
    assert page.locator("tr.best").count() == 1
    page.wait_for_selector(".bars .bar-row", timeout=TIMEOUT_MS)
    labels = page.locator(".bars .bar-label").all_inner_texts()
    assert sorted(labels) == ["depth", "kind", "x"]


def test_a_model_version_is_promoted_after_confirmation(page: Any, tmp_path: Path) -> None:
    from aidot.registry.formats import NumpyModel

    ws = Workspace(tmp_path / "ws")
    ws.registry.create_model_version("m", model=NumpyModel({"w": np.ones(2)}, "numpy:dot"))
    with serve_ui(ws, port=0) as ui:
        page.goto(f"{ui.url}/models")
        page.locator("table.grid a", has_text="m").click()
        row = page.locator("tr[data-version='1']")
        row.wait_for(timeout=TIMEOUT_MS)
        assert row.locator(".badge").inner_text() == "Development"
        questions: list[str] = []

        def answer(dialog: Any) -> None:
            questions.append(dialog.message)
            if len(questions) == 1:
                dialog.dismiss()  # the first time, say no: nothing may change
            else:
                dialog.accept()

        page.on("dialog", answer)
        row.locator("select").select_option("Staging")
        row.locator("button", has_text="Move").click()
        page.wait_for_timeout(300)
        assert ws.registry.get_version("m", 1).stage == "Development"
        row.locator("button", has_text="Move").click()
        page.wait_for_selector("tr[data-version='1'] .badge >> text=Staging", timeout=TIMEOUT_MS)
        assert questions == ["Move m v1 from Development to Staging?"] * 2
        assert page.locator("table.grid >> text=Development → Staging").count() == 1
    assert ws.registry.get_version("m", 1).stage == "Staging"
    ws.close()


def test_a_version_lineage_is_drawn_as_a_graph(page: Any, ui: UIServer) -> None:
    page.goto(f"{ui.url}/models/churn-model/versions/1")
    page.wait_for_selector("svg.lineage", timeout=TIMEOUT_MS)
    kinds = page.locator("svg.lineage g.node").evaluate_all(
        "nodes => nodes.map(n => n.classList[1])"
    )
    assert kinds == ["node-version", "node-checkpoint", "node-run", "node-data"]
    assert page.locator("svg.lineage path.edge").count() == 3
    assert page.locator("tr[data-version='1'] .alias").inner_text().startswith("@champion")


def test_a_dataset_page_lists_files_and_the_diff(page: Any, ui: UIServer) -> None:
    page.goto(f"{ui.url}/datasets")
    page.locator("a", has_text="churn-data").click()
    page.wait_for_selector(".changes-added li", timeout=TIMEOUT_MS)
    assert page.locator(".pager .count").inner_text() == f"1{DASH}30 of 30 files"
    assert page.locator(".changes-added li").all_inner_texts() == ["part-30.csv"]
    assert page.locator(".changes-modified li").all_inner_texts() == ["part-00.csv"]
    assert page.locator(".changes-deleted li").all_inner_texts() == ["part-29.csv"]


class Doubler:
    def predict(self, batch: Any) -> Any:
        return batch * 2


def test_the_serving_page_shows_live_metrics_of_a_running_server(
    page: Any, ui: UIServer, shots: Path
) -> None:
    repository = ModelRepository()
    repository.load(
        "double",
        Doubler(),
        signature={"inputs": [{"name": "x", "dtype": "<f4", "shape": [-1, 2]}]},
    )
    with serve(repository) as server:
        for _ in range(20):
            body = json.dumps({"features": [[1.0, 2.0]]}).encode()
            call = urllib.request.Request(
                f"{server.url}/api/inference/predict/double",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(call, timeout=10).read()
        page.goto(f"{ui.url}/serving?url={server.url}")
        page.wait_for_selector(
            "[data-model=double] [data-stat=requests] .value >> text=20", timeout=TIMEOUT_MS
        )
        p50 = page.locator("[data-model=double] [data-stat=p50] .value").inner_text()
        assert p50.endswith(" ms")
        assert float(p50.split()[0]) > 0
        assert page.locator("[data-model=double] canvas").count() == 4
        page.screenshot(path=str(shots / "serving_live.png"), full_page=True)
    repository.close()
    # With the server gone, the page says so instead of failing.
    page.wait_for_selector(".error >> text=could not read", timeout=TIMEOUT_MS)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/runs/01nosuchrun", "no run with id '01nosuchrun'"),
        ("/models/nope", "nope"),
        ("/studies/nope", "no study named 'nope'"),
        ("/datasets/nope", "no dataset named 'nope'"),
        ("/no/such/page", "There is no page at /no/such/page"),
    ],
)
def test_unknown_ids_show_a_not_found_page(page: Any, ui: UIServer, path: str, says: str) -> None:
    page.goto(ui.url + path)
    page.wait_for_selector("h1 >> text=Not found", timeout=TIMEOUT_MS)
    assert says in page.locator(".notfound .error").inner_text()


def test_a_newer_workspace_shows_an_explicit_message(page: Any, tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws") as old:
        old.store  # noqa: B018 - creates the database
    stamp_newer_schema(old.db_uri)
    with serve_ui(Workspace(tmp_path / "ws"), port=0) as ui:
        page.goto(ui.url)
        banner = page.locator("#banner")
        banner.wait_for(timeout=TIMEOUT_MS)
        assert "written by a newer aidot" in banner.inner_text()


def test_a_run_is_deleted_after_confirmation_and_restored(page: Any, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    with ws.tracker.start_run("e", name="keep"):
        pass
    with ws.tracker.start_run("e", name="drop") as dropped:
        pass
    page.on("dialog", lambda dialog: dialog.accept())
    with serve_ui(ws, port=0) as ui:
        page.goto(f"{ui.url}/runs/{dropped.id}")
        page.click("button.delete")
        page.wait_for_selector(f".pager .count >> text=1{DASH}1 of 1 runs", timeout=TIMEOUT_MS)
        assert page.locator("table.runs tbody tr").all_inner_texts()[0].find("keep") >= 0
        assert ws.tracker.get_run(dropped.id).lifecycle == "deleted"
        page.goto(f"{ui.url}/runs/{dropped.id}")
        page.wait_for_selector("h1 .badge-deleted", timeout=TIMEOUT_MS)
        page.click("button.restore")
        page.wait_for_selector("h1 button.delete", timeout=TIMEOUT_MS)
    assert ws.tracker.get_run(dropped.id).lifecycle == "active"
    ws.close()
