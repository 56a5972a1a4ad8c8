"""Shared fixtures: a temporary workspace, and the real PostgreSQL server CI provides."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from aidot import BlobStore, Workspace

POSTGRES_ENV = "AIDOT_TEST_POSTGRES_URI"

# The model-based tests (hypothesis state machines of each store): a bounded run by default,
# many more sequences under `make test-deep` (AIDOT_HYPOTHESIS_PROFILE=deep).
settings.register_profile(
    "default",
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    # A failure is reported as found, unshrunk: shrinking sequences of file-system and
    # database steps took minutes. `make test-deep` shrinks.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "deep",
    max_examples=400,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("AIDOT_HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's own workspace settings; the default is a temp folder."""
    for name in ("AIDOT_HOME", "AIDOT_DB_URI", "AIDOT_BLOB_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIDOT_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh embedded workspace (SQLite file + local blob folder)."""
    ws = Workspace(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    """A blob store with small chunks, so that kilobytes exercise chunked blobs."""
    return BlobStore(
        tmp_path / "blobs",
        chunk_threshold=64 << 10,
        min_chunk=4 << 10,
        avg_chunk=16 << 10,
        max_chunk=64 << 10,
    )


@pytest.fixture
def torch() -> Any:
    """The torch module; tests that need it are skipped without it, and fail under CI (which
    installs it: .ci/run)."""
    try:
        import torch as module
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install torch (.ci/run does)")
        pytest.skip("torch is not installed")
    return module


def postgres_server_uri() -> str | None:
    """The server named by $AIDOT_TEST_POSTGRES_URI; under CI its absence is a failure."""
    uri = os.environ.get(POSTGRES_ENV)
    if not uri and os.environ.get("CI") == "true":
        pytest.fail(f"CI must provide a PostgreSQL server in ${POSTGRES_ENV} (.ci/run starts one)")
    return uri


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    server = postgres_server_uri()
    if not server:
        pytest.skip(f"set ${POSTGRES_ENV} to run PostgreSQL tests")
    import psycopg

    name = f"aidot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PostgresServer:
    """A PostgreSQL server of the test's own (via ``.ci/postgres.sh``), to stop and restart."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.uri = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def start(self) -> None:
        subprocess.run(
            [str(_POSTGRES_SCRIPT), "start", str(self.folder), str(self.port)],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            [str(_POSTGRES_SCRIPT), "stop", str(self.folder)], check=True, capture_output=True
        )


_POSTGRES_SCRIPT = Path(__file__).parents[1] / ".ci" / "postgres.sh"


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL server that the test may stop and restart (the shared one stays up)."""
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have PostgreSQL installed (.ci/run installs it)")
        pytest.skip("PostgreSQL server binaries are not installed")
    # Not under pytest's tmp_path: the server runs as the postgres user, who must reach it.
    folder = Path(tempfile.mkdtemp(prefix="aidot-pg-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = PostgresServer(folder, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


S3_ENV = "AIDOT_TEST_S3_ENDPOINT"


@pytest.fixture
def s3_url() -> tuple[str, dict[str, str]]:
    """A fresh bucket on the S3-protocol server CI starts (moto): ``(s3://bucket/prefix,
    options)``. Outside CI, tests using it are skipped unless $AIDOT_TEST_S3_ENDPOINT is set."""
    import urllib.request

    endpoint = os.environ.get(S3_ENV)
    if not endpoint:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must provide an S3-protocol server in ${S3_ENV} (.ci/run starts one)")
        pytest.skip(f"set ${S3_ENV} (e.g. moto_server) to run S3 tests")
    bucket = f"aidot-{uuid.uuid4().hex[:12]}"
    # moto creates a bucket on an unsigned PUT; a real S3 would need credentials here.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT"))
    options = {
        "aws_endpoint": endpoint,
        "aws_allow_http": "true",
        "aws_region": "us-east-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    return f"s3://{bucket}/datasets", options


@pytest.fixture(params=["sqlite", "postgresql"])
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each metadata-store test runs on a SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    uri: str = request.getfixturevalue("postgres_uri")
    return uri
