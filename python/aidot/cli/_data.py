"""``aidot data``: version datasets, compare versions, check them out."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from rich.table import Table

from aidot.cli._common import (
    console,
    err_console,
    human_bytes,
    open_workspace,
    reports_errors,
    workspace_option,
)


@click.group("data")
def data_group() -> None:
    """Version files and folders as datasets (like DVC, without a git repository)."""


@contextlib.contextmanager
def _progress(label: str, *, files: int | None = None) -> Iterator[Callable[[int, int, int], None]]:
    """A rich progress bar fed by the blob store's progress callback."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    by_files = files is not None
    columns = (
        [MofNCompleteColumn()]
        if by_files
        else [DownloadColumn(binary_units=True), TransferSpeedColumn()]
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *columns,
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bars:
        task = bars.add_task(label, total=files)

        def update(done: int, total: int, files_done: int) -> None:
            if by_files:
                bars.update(task, completed=files_done, total=files or total or None)
            else:
                bars.update(task, completed=done, total=total or None)

        yield update


def _ref(value: str) -> str:
    """A ``NAME@vN`` reference, or the one a pointer file (``NAME.aidot``) names."""
    from aidot.data import read_pointer

    if value.endswith(".aidot") and Path(value).is_file():
        return read_pointer(value)
    return value


@data_group.command("add")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", "-n", required=True, help="Dataset name (created if new).")
@click.option("--message", "-m", default="", help="What changed in this version.")
@click.option("--pointer", is_flag=True, help="Write NAME.aidot beside PATH (to commit to git).")
@workspace_option
@reports_errors
def add_command(path: Path, name: str, message: str, pointer: bool, workspace: Path | None) -> None:
    """Record PATH (a file or folder) as the next version of dataset NAME."""
    ws = open_workspace(workspace)
    with _progress(f"hashing {path}") as progress:
        version = ws.data.add(path, name, message, progress=progress, pointer=pointer)
    console.print(
        f"[green]{version.ref}[/] {version.file_count:,} files, {human_bytes(version.bytes)}"
        + (f"  (pointer: {path.parent / (name + '.aidot')})" if pointer else "")
    )


@data_group.command("status")
@click.argument("name")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@workspace_option
@reports_errors
def status_command(name: str, path: Path | None, workspace: Path | None) -> None:
    """Show files added, modified and deleted in PATH since NAME's latest version."""
    ws = open_workspace(workspace)
    changes = ws.data.status(name, path)
    _print_changes(changes, f"up to date with {ws.data.get(name).ref}")


@data_group.command("diff")
@click.argument("old")
@click.argument("new")
@workspace_option
@reports_errors
def diff_command(old: str, new: str, workspace: Path | None) -> None:
    """Show what changed from version OLD to version NEW (NAME@v1 NAME@v2)."""
    ws = open_workspace(workspace)
    _print_changes(ws.data.diff(_ref(old), _ref(new)), "no differences")


def _print_changes(changes: object, clean: str) -> None:
    from aidot.data import Changes

    assert isinstance(changes, Changes)
    for label, color, paths in (
        ("added", "green", changes.added),
        ("modified", "yellow", changes.modified),
        ("deleted", "red", changes.deleted),
    ):
        for p in paths:
            console.print(f"[{color}]{label:9}[/] {p}")
    if not changes:
        console.print(clean)
    else:
        console.print(
            f"{len(changes.added)} added, {len(changes.modified)} modified, "
            f"{len(changes.deleted)} deleted"
        )


@data_group.command("log")
@click.argument("name")
@workspace_option
@reports_errors
def log_command(name: str, workspace: Path | None) -> None:
    """List the versions of dataset NAME, newest first."""
    from datetime import datetime, timezone

    ws = open_workspace(workspace)
    table = Table(title=f"dataset {name}")
    for column in ("version", "tags", "files", "size", "added", "message"):
        table.add_column(column, justify="right" if column in ("files", "size") else "left")
    for v in ws.data.log(name):
        when = datetime.fromtimestamp(v.created_at / 1000, timezone.utc)
        table.add_row(
            f"v{v.version}",
            ", ".join(v.tags),
            f"{v.file_count:,}",
            human_bytes(v.bytes),
            when.strftime("%Y-%m-%d %H:%M"),
            v.message,
        )
    console.print(table)


@data_group.command("ls")
@workspace_option
@reports_errors
def ls_command(workspace: Path | None) -> None:
    """List datasets with their latest version."""
    ws = open_workspace(workspace)
    versions = ws.data.list()
    if not versions:
        console.print("no datasets yet; add one with aidot data add PATH --name NAME")
        return
    table = Table()
    for column in ("dataset", "latest", "files", "size", "source"):
        table.add_column(column, justify="right" if column in ("files", "size") else "left")
    for v in versions:
        table.add_row(v.name, f"v{v.version}", f"{v.file_count:,}", human_bytes(v.bytes), v.source)
    console.print(table)


@data_group.command("tag")
@click.argument("ref")
@click.argument("tag")
@workspace_option
@reports_errors
def tag_command(ref: str, tag: str, workspace: Path | None) -> None:
    """Name version REF (NAME@v3) TAG; NAME@TAG then refers to it."""
    ws = open_workspace(workspace)
    version = ws.data.tag(_ref(ref), tag)
    console.print(f"[green]{version.name}@{tag}[/] -> {version.ref}")


@data_group.command("checkout")
@click.argument("ref")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--link", is_flag=True, help="Hard-link read-only files instead of copying.")
@click.option("--force", is_flag=True, help="Write into a non-empty DEST, overwriting.")
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Check every byte against its digest while copying (--no-verify trusts the store).",
)
@workspace_option
@reports_errors
def checkout_command(
    ref: str, dest: Path, link: bool, force: bool, verify: bool, workspace: Path | None
) -> None:
    """Write the files of REF (NAME, NAME@v3, NAME@TAG or a NAME.aidot file) into DEST."""
    ws = open_workspace(workspace)
    version = ws.data.get(_ref(ref))
    with _progress(f"checking out {version.ref}", files=version.file_count) as progress:
        count = version.checkout(dest, link=link, force=force, verify=verify, progress=progress)
    console.print(f"[green]{version.ref}[/] {count:,} files in {dest}")


