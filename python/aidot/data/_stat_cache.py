"""The stat cache: which digest a file had when it last had this size, mtime and inode, and
which manifest a whole tree had when its listing last had this fingerprint.

It lives beside the workspace (``<home>/statcache.db``, a SQLite file of this machine: inodes
and mtimes mean nothing elsewhere), so re-adding a tree where 1% of the files changed hashes
only that 1%, and ``status`` of an unchanged tree hashes nothing. A file rewritten within the
same nanosecond with the same size and inode would fool it, as it would fool git and DVC.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

Stat = tuple[int, int, int]
"""``(size, mtime_ns, inode)``."""


class StatCache:
    """Digests by absolute path, valid while the file's stat is unchanged."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def lookup(self, root: Path) -> dict[str, tuple[Stat, str]]:
        """Cached ``(stat, digest)`` of every file under ``root``, by absolute path."""
        if not self._path.exists():
            return {}
        prefix = str(root)
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT path, size, mtime_ns, inode, digest FROM stats "
                "WHERE path = ? OR (path >= ? AND path < ?)",
                (prefix, prefix + "/", prefix + "0"),  # '0' sorts right after '/'
            ).fetchall()
        return {path: ((size, mtime, inode), digest) for path, size, mtime, inode, digest in rows}

    def store(self, entries: Iterable[tuple[str, Stat, str]]) -> None:
        """Remembers ``(absolute path, stat, digest)`` triples."""
        rows = [(path, *stat, digest) for path, stat, digest in entries]
        if not rows:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executemany("INSERT OR REPLACE INTO stats VALUES (?, ?, ?, ?, ?)", rows)

    def tree(self, root: Path) -> tuple[str, str] | None:
        """``(fingerprint, manifest digest)`` recorded for the tree at ``root``, if any."""
        if not self._path.exists():
            return None
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT fingerprint, manifest FROM trees WHERE root = ?", (str(root),)
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def store_tree(self, root: Path, fingerprint: str, manifest: str) -> None:
        """Remembers that the tree whose listing has ``fingerprint`` has this manifest."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO trees VALUES (?, ?, ?)", (str(root), fingerprint, manifest)
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS stats (path TEXT PRIMARY KEY, size INTEGER, "
            "mtime_ns INTEGER, inode INTEGER, digest TEXT)"
        )
        # A whole tree's listing fingerprint (see aidot_core::tree::fingerprint) and the
        # manifest it had: an untouched tree is recognised without looking at single files.
        db.execute(
            "CREATE TABLE IF NOT EXISTS trees (root TEXT PRIMARY KEY, fingerprint TEXT, "
            "manifest TEXT)"
        )
        return db
