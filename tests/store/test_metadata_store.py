"""The metadata store on both dialects: one suite, run on a SQLite file and real PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from aidot.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    SchemaVersionError,
    StorageError,
    StoreUnavailableError,
)
from aidot.store import HEAD, REVISIONS, MetadataStore, normalize_uri
from aidot.store._metadata_store import run_sql
from tests.helpers import stamp_newer_schema


def test_opening_migrates_to_head_and_records_identity(db_uri: str) -> None:
    store = MetadataStore(db_uri)
    assert store.revision == HEAD
    info = store.info()
    assert len(info["workspace_id"]) == 26
    assert int(info["created_at"]) > 0
    store.close()
    again = MetadataStore(db_uri)  # an up-to-date database is opened without migrating
    assert again.info() == info
    again.close()


def test_blob_references(db_uri: str) -> None:
    store = MetadataStore(db_uri)
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    assert store.add_blob_refs("dataset/v1", [a, b]) == 2
    assert store.add_blob_refs("dataset/v1", [a, b, c]) == 1
    assert store.add_blob_refs("checkpoint/1", [a]) == 1
    assert store.add_blob_refs("empty", []) == 0
    assert store.blob_refs("dataset/v1") == {a, b, c}
    assert store.live_digests() == {a, b, c}
    assert store.remove_blob_refs("dataset/v1") == 3
    assert store.live_digests() == {a}
    store.close()


def test_a_database_from_a_newer_aidot_is_refused(db_uri: str) -> None:
    stamp_newer_schema(db_uri)
    with pytest.raises(SchemaVersionError, match="upgrade aidot"):
        MetadataStore(db_uri)


def test_alembic_agrees_with_the_known_revisions() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "aidot.store:migrations")
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == [HEAD]
    assert [r.revision for r in reversed(list(script.walk_revisions()))] == list(REVISIONS)


def test_migrations_create_what_the_schema_declares(db_uri: str) -> None:
    from aidot.store import metadata

    store = MetadataStore(db_uri)
    inspector = sa.inspect(store.engine)
    for table in metadata.tables.values():
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name
    store.close()


def test_upgrading_keeps_blob_references_and_clusters_them_on_sqlite(db_uri: str) -> None:
    from alembic import command
    from alembic.config import Config

    engine = sa.create_engine(normalize_uri(db_uri))
    refs = [("dataset:a", f"{i:064x}", i) for i in range(300)]
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", "aidot.store:migrations")
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")
        conn.execute(
            sa.text("INSERT INTO aidot_blob_refs VALUES (:o, :d, :t)"),
            [{"o": o, "d": d, "t": t} for o, d, t in refs],
        )
    engine.dispose()
    store = MetadataStore(db_uri)  # migrates 0010 -> head
    assert store.revision == HEAD
    assert store.blob_refs("dataset:a") == {d for _, d, _ in refs}
    assert store.add_blob_refs("dataset:a", ["f" * 64, refs[0][1]]) == 1
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as conn:
            ddl = conn.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE name = 'aidot_blob_refs'")
            ).scalar()
            indexes = conn.execute(
                sa.text("SELECT name FROM sqlite_master WHERE tbl_name = 'aidot_blob_refs'")
            ).scalars()
            assert "WITHOUT ROWID" in ddl
            assert "ix_aidot_blob_refs_digest" in set(indexes)
    store.close()
    with engine.begin() as conn:  # and back: the references survive a downgrade too
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")
        count = conn.execute(sa.text("SELECT count(*) FROM aidot_blob_refs")).scalar()
    assert count == len(refs) + 1
    engine.dispose()


def test_concurrent_openers_migrate_once(db_uri: str) -> None:
    script = textwrap.dedent(
        """
        import sys
        from aidot.store import MetadataStore
        store = MetadataStore(sys.argv[1])
        store.add_blob_refs(sys.argv[2], ["d" * 64])
        print(store.info()["workspace_id"])
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, db_uri, f"owner-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    ids = set()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids.add(out.strip())
    assert len(ids) == 1  # one workspace identity, created once
    store = MetadataStore(db_uri)
    assert store.live_digests() == {"d" * 64}
    store.close()


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    store.close()


def test_driver_errors_become_aidot_errors_and_roll_back(db_uri: str) -> None:
    store = MetadataStore(db_uri)
    insert = "INSERT INTO aidot_workspace (key, value) VALUES (?, ?)"
    with store.write() as conn:
        run_sql(conn, insert, ("probe", "kept"))
    with pytest.raises(AlreadyExistsError, match="cannot write"), store.write() as conn:
        run_sql(conn, insert, [("other", "rolled back"), ("probe", "twice")])
    with pytest.raises(StorageError, match=r"no such|does not exist"), store.write() as conn:
        run_sql(conn, "SELECT missing_column FROM aidot_missing_table")
    info = store.info()
    assert info["probe"] == "kept"
    assert "other" not in info  # the failed transaction left nothing behind
    store.close()


def test_a_writer_locked_out_past_the_busy_timeout_is_told_to_retry(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    store = MetadataStore(f"sqlite:///{path}")
    with store.read() as conn:  # the pool hands this connection out again below
        conn.exec_driver_sql("PRAGMA busy_timeout=50")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StoreUnavailableError, match="database is locked"), store.write():
            pass
    finally:
        other.execute("ROLLBACK")
        other.close()
    with store.write() as conn:  # and once it lets go, writing works again
        run_sql(conn, "INSERT INTO aidot_workspace (key, value) VALUES (?, ?)", ("a", "b"))
    assert store.info()["a"] == "b"
    store.close()


@pytest.mark.parametrize(
    ("uri", "message"),
    [("nonsense", "no scheme"), ("mysql://x/y", "unsupported database")],
)
def test_bad_uris_name_the_fix(uri: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        MetadataStore(uri)


def test_postgres_uris_use_psycopg_3() -> None:
    assert normalize_uri("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_uri("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
