"""A running trial: what the objective suggests parameters from and reports to."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aidot._ids import utc_datetime
from aidot.errors import InvalidArgumentError, InvalidDistributionError
from aidot.tuning._distributions import (
    CategoricalChoice,
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    check_compatible,
)
from aidot.tuning._frozen import FrozenTrial, TrialState

if TYPE_CHECKING:
    from aidot.tracking import Run
    from aidot.tuning._storage import NewTrial
    from aidot.tuning._study import Study

_log = logging.getLogger("aidot.tuning")


class Trial:
    """One evaluation of the objective, with define-by-run parameters (Optuna's ``Trial``).

    ``suggest_*`` returns the same value when called again with the same name and
    distribution, and raises :class:`~aidot.errors.DistributionConflictError` for a different
    kind of distribution. Parameters may depend on each other (``if kind == "svm":
    trial.suggest_float("C", ...)``). ``run`` is the trial's tracking run: log metrics or
    artifacts to it, or give it to a :class:`~aidot.TrainingMonitor`.
    """

    def __init__(self, study: Study, new: NewTrial, run: Run) -> None:
        self.study = study
        self.number = new.number
        self.run = run
        self.datetime_start = utc_datetime(new.started_at)
        self._id = new.id
        self._claim = new.claim
        self._fixed = dict(new.fixed_params)
        self._params: dict[str, float] = {}
        self._distributions: dict[str, Distribution] = {}
        self._intermediate: dict[int, float] = {}
        self.user_attrs: dict[str, Any] = dict(new.user_attrs)
        """Free-form notes (``set_user_attr``), stored with the trial."""
        self.system_attrs: dict[str, Any] = {} if new.claim is None else {"claim": new.claim}
        """aidot's and the samplers' own notes about the trial."""
        self._relative_space: dict[str, Distribution] | None = None
        self._relative: dict[str, Any] = {}
        self._fresh = False  # whether the study's trials were read for this trial's draws

    def __repr__(self) -> str:
        return f"Trial(study={self.study.study_name!r}, number={self.number})"

    # --- parameters -----------------------------------------------------------------------

    @property
    def params(self) -> dict[str, Any]:
        """The parameters suggested so far, as the objective saw them."""
        return {n: self._distributions[n].to_external_repr(v) for n, v in self._params.items()}

    @property
    def distributions(self) -> dict[str, Distribution]:
        """The distribution of each parameter suggested so far."""
        return dict(self._distributions)

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """A float in ``[low, high]``: on a log scale with ``log=True``, on the grid ``low,
        low + step, ...`` with ``step``."""
        return float(self._suggest(name, FloatDistribution(low, high, log=log, step=step)))

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        """An integer in ``[low, high]`` (``low, low + step, ...``; log scale with ``log=True``)."""
        return int(self._suggest(name, IntDistribution(low, high, log=log, step=step)))

    def suggest_categorical(
        self, name: str, choices: Sequence[CategoricalChoice]
    ) -> CategoricalChoice:
        """One of ``choices`` (None, bools, ints, floats or strings)."""
        return self._suggest(name, CategoricalDistribution(choices))  # type: ignore[no-any-return]

    def _suggest(self, name: str, distribution: Distribution) -> Any:
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"a parameter name must be a non-empty string, got {name!r}")
        if name in self._params:
            previous = self._distributions[name]
            check_compatible(name, previous, distribution)
            if previous != distribution:
                raise InvalidDistributionError(
                    f"parameter {name!r} was suggested in trial {self.number} as {previous} "
                    f"and again as {distribution}; suggest it once per trial, or with the "
                    "same range"
                )
            return previous.to_external_repr(self._params[name])
        known = self.study._known_distribution(name)
        if known is not None:
            check_compatible(name, known, distribution)
        internal = self._draw(name, distribution)
        self._params[name] = internal
        self._distributions[name] = distribution
        return distribution.to_external_repr(internal)

    def _draw(self, name: str, distribution: Distribution) -> float:
        if name in self._fixed:
            value = self._fixed[name]
            internal = distribution.to_internal_repr(value)
            if not distribution.contains(internal):
                _log.warning(
                    "trial %d: fixed value %r of %r is outside %s; using it anyway",
                    self.number,
                    value,
                    name,
                    distribution,
                )
            return internal
        if distribution.single():
            return distribution.to_internal_repr(
                distribution.choices[0]
                if isinstance(distribution, CategoricalDistribution)
                else distribution.low
            )
        sampler = self.study.sampler
        with self.study._trials.drawing(refresh=not self._fresh):
            self._fresh = True
            if self._relative_space is None:
                self._relative_space = sampler.infer_relative_search_space(self.study, self)
                if self._relative_space:
                    self._relative = sampler.sample_relative(self.study, self, self._relative_space)
            if name in self._relative and self._relative_space.get(name) == distribution:
                return distribution.to_internal_repr(self._relative[name])
            value = sampler.sample_independent(self.study, self, name, distribution)
        return distribution.to_internal_repr(value)

    # --- reports and pruning --------------------------------------------------------------

    def report(self, value: float, step: int) -> None:
        """Records an intermediate value (a validation score after epoch ``step``), which
        pruners compare across trials; a step reported twice keeps its first value."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"trial {self.number}: report() takes a number, got {value!r} "
                f"({type(value).__name__})"
            ) from None
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise InvalidArgumentError(
                f"trial {self.number}: report() takes a step that is an int >= 0, got {step!r}"
            )
        if self.study._multi_objective:
            raise InvalidArgumentError(
                "report() and pruning work on single-objective studies only; this study has "
                f"{len(self.study.directions)} objectives"
            )
        if step in self._intermediate:
            _log.warning(
                "trial %d: step %d was reported already; keeping the first value", self.number, step
            )
            return
        self._intermediate[step] = number
        if not math.isnan(number):
            self.run.log_metric("intermediate_value", number, step=step)
        self.study._save_running(self)

    def should_prune(self) -> bool:
        """Whether the study's pruner says this trial should stop now (then raise
        :class:`~aidot.tuning.TrialPruned`)."""
        if self.study._multi_objective:
            raise InvalidArgumentError(
                "should_prune() works on single-objective studies only; this study has "
                f"{len(self.study.directions)} objectives"
            )
        snapshot = self._snapshot()
        prune = bool(self.study.pruner.prune(self.study, snapshot))
        if snapshot.system_attrs != self.system_attrs:  # a pruner's notes (ASHA's rungs)
            self.system_attrs = dict(snapshot.system_attrs)
            self.study._save_running(self)
        return prune

    # --- attributes -----------------------------------------------------------------------

    def set_user_attr(self, key: str, value: Any) -> None:
        """Stores a JSON-serialisable note with the trial."""
        self.user_attrs[key] = value
        self.study._save_running(self)

    def set_system_attr(self, key: str, value: Any) -> None:
        """Stores a sampler's or pruner's note with the trial."""
        self.system_attrs[key] = value
        self.study._save_running(self)

    def _snapshot(
        self, state: TrialState = TrialState.RUNNING, values: list[float] | None = None
    ) -> FrozenTrial:
        return FrozenTrial(
            number=self.number,
            state=state,
            values=values,
            params=self.params,
            distributions=dict(self._distributions),
            intermediate_values=dict(self._intermediate),
            user_attrs=dict(self.user_attrs),
            system_attrs=dict(self.system_attrs),
            datetime_start=self.datetime_start,
            trial_id=self._id,
            run_id=self.run.id,
            _internal=dict(self._params),
        )
