"""Model-based test of checkpoints: random sequences of saves (in the background or not) by two
runs whose states share arrays, top-k and keep-last pruning, restores, model versions
registered from checkpoints and workspace gc, against a plain model of what must be kept.

After every step each manager lists exactly the checkpoints retention must keep, each of them
and each registered version restores to the state saved, and ``ws.verify()`` finds every
reference resolving. Pruning runs with a grace period of 0, the hardest case: a blob goes as
soon as nothing references it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from aidot import CheckpointManager, Workspace

# A pool of arrays the states draw from: two runs reusing the same ones is how a fine-tuning
# run shares its parent's frozen layers.
POOL = [np.full(8 + i, float(i), dtype=np.float32) for i in range(6)]
KEEP_LAST, TOP_K = 1, 2


@dataclass
class Saved:
    id: str
    loss: float
    state: dict[str, np.ndarray]


class CheckpointMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="aidot-ckpt-model-"))
        self.ws = Workspace(self.tmp / "ws")
        self.runs = [self.ws.tracker.start_run(name) for name in ("parent", "fine-tune")]
        self.managers = [
            CheckpointManager(
                run,
                monitor="loss",
                save_top_k=TOP_K,
                keep_last=KEEP_LAST,
                async_save=background,
                prune_grace_seconds=0,
            )
            for run, background in zip(self.runs, (True, False), strict=True)
        ]
        self.saved: list[list[Saved]] = [[], []]  # what each manager saved, oldest first
        self.registered: list[tuple[str, dict[str, np.ndarray]]] = []

    def teardown(self) -> None:
        for manager in self.managers:
            manager.close()
        for run in self.runs:
            run.end()
        self.ws.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def kept(self, which: int) -> list[Saved]:
        """What retention must keep: the last KEEP_LAST and the TOP_K lowest losses (the
        earlier among equals), oldest first."""
        saved = self.saved[which]
        ranked = sorted(saved, key=lambda s: s.loss)[:TOP_K]  # stable: earlier first
        keep = {s.id for s in saved[-KEEP_LAST:]} | {s.id for s in ranked}
        return [s for s in saved if s.id in keep]

    @rule(
        which=st.integers(0, 1),
        arrays=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=3, unique=True),
        fresh=st.booleans(),
        loss=st.floats(0, 10, allow_nan=False).map(lambda x: round(x, 1)),
    )
    def save(self, which: int, arrays: list[int], fresh: bool, loss: float) -> None:
        state = {f"layer{i}": POOL[i] for i in arrays}
        if fresh:  # an array no one saved before
            state["head"] = np.full(4, loss + 100 * len(self.saved[which]), dtype=np.float64)
        self._save(which, state, loss)

    def _save(self, which: int, state: dict[str, np.ndarray], loss: float) -> None:
        manager = self.managers[which]
        step = len(self.saved[which])
        future = manager.save(state, step=step, metrics={"loss": loss})
        assert future is not None
        info = future.result()
        manager.wait()
        self.saved[which].append(Saved(info.id, loss, {k: v.copy() for k, v in state.items()}))

    @rule(
        which=st.integers(0, 1),
        arrays=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=3, unique=True),
        loss=st.floats(0, 10, allow_nan=False).map(lambda x: round(x, 1)),
        other_arrays=st.lists(st.integers(0, len(POOL) - 1), max_size=2, unique=True),
        other_loss=st.floats(0, 10, allow_nan=False).map(lambda x: round(x, 1)),
    )
    def save_while_the_other_run_saves_and_prunes(
        self,
        which: int,
        arrays: list[int],
        loss: float,
        other_arrays: list[int],
        other_loss: float,
    ) -> None:
        """Two processes at once, as a fine-tuning run beside its parent: the other run saves
        (and prunes) after this save has put its blobs and before it records them."""
        manager = self.managers[which]
        record = manager._index.add

        def record_after_the_other_saves(info: object, digests: object) -> None:
            manager._index.add = record  # type: ignore[method-assign]
            other = 1 - which
            state = {f"layer{i}": POOL[i] for i in other_arrays}
            state["head"] = np.full(4, other_loss + 100 * len(self.saved[other]))
            self._save(other, state, other_loss)
            record(info, digests)  # type: ignore[arg-type]

        manager._index.add = record_after_the_other_saves  # type: ignore[method-assign]
        self._save(which, {f"layer{i}": POOL[i] for i in arrays}, loss)

    @precondition(lambda self: any(self.saved))
    @rule(pick=st.data())
    def register(self, pick: st.DataObject) -> None:
        which = pick.draw(st.sampled_from([i for i in (0, 1) if self.saved[i]]))
        chosen = pick.draw(st.sampled_from(self.kept(which)))
        info = next(c for c in self.managers[which].list() if c.id == chosen.id)
        version = self.ws.registry.create_model_version("net", checkpoint=info)
        self.registered.append((version.uri, chosen.state))

    @rule()
    def gc(self) -> None:
        self.ws.gc(grace_seconds=0)

    @invariant()
    def each_manager_keeps_what_retention_must(self) -> None:
        for which, manager in enumerate(self.managers):
            assert [c.id for c in manager.list()] == [s.id for s in self.kept(which)]

    @invariant()
    def every_kept_checkpoint_and_version_restores(self) -> None:
        for which, manager in enumerate(self.managers):
            for saved in self.kept(which):
                assert_state(manager.restore(saved.id), saved.state)
        for uri, state in self.registered:
            assert_state(self.ws.registry.restore_checkpoint(uri), state)

    @invariant()
    def every_reference_resolves(self) -> None:
        report = self.ws.verify()
        assert report.ok, [str(p) for p in report.problems]


def assert_state(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for key, array in want.items():
        np.testing.assert_array_equal(got[key], array)


TestCheckpointStore = CheckpointMachine.TestCase
