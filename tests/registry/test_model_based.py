"""Model-based test of the model registry: random sequences of registering versions (model
objects and folders, often sharing files), stage transitions, aliases, deletions, loads,
downloads and workspace gc, against a plain model of each version's content, stage and aliases.

After every step the registry lists exactly the versions the model holds, with their stages
and aliases; each loads or downloads to the content it was registered with; and
``ws.verify()`` finds every reference resolving (a deleted version's blobs may go, no other's).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aidot import Workspace
from aidot.errors import InvalidArgumentError
from aidot.registry import NumpyModel
from aidot.registry._uri import ALLOWED, STAGES

MAX_VERSIONS = 6
"""Live versions at most: every step loads each of them."""
FILES = {f"part{i}.bin": bytes([i]) * (10 + i) for i in range(4)}


@dataclass
class Version:
    files: dict[str, bytes] | None = None  # a folder's files, or None for a model object
    scale: float = 0.0  # a model object's weight
    stage: str = "Development"
    aliases: set[str] = field(default_factory=set)


class RegistryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="aidot-registry-model-"))
        self.ws = Workspace(self.tmp / "ws")
        self.versions: dict[int, Version] = {}
        self.next = 1

    def teardown(self) -> None:
        self.ws.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @precondition(lambda self: len(self.versions) < MAX_VERSIONS)
    @rule(names=st.sets(st.sampled_from(sorted(FILES)), min_size=1), extra=st.binary(max_size=8))
    def register_folder(self, names: set[str], extra: bytes) -> None:
        folder = Path(tempfile.mkdtemp(dir=self.tmp))
        files = {n: FILES[n] for n in names}  # shared with other versions: stored once
        if extra:
            files["extra.bin"] = extra
        for name, data in files.items():
            (folder / name).write_bytes(data)
        version = self.ws.registry.create_model_version("m", path=folder)
        assert version.version == self.next
        self.versions[self.next] = Version(files=files)
        self.next += 1

    @precondition(lambda self: len(self.versions) < MAX_VERSIONS)
    @rule(scale=st.sampled_from([1.0, 2.0, 3.0]))
    def register_model(self, scale: float) -> None:
        arrays = {"w": np.full((2, 1), scale), "b": np.zeros(1)}
        model = NumpyModel(arrays, "tests.registry.test_formats:linear")
        version = self.ws.registry.create_model_version("m", model=model)
        assert version.version == self.next
        self.versions[self.next] = Version(scale=scale)
        self.next += 1

    @precondition(lambda self: bool(self.versions))
    @rule(pick=st.data(), stage=st.sampled_from(STAGES))
    def transition(self, pick: st.DataObject, stage: str) -> None:
        number = pick.draw(st.sampled_from(sorted(self.versions)))
        current = self.versions[number].stage
        if stage != current and stage not in ALLOWED[current]:
            try:
                self.ws.registry.transition_stage("m", number, stage)
            except InvalidArgumentError:
                return
            raise AssertionError(f"{current} -> {stage} was allowed")
        self.ws.registry.transition_stage("m", number, stage)
        self.versions[number].stage = stage

    @precondition(lambda self: bool(self.versions))
    @rule(pick=st.data(), alias=st.sampled_from(["champion", "challenger"]))
    def set_alias(self, pick: st.DataObject, alias: str) -> None:
        number = pick.draw(st.sampled_from(sorted(self.versions)))
        self.ws.registry.set_alias("m", alias, number)
        for version in self.versions.values():
            version.aliases.discard(alias)
        self.versions[number].aliases.add(alias)

    @precondition(lambda self: any(v.aliases for v in self.versions.values()))
    @rule(pick=st.data())
    def delete_alias(self, pick: st.DataObject) -> None:
        alias = pick.draw(
            st.sampled_from(sorted(a for v in self.versions.values() for a in v.aliases))
        )
        self.ws.registry.delete_alias("m", alias)
        for version in self.versions.values():
            version.aliases.discard(alias)

    @precondition(lambda self: bool(self.versions))
    @rule(pick=st.data())
    def delete_version(self, pick: st.DataObject) -> None:
        number = pick.draw(st.sampled_from(sorted(self.versions)))
        self.ws.registry.delete_version("m", number, force=True)
        del self.versions[number]

    @rule()
    def gc(self) -> None:
        self.ws.gc(grace_seconds=0)

    @invariant()
    def the_registry_holds_what_the_model_does(self) -> None:
        if not self.versions:
            return
        listed = {v.version: v for v in self.ws.registry.list_versions("m")}
        assert sorted(listed) == sorted(self.versions)
        for number, want in self.versions.items():
            assert listed[number].stage == want.stage
            assert set(listed[number].aliases) == want.aliases

    @invariant()
    def every_version_loads_as_registered(self) -> None:
        for number, want in self.versions.items():
            uri = f"models:/m/{number}"
            if want.files is None:
                served = self.ws.registry.load_model(uri)
                out = served.predict(np.array([[1.0, 1.0]]))
                np.testing.assert_allclose(out, [[2 * want.scale]])
                continue
            dest = Path(tempfile.mkdtemp(dir=self.tmp))
            assert self.ws.registry.download(uri, dest) == len(want.files)
            for name, data in want.files.items():
                assert (dest / name).read_bytes() == data
            shutil.rmtree(dest)
        for alias in {a for v in self.versions.values() for a in v.aliases}:
            (number,) = [n for n, v in self.versions.items() if alias in v.aliases]
            assert self.ws.registry.resolve(f"models:/m@{alias}").version == number

    @invariant()
    def every_reference_resolves(self) -> None:
        report = self.ws.verify()
        assert report.ok, [str(p) for p in report.problems]


TestRegistryStore = RegistryMachine.TestCase
