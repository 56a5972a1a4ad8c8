"""Which dataset versions a run used: the one query behind ``DataVersionControl.used_by`` and
the registry's lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa


def run_inputs_query(run_id: str) -> sa.Select[tuple[object, ...]]:
    """The ``dataset_versions`` rows a run logged as inputs, by dataset and version."""
    import sqlalchemy as sa

    from aidot.store._schema import dataset_versions, run_inputs

    return (
        sa.select(dataset_versions)
        .join(run_inputs, run_inputs.c.version_id == dataset_versions.c.id)
        .where(run_inputs.c.run_id == run_id)
        .order_by(dataset_versions.c.dataset, dataset_versions.c.version)
    )
