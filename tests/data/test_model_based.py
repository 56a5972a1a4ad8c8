"""Model-based test of data version control: random sequences of its public operations (edit a
file keeping or changing its size, delete one, add, status, checkout, tag, gc, push, pull)
against a plain model of what must be stored, the folder's files by version.

After every step each recorded version must name exactly the model's content (each file's
digest is the BLAKE3 of the bytes the model says were added) and ``ws.verify()`` must find
every reference resolving to intact content. The ``status`` then ``add`` loss of #23 (a
same-size edit recorded but never stored) is found by this machine within the default budget.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aidot import Workspace
from aidot.blobs import hash_bytes

NAMES = ["a.txt", "b.txt", "sub/c.txt", "sub/deep/d.bin"]
contents = st.binary(min_size=0, max_size=64)


class DataMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="aidot-data-model-"))
        self.src = self.tmp / "src"
        self.src.mkdir()
        self.ws = Workspace(self.tmp / "ws")
        self.files: dict[str, bytes] = {}  # what the folder holds now
        self.versions: list[dict[str, bytes]] = []  # what each version must hold
        self.tags: dict[str, int] = {}
        self.pushed: set[int] = set()
        self.remote = f"file://{self.tmp / 'remote'}"
        (self.tmp / "remote").mkdir()
        self.clock = time.time_ns()

    def teardown(self) -> None:
        self.ws.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _write(self, name: str, data: bytes) -> None:
        path = self.src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        # Each write gets a modification time of its own: a rewrite of the same size within
        # one clock tick is what the stat cache is documented to miss, as git's does.
        self.clock += 1_000_000
        os.utime(path, ns=(self.clock, self.clock))
        self.files[name] = data

    @rule(name=st.sampled_from(NAMES), data=contents)
    def write(self, name: str, data: bytes) -> None:
        self._write(name, data)

    @precondition(lambda self: any(self.files.values()))
    @rule(pick=st.data(), delete=st.booleans())
    def edit_keeping_the_size_or_delete(self, pick: st.DataObject, delete: bool) -> None:
        name = pick.draw(st.sampled_from(sorted(n for n, d in self.files.items() if d)))
        if delete:
            (self.src / name).unlink()
            del self.files[name]
            return
        old = self.files[name]
        at = pick.draw(st.integers(0, len(old) - 1))
        self._write(name, old[:at] + bytes([old[at] ^ 0xFF]) + old[at + 1 :])

    @precondition(lambda self: bool(self.files))
    @rule(status_first=st.booleans())
    def add(self, status_first: bool) -> None:
        if status_first and self.versions:
            self.status()  # what a user does before adding: look at what changed
        version = self.ws.data.add(self.src, "d")
        if self.versions and self.versions[-1] == self.files:
            assert version.version == len(self.versions)  # nothing changed: the same one
        else:
            self.versions.append(dict(self.files))
            assert version.version == len(self.versions)

    @precondition(lambda self: bool(self.versions))
    @rule()
    def status(self) -> None:
        """``status`` compares the folder with the latest version, as the model does."""
        changes = self.ws.data.status("d", self.src)
        latest = self.versions[-1]
        assert sorted(changes.added) == sorted(set(self.files) - set(latest))
        assert sorted(changes.deleted) == sorted(set(latest) - set(self.files))
        both = set(self.files) & set(latest)
        assert sorted(changes.modified) == sorted(p for p in both if self.files[p] != latest[p])

    @precondition(lambda self: bool(self.versions))
    @rule(pick=st.data())
    def checkout(self, pick: st.DataObject) -> None:
        number = pick.draw(st.integers(1, len(self.versions)))
        dest = Path(tempfile.mkdtemp(dir=self.tmp))
        assert self.ws.data.checkout(f"d@v{number}", dest) == len(self.versions[number - 1])
        for name, data in self.versions[number - 1].items():
            assert (dest / name).read_bytes() == data
        shutil.rmtree(dest)

    @precondition(lambda self: bool(self.versions))
    @rule(pick=st.data())
    def tag(self, pick: st.DataObject) -> None:
        number = pick.draw(st.integers(1, len(self.versions)))
        name = f"t{len(self.tags)}"
        self.ws.data.tag(f"d@v{number}", name)
        self.tags[name] = number

    @rule()
    def gc(self) -> None:
        self.ws.gc(grace_seconds=0)

    @precondition(lambda self: bool(self.versions))
    @rule()
    def push(self) -> None:
        self.ws.data.push("d", self.remote)
        self.pushed.add(len(self.versions))

    @precondition(lambda self: bool(self.pushed))
    @rule(pick=st.data())
    def pull_elsewhere(self, pick: st.DataObject) -> None:
        number = pick.draw(st.sampled_from(sorted(self.pushed)))
        with Workspace(Path(tempfile.mkdtemp(dir=self.tmp)) / "ws") as other:
            pulled = other.data.pull(f"d@v{number}", self.remote)
            assert self._content(pulled.files) == self._expected(number)
            assert other.verify().ok

    @invariant()
    def every_version_holds_what_was_added(self) -> None:
        for number in range(1, len(self.versions) + 1):
            files = self.ws.data.get(f"d@v{number}").files
            assert self._content(files) == self._expected(number)
        for name, number in self.tags.items():
            assert self.ws.data.get(f"d@{name}").version == number

    @invariant()
    def every_reference_resolves(self) -> None:
        report = self.ws.verify()
        assert report.ok, [str(p) for p in report.problems]

    def _expected(self, number: int) -> dict[str, str]:
        return {name: hash_bytes(data) for name, data in self.versions[number - 1].items()}

    @staticmethod
    def _content(files: dict[str, object]) -> dict[str, str]:
        return {name: entry.digest for name, entry in files.items()}  # type: ignore[attr-defined]


TestDataStore = DataMachine.TestCase
