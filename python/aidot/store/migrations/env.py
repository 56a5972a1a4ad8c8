"""Alembic environment: runs on the connection aidot hands over (see ``_migrate.py``)."""

from __future__ import annotations

from alembic import context

from aidot.store._schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
