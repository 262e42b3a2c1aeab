"""MOREA: Syne Tune's ``MultiObjectiveRegularizedEvolution`` with mutations that change the architecture.

Syne Tune's mutation changes one hyperparameter of the parent config, and about a third of the
per-layer slots are inactive (layers ``>= n_layer``): such a mutation leaves the architecture as
it was, and re-evaluates a duplicate (58 unique archs in 60 evaluations before this fix). Here a
mutation is redrawn until the child's canonical architecture differs from the parent's and from
every architecture suggested so far (up to ``max_tries``); everything else is Syne Tune's.

Fast path (issue 19): the initial population is sampled in one numpy draw per hyperparameter
(from the searcher's seeded generator; Syne Tune 0.16 samples it from numpy's global one), and
offspring come ``batch_size`` at a time, each batch bred from the population as it is when the
batch starts (what Syne Tune's MOREA does with ``batch_size`` trials pending); the population is
ranked after every result with the same priorities as Syne Tune's ``NonDominatedPriority``, computed
in ``O(n log n)`` (:class:`~hwgpt.search.optimizers.moasha.FastNonDominatedPriority`). The runner
evaluates the initial population and each batch of offspring ahead in one call
(:meth:`MOREA.upcoming`). ``batch_size=1`` is Syne Tune's sequential algorithm.

Budgets (:mod:`hwgpt.search.constraints`): feasibility-first scores. Feasible members are ranked
among themselves; every infeasible member scores behind all of them, by its violation, so a
tournament picks a feasible parent whenever its sample holds one.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from syne_tune.optimizer.schedulers.multiobjective.multi_objective_regularized_evolution import (
    MultiObjectiveRegularizedEvolution,
)
from syne_tune.optimizer.schedulers.searchers.regularized_evolution import mutate_config

from hwgpt.errors import InvalidInput
from hwgpt.search.optimizers.base import RandomBuffer, canonical_key
from hwgpt.search.optimizers.moasha import FastNonDominatedPriority
from hwgpt.search_space import SearchSpace


class MOREA(MultiObjectiveRegularizedEvolution):
    """Multi-objective regularized evolution on canonical architectures.

    Args:
        config_space: Syne Tune config space.
        scale: Search-space preset the config space came from (canonical configs).
        max_tries: Redraws of a mutation (or a random sample) that gives an architecture seen before.
        batch_size: Offspring bred from one state of the population (at least 1).
        **kwargs: Syne Tune's ``population_size``, ``sample_size``, ``points_to_evaluate``, ``random_seed``.
    """

    def __init__(self, config_space: dict[str, Any], scale: str, max_tries: int = 50, batch_size: int = 1,
                 **kwargs: Any) -> None:
        kwargs.setdefault("multiobjective_priority", FastNonDominatedPriority())  # Syne Tune's default, faster
        super().__init__(config_space, **kwargs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.space = SearchSpace.from_name(scale)
        self.max_tries = int(max_tries)
        self.batch_size = batch_size
        self.seen: set[Any] = set()
        self._random = RandomBuffer(config_space, self.random_state)
        self._batch: deque[dict[str, Any]] = deque()

    def key(self, config: dict[str, Any]) -> Any:
        return canonical_key(config)

    def _draw(self, random: bool) -> dict[str, Any]:
        """One new config: a random one, or a mutation of a tournament winner of the population."""
        if random:
            draw = self._random
            parent_key = None
        else:
            candidates = self.random_state.choice(list(self.population), size=self.sample_size)
            parent = min(candidates, key=lambda i: i.score)
            parent_key = self.key(parent.config)
            draw = lambda: mutate_config(parent.config, config_space=self.config_space,  # noqa: E731
                                         rng=self.random_state)
        for _ in range(self.max_tries):
            config = draw()
            k = self.key(config)
            if k != parent_key and k not in self.seen:
                break
        return config

    def _fill(self) -> None:
        missing = self.population_size - len(self.population)
        random = missing > 0
        for _ in range(missing if random else self.batch_size):
            config = self._draw(random)
            self.seen.add(self.key(config))
            self._batch.append(config)

    def upcoming(self, n: int) -> list[dict[str, Any]]:
        """The configs :meth:`suggest` returns next (the rest of the initial sample or of the batch)."""
        if self.points_to_evaluate:
            return [dict(c) for c in self.points_to_evaluate[:n]]
        if not self._batch:
            self._fill()
        return [dict(c) for c in list(self._batch)[:n]]

    def suggest(self, **kwargs: Any) -> dict | None:
        config = self._next_points_to_evaluate()
        if config is None:
            if not self._batch:
                self._fill()
            config = self._batch.popleft()
        self.seen.add(self.key(config))
        return config

    def on_trial_complete(self, trial_id: int, config: dict[str, Any], metrics: list[float]) -> None:
        self.seen.add(self.key(config))
        super().on_trial_complete(trial_id, config, metrics)
        if self.constrained:
            self._rescore()

    # ------------------------------------------------------------- budgets
    constrained = False

    def enable_constraints(self) -> None:
        """Budgets: feasibility-first scores (see :meth:`_rescore`)."""
        self.constrained = True
        self.slacks: dict[Any, float] = {}

    def observe_constraints(self, config: dict[str, Any], slack: float) -> None:
        self.slacks[self.key(config)] = float(slack)

    def _rescore(self) -> None:
        """Feasible members are ranked among themselves (Syne Tune's priority); every infeasible member
        scores behind all of them, ordered by violation: tournaments pick a feasible parent when they can."""
        import numpy as np

        pop = list(self.population)
        v = np.array([max(0.0, self.slacks.get(self.key(p.config), 0.0)) for p in pop])
        feasible = np.flatnonzero(v <= 0)
        top = 0.0
        if len(feasible):
            scores = self._multiobjective_priority(np.array([pop[i].results for i in feasible], dtype=np.float64))
            for i, s in zip(feasible.tolist(), np.asarray(scores).tolist(), strict=True):
                pop[i].score = s
            top = float(np.max(scores))
        for i in np.flatnonzero(v > 0).tolist():
            pop[i].score = top + 1.0 + float(v[i])
