"""The UI's JSON API against its own OpenAPI document: schemathesis generates requests for
every documented route (valid and invalid parameters and bodies) and checks that none gets a
5xx, on a seeded workspace of its own (the generated writes change it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from aidot import Workspace
from aidot.ui import serve_ui
from tests.serving.test_openapi_conformance import schemathesis_command

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
        result = subprocess.run(
            [
                *schemathesis_command(),
                "run",
                f"{ui.url}/api/openapi.json",
                "--checks",
                "not_a_server_error",
                # The serving proxy would fetch whatever URL the generator makes up.
                "--exclude-path",
                "/api/serving/metrics",
                "--max-examples",
                "15",
                "--seed",
                "1",
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    ws.close()
