"""``aidot models``: the model registry from the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from aidot.cli._common import console, open_workspace, reports_errors, utc_time, workspace_option


@click.group("models")
def models_group() -> None:
    """Registered models: versions, stages, aliases and their history."""


@models_group.command("ls")
@workspace_option
@reports_errors
@click.option("--filter", "filter_", default=None, help="e.g. \"name LIKE 'churn%'\".")
def ls_command(workspace: Path | None, filter_: str | None) -> None:
    """List registered models with their latest version."""
    ws = open_workspace(workspace)
    models = ws.registry.search_models(filter_) if filter_ else ws.registry.list_models()
    if not models:
        console.print(
            f"no models match {filter_!r}"
            if filter_
            else "no models yet; register one with ws.registry.create_model_version"
        )
        return
    table = Table("model", "latest", "description")
    for m in models:
        table.add_row(m.name, f"v{m.latest_version}" if m.latest_version else "-", m.description)
    console.print(table)


@models_group.command("show")
@click.argument("name")
@workspace_option
@reports_errors
def show_command(name: str, workspace: Path | None) -> None:
    """A model: description, tags, and its versions by stage."""
    ws = open_workspace(workspace)
    model = ws.registry.get_model(name)
    console.print(f"[bold]{model.name}[/] {model.description}")
    for key, value in sorted(model.tags.items()):
        console.print(f"  {key}: {value}")
    _versions_table(ws, name)


@models_group.command("versions")
@click.argument("name")
@workspace_option
@reports_errors
def versions_command(name: str, workspace: Path | None) -> None:
    """The versions of NAME, newest first."""
    _versions_table(open_workspace(workspace), name)


@models_group.command("search")
@click.argument("filter_", metavar="FILTER", required=False)
@click.option("--order-by", multiple=True, help="e.g. 'metrics.auc DESC' (repeatable).")
@click.option("--max-results", default=100, show_default=True)
@workspace_option
@reports_errors
def search_command(
    filter_: str | None, order_by: tuple[str, ...], max_results: int, workspace: Path | None
) -> None:
    """Versions of any model matching FILTER, e.g.
    "name = 'churn' and metrics.auc > 0.9 and stage != 'Archived'"."""
    ws = open_workspace(workspace)
    found = ws.registry.search_versions(filter_, order_by=list(order_by), max_results=max_results)
    _print_versions(found, with_name=True)


def _versions_table(ws: object, name: str) -> None:
    registry = ws.registry  # type: ignore[attr-defined]
    _print_versions(registry.list_versions(name), with_name=False)


def _print_versions(versions: list[Any], *, with_name: bool) -> None:
    columns = ["version", "stage", "aliases", "source", "run", "created"]
    table = Table(*(["model", *columns, "metrics"] if with_name else columns))
    for v in versions:
        metrics = ", ".join(f"{k}={value:g}" for k, value in sorted(v.metrics.items()))
        table.add_row(
            *([v.name] if with_name else []),
            f"v{v.version}",
            v.stage,
            ", ".join(v.aliases),
            v.source.get("kind", ""),
            v.run_id or "",
            utc_time(v.created_at),
            *([metrics] if with_name else []),
        )
    console.print(table)


@models_group.command("promote")
@click.argument("name")
@click.argument("version", type=int)
@click.argument("stage")
@click.option("--archive-existing", is_flag=True, help="Archive the versions now in STAGE.")
@click.option("--comment", "-m", default="", help="Why (kept in the history).")
@workspace_option
@reports_errors
def promote_command(
    name: str,
    version: int,
    stage: str,
    archive_existing: bool,
    comment: str,
    workspace: Path | None,
) -> None:
    """Move version VERSION of NAME to STAGE (Development, Staging, Production, Archived)."""
    ws = open_workspace(workspace)
    moved = ws.registry.transition_stage(
        name, version, stage, archive_existing=archive_existing, comment=comment
    )
    console.print(f"[green]models:/{name}/{version}[/] is now in {moved.stage}")


@models_group.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
@workspace_option
@reports_errors
def alias_command(name: str, alias: str, version: int, workspace: Path | None) -> None:
    """Point models:/NAME@ALIAS at VERSION."""
    open_workspace(workspace).registry.set_alias(name, alias, version)
    console.print(f"[green]models:/{name}@{alias}[/] -> v{version}")


@models_group.command("history")
@click.argument("name")
@workspace_option
@reports_errors
def history_command(name: str, workspace: Path | None) -> None:
    """Every stage change, alias move, creation and deletion of NAME, oldest first."""
    ws = open_workspace(workspace)
    table = Table("when", "version", "event", "change", "who", "comment")
    for e in ws.registry.history(name):
        change = f"{e.previous} -> {e.target}" if e.previous else e.target
        table.add_row(utc_time(e.at), f"v{e.version}", e.event, change, e.actor, e.comment)
    console.print(table)


@models_group.command("lineage")
@click.argument("uri")
@workspace_option
@reports_errors
def lineage_command(uri: str, workspace: Path | None) -> None:
    """Which data and code trained URI (models:/NAME/3, @Production, @ALIAS), as a tree."""
    from rich.tree import Tree

    ws = open_workspace(workspace)
    lineage = ws.registry.lineage(uri)
    v = lineage.version
    tree = Tree(f"[bold]{v.uri}[/] ({v.stage}{', ' + ', '.join(v.aliases) if v.aliases else ''})")
    tree.add(f"content: {v.source.get('kind')} {v.source.get('format', '')}".rstrip())
    run = lineage.run
    if run is not None:
        branch = tree.add(f"run {run.id} ({run.name}, {run.status.value})")
        commit = run.context.get("git_commit")
        if commit:
            dirty = " with uncommitted changes" if run.context.get("git_dirty") else ""
            branch.add(f"git {commit}{dirty}")
        for key, value in sorted(run.params.items()):
            branch.add(f"param {key} = {value}")
        for key, value in sorted(run.metrics.items()):
            branch.add(f"metric {key} = {value:.6g}")
    else:
        tree.add("run: none recorded")
    for dataset in lineage.datasets:
        tree.add(f"data {dataset['ref']} ({dataset['files']} files, {dataset['bytes']} bytes)")
    if lineage.checkpoint:
        c = lineage.checkpoint
        tree.add(f"checkpoint {c['id']} (step {c['step']}, epoch {c['epoch']})")
    if lineage.replaces:
        tree.add(f"replaces models:/{v.name}/{lineage.replaces}")
    console.print(tree)


@models_group.command("download")
@click.argument("uri")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@workspace_option
@reports_errors
def download_command(uri: str, dest: Path, workspace: Path | None) -> None:
    """Write the files of URI into DEST (an empty or new folder)."""
    count = open_workspace(workspace).registry.download(uri, dest)
    console.print(f"[green]{uri}[/] {count} files in {dest}")
