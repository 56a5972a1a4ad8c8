"""The HTTP API against its own OpenAPI document: schemathesis generates requests for every
documented route (valid and invalid bodies, parameters and headers) and checks that none gets a
5xx. Management routes stay behind a token the generator does not have, so the model under
test stays loaded."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aidot.serving import ModelRepository, serve

from .models import Linear


def schemathesis_command() -> list[str]:
    executable = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(executable).exists():
        pytest.fail("schemathesis is missing: pip install -e '.[test]'")
    return [executable]


def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    repository = ModelRepository()
    repository.load("lin", Linear())
    # Path parameters name the loaded model, so the generated requests reach its batcher.
    (tmp_path / "schemathesis.toml").write_text(
        '[parameters]\n"path.name" = "lin"\n"path.model" = "lin"\n"path.version" = "1"\n'
    )
    with serve(repository, token="not-given-to-the-generator") as server:
        result = subprocess.run(
            [
                *schemathesis_command(),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
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
        metrics = server.metrics()["lin"]
    # The generated bodies reached the model's handlers (and were refused with 400s).
    assert metrics.errors["bad_request"] > 0
    repository.close()
