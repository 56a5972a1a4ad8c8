"""The UI's JSON API against its own OpenAPI document: schemathesis generates requests for
every documented route (valid and invalid parameters and bodies) and checks that none gets a
5xx, on a seeded workspace of its own (the generated writes change it)."""

from __future__ import annotations

from pathlib import Path

from aidot import Workspace
from aidot.ui import serve_ui
from tests.helpers import schemathesis_run

from .seed import seed_workspace


def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    facts = seed_workspace(ws, tmp_path / "data")
    # Path parameters name things that exist, so the requests reach the handlers' real work.
    (tmp_path / "schemathesis.toml").write_text(
        "[parameters]\n"
        f'"path.run_id" = "{facts.best_run_id}"\n'
        f'"path.experiment" = "{facts.experiment}"\n'
        f'"path.name" = "{facts.model}"\n'
        '"path.version" = "1"\n'
    )
    with serve_ui(ws, port=0) as ui:
        status, output = schemathesis_run(
            f"{ui.url}/api/openapi.json",
            tmp_path,
            "--max-examples",
            "15",
            # The serving proxy would fetch whatever URL the generator makes up.
            "--exclude-path",
            "/api/serving/metrics",
        )
    assert status == 0, output
    assert " passed" in output
    ws.close()
