"""The HTTP API against its own OpenAPI document: schemathesis generates requests for every
documented route (valid and invalid bodies, parameters and headers) and checks that none gets a
5xx. Management routes stay behind a token the generator does not have, so the model under
test stays loaded."""

from __future__ import annotations

from pathlib import Path

from aidot.serving import ModelRepository, serve
from tests.helpers import schemathesis_run

from .models import Linear


def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    repository = ModelRepository()
    repository.load("lin", Linear())
    # Path parameters name the loaded model, so the generated requests reach its batcher.
    (tmp_path / "schemathesis.toml").write_text(
        '[parameters]\n"path.name" = "lin"\n"path.model" = "lin"\n"path.version" = "1"\n'
    )
    with serve(repository, token="not-given-to-the-generator") as server:
        status, output = schemathesis_run(
            f"{server.url}/openapi.json", tmp_path, "--max-examples", "25"
        )
        assert status == 0, output
        assert " passed" in output
        metrics = server.metrics()["lin"]
    # The generated bodies reached the model's handlers (and were refused with 400s).
    assert metrics.errors["bad_request"] > 0
    repository.close()
