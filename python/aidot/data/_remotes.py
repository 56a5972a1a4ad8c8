"""Pushing dataset versions to a remote and pulling them back (``aidot data push/pull``).

Content goes through the native remote client (``aidot._core.Remote``: object_store, parallel,
with retries, only missing blobs and chunks, an index on the remote so that the cost follows
what changed). Each pushed version also leaves a small JSON document on the remote,
``meta/datasets/<name>/v<N>.json`` (and ``tags/<tag>.json`` pointing at it), which is what
``pull`` reads to recreate the version in another workspace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidot._ids import now_ms
from aidot.data._refs import check_name, parse
from aidot.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from aidot import _core
    from aidot.data._dvc import DatasetVersion, DataVersionControl, Progress
    from aidot.store import MetadataStore


@dataclass(frozen=True)
class RemoteConfig:
    """A named remote: its URL and object-store options (endpoint, region...)."""

    name: str
    url: str
    options: dict[str, str]


@dataclass(frozen=True)
class TransferReport:
    """What a push or pull moved: the version, and the objects and bytes sent or received."""

    version: str
    objects: int
    bytes: int


class Remotes:
    """The remotes configured in a workspace, and the transfers through them."""

    def __init__(self, store: MetadataStore, cache: Path) -> None:
        self._store = store
        self._cache = cache

    def add(self, name: str, url: str, options: dict[str, str] | None = None) -> RemoteConfig:
        """Configures a remote; a name in use is an error (remove it first)."""
        from aidot.store._schema import remotes

        check_name(name, "remote name")
        if "://" not in url:
            raise InvalidArgumentError(
                f"remote URL {url!r} needs a scheme: s3://bucket/prefix or file:///path"
            )
        config = RemoteConfig(name, url, dict(options or {}))
        try:
            with self._store.write() as conn:
                conn.execute(
                    remotes.insert(),
                    [
                        {
                            "name": name,
                            "url": url,
                            "options": json.dumps(config.options),
                            "created_at": now_ms(),
                        }
                    ],
                )
        except AlreadyExistsError:
            raise AlreadyExistsError(
                f"a remote named {name!r} exists already; remove it first to change it"
            ) from None
        return config

    def remove(self, name: str) -> None:
        """Forgets a remote (its content stays where it is)."""
        from aidot.store._schema import remotes

        with self._store.write() as conn:
            if not conn.execute(remotes.delete().where(remotes.c.name == name)).rowcount:
                raise NotFoundError(
                    f"no remote named {name!r}; list them with aidot data remote ls"
                )

    def list(self) -> list[RemoteConfig]:
        """Configured remotes, by name."""
        import sqlalchemy as sa

        from aidot.store._schema import remotes

        with self._store.read() as conn:
            rows = conn.execute(sa.select(remotes).order_by(remotes.c.name)).all()
        return [RemoteConfig(r.name, r.url, json.loads(r.options)) for r in rows]

    def open(self, remote: str | None) -> _core.Remote:
        """A client for a configured remote's name, or for a URL; ``None`` means the only
        remote configured."""
        from aidot import _core
        from aidot.blobs import hash_bytes

        configured = {r.name: r for r in self.list()}
        if remote is None:
            if len(configured) != 1:
                raise InvalidArgumentError(
                    "name the remote (--remote NAME or a URL): "
                    + (f"there are {len(configured)}" if configured else "none is configured")
                )
            remote = next(iter(configured))
        config = configured.get(remote)
        if config is None and "://" not in remote:
            raise NotFoundError(
                f"no remote named {remote!r}; add it with aidot data remote add {remote} URL, "
                "or pass a URL"
            )
        url, options = (config.url, config.options) if config else (remote, {})
        cache = self._cache / hash_bytes(url.encode())[:32]
        return _core.Remote(url, options, str(cache))


def push(
    dvc: DataVersionControl, ref: str, client: _core.Remote, progress: Progress | None
) -> TransferReport:
    """Uploads a version's content and its description."""
    version = dvc.get(ref)
    digests = sorted({e.digest for e in version.files.values()} | {version.manifest})
    objects, sent = client.push(dvc._blobs._inner, digests, progress)
    client.put_meta(
        _meta_key(version.name, version.version), json.dumps(_describe(version)).encode()
    )
    for tag in version.tags:
        client.put_meta(
            f"datasets/{version.name}/tags/{tag}.json",
            json.dumps({"version": version.version}).encode(),
        )
    return TransferReport(version.ref, objects, sent)


def pull(
    dvc: DataVersionControl, ref: str, client: _core.Remote, progress: Progress | None
) -> tuple[DatasetVersion, TransferReport]:
    """Downloads a version's missing content and records the version in this workspace."""
    from aidot.data import _manifest

    parsed = parse(ref)
    number = parsed.version
    if parsed.tag is not None:
        pointer = client.get_meta(f"datasets/{parsed.name}/tags/{parsed.tag}.json")
        if pointer is None:
            raise NotFoundError(f"remote {client.url} has no {parsed.name}@{parsed.tag}")
        number = int(json.loads(pointer)["version"])
    if number is None:
        keys = client.list_meta(f"datasets/{parsed.name}")
        numbers = [
            int(k.rsplit("/v", 1)[1].removesuffix(".json"))
            for k in keys
            if "/tags/" not in k and k.endswith(".json")
        ]
        if not numbers:
            raise NotFoundError(f"remote {client.url} has no dataset named {parsed.name!r}")
        number = max(numbers)
    raw = client.get_meta(_meta_key(parsed.name, number))
    if raw is None:
        raise NotFoundError(f"remote {client.url} has no {parsed.name}@v{number}")
    meta = json.loads(raw)
    objects, received = client.pull(dvc._blobs._inner, [meta["manifest"]], None)
    files = _manifest.decode(dvc._blobs.get_bytes(meta["manifest"]), f"{parsed.name}@v{number}")
    more, more_bytes = client.pull(
        dvc._blobs._inner, sorted({e.digest for e in files.values()}), progress
    )
    version = dvc._record_pulled(meta, files)
    return version, TransferReport(version.ref, objects + more, received + more_bytes)


def _meta_key(name: str, version: int) -> str:
    return f"datasets/{name}/v{version}.json"


def _describe(version: DatasetVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "manifest": version.manifest,
        "message": version.message,
        "files": version.file_count,
        "bytes": version.bytes,
        "source": version.source,
        "created_at": version.created_at,
        "tags": version.tags,
    }
