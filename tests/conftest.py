"""Shared fixtures: a temporary workspace, and the real PostgreSQL server CI provides."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aidot import BlobStore, Workspace

POSTGRES_ENV = "AIDOT_TEST_POSTGRES_URI"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's own workspace settings; the default is a temp folder."""
    for name in ("AIDOT_HOME", "AIDOT_DB_URI", "AIDOT_BLOB_URI"):
        monkeypatch.delenv(name, raising=False)
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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each metadata-store test runs on a SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    uri: str = request.getfixturevalue("postgres_uri")
    return uri
