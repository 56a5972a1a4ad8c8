"""The metadata store: SQLAlchemy Core over SQLite (the default) or PostgreSQL, with Alembic
migrations applied automatically on open."""

from aidot.store._engine import normalize_uri
from aidot.store._metadata_store import MetadataStore
from aidot.store._schema import HEAD, REVISIONS, metadata

__all__ = ["HEAD", "REVISIONS", "MetadataStore", "metadata", "normalize_uri"]