@data_group.command("verify")
@click.argument("ref")
@workspace_option
@reports_errors
def verify_command(ref: str, workspace: Path | None) -> None:
    """Re-hash every file of REF; exit status 1 and the damaged blob if any."""
    ws = open_workspace(workspace)
    with console.status("re-hashing files..."):
        count = ws.data.verify(_ref(ref))
    console.print(f"[green]ok[/] {count:,} files verified")


@data_group.command("gc")
@workspace_option
@reports_errors
def gc_command(workspace: Path | None) -> None:
    """Delete stored content that no dataset version (or other record) uses."""
    ws = open_workspace(workspace)
    report = ws.gc()
    console.print(
        f"[green]gc done[/] removed {report.blobs_removed:,} blobs, freeing "
        f"{human_bytes(report.bytes_freed)}"
    )


@data_group.group("remote")
def remote_group() -> None:
    """Configure the remotes that versions are pushed to and pulled from."""


@remote_group.command("add")
@click.argument("name")
@click.argument("url")
@click.option(
    "--option",
    "-o",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Object-store option, e.g. aws_endpoint=http://127.0.0.1:9000, aws_region=eu-west-1, "
    "aws_allow_http=true (credentials come from AWS_* variables).",
)
@workspace_option
@reports_errors
def remote_add_command(
    name: str, url: str, options: tuple[str, ...], workspace: Path | None
) -> None:
    """Add remote NAME at URL (s3://bucket/prefix, file:///path)."""
    parsed = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise click.BadParameter(f"{option!r} is not KEY=VALUE", param_hint="--option")
        parsed[key] = value
    ws = open_workspace(workspace)
    remote = ws.data.remotes.add(name, url, parsed)
    console.print(f"[green]remote {remote.name}[/] -> {remote.url}")


@remote_group.command("ls")
@workspace_option
@reports_errors
def remote_ls_command(workspace: Path | None) -> None:
    """List configured remotes."""
    ws = open_workspace(workspace)
    remotes = ws.data.remotes.list()
    if not remotes:
        console.print("no remotes; add one with aidot data remote add NAME URL")
    for r in remotes:
        options = " ".join(f"{k}={v}" for k, v in sorted(r.options.items()))
        console.print(f"{r.name}\t{r.url}\t{options}")


@remote_group.command("rm")
@click.argument("name")
@workspace_option
@reports_errors
def remote_rm_command(name: str, workspace: Path | None) -> None:
    """Forget remote NAME (what it stores is left alone)."""
    open_workspace(workspace).data.remotes.remove(name)
    console.print(f"removed remote {name}")


@data_group.command("push")
@click.argument("ref")
@click.option("--remote", "-r", default=None, help="Remote name or URL [default: the only one].")
@workspace_option
@reports_errors
def push_command(ref: str, remote: str | None, workspace: Path | None) -> None:
    """Upload version REF to a remote: only what the remote lacks."""
    ws = open_workspace(workspace)
    with _progress("pushing", files=0) as progress:
        report = ws.data.push(_ref(ref), remote, progress=_objects(progress))
    console.print(
        f"[green]{report.version}[/] pushed: {report.objects:,} objects, "
        f"{human_bytes(report.bytes)} sent"
    )


@data_group.command("pull")
@click.argument("ref")
@click.option("--remote", "-r", default=None, help="Remote name or URL [default: the only one].")
@workspace_option
@reports_errors
def pull_command(ref: str, remote: str | None, workspace: Path | None) -> None:
    """Download version REF (NAME, NAME@v3, NAME@TAG) from a remote into this workspace."""
    ws = open_workspace(workspace)
    with _progress("pulling", files=0) as progress:
        version = ws.data.pull(_ref(ref), remote, progress=_objects(progress))
    console.print(
        f"[green]{version.ref}[/] {version.file_count:,} files, {human_bytes(version.bytes)}"
    )


def _objects(update: Callable[[int, int, int], None]) -> Callable[[int, int, int], None]:
    """Remote transfers count objects in the first two progress numbers."""

    def report(done: int, total: int, _files: int) -> None:
        update(done, total, done)

    return report
