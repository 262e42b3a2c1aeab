"""Multi-objective local search: mutate a random member of the current Pareto front.

The paper's LS "explores the vicinity of Pareto-optimal points": after ``num_init_random``
uniform samples, each suggestion picks a non-dominated observation uniformly at random and
changes one hyperparameter of it that changes the architecture, to an architecture not suggested
before (a uniform pick from the parent's unexplored neighbourhood, :meth:`MOSearcher.neighbours`).
This is what Syne Tune's ``MultiObjectiveLocalSearcher`` did before it was removed in 0.15, with
two changes that make a long run linear rather than quadratic in its length:

* the front is kept up to date as results come (a new point is compared with the front only),
  instead of a non-dominated sort of every observation per suggestion;
* a parent whose neighbourhood is used up is set aside for the rest of the run (Syne Tune's
  ``mutate_config`` redrew until it gave up and suggested a duplicate; at 2,000 evaluations ~1/3
  of the suggestions were duplicates, each after 50 redraws). When the whole front's
  neighbourhood is used up, the suggestion is a uniform random config (a restart).

Suggestions come ``batch_size`` at a time: each batch is drawn from the front as it is when the
batch starts (as Syne Tune's searchers do with ``batch_size`` trials pending), so the runner can
evaluate a batch ahead in one call (:meth:`LocalSearcher.upcoming`). ``batch_size=1`` is the
fully sequential search.

Budgets (:mod:`hwgpt.search.constraints`): feasibility-first selection. The front holds the
non-dominated *feasible* observations (judged on what was observed); while none is feasible, it is
the least violating observation, so parents come from the feasible region as soon as there is one.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from hwgpt.errors import InvalidInput
from hwgpt.search.optimizers.base import MOSearcher


class LocalSearcher(MOSearcher):
    """Pareto local search.

    Args:
        config_space: Syne Tune config space.
        points_to_evaluate: Configs to suggest first.
        random_seed: Seed.
        scale: Search-space preset (canonical configs; see :class:`MOSearcher`).
        num_init_random: Uniform samples before the first mutation (at least 1).
        batch_size: Suggestions drawn from one state of the front (at least 1).
    """

    def __init__(
        self, config_space: dict[str, Any], points_to_evaluate: list[dict] | None = None,
        random_seed: int | None = None, scale: str | None = None, num_init_random: int = 10,
        batch_size: int = 1,
    ) -> None:
        super().__init__(config_space, points_to_evaluate, random_seed, scale)
        if isinstance(num_init_random, bool) or not isinstance(num_init_random, int) or num_init_random < 1:
            raise InvalidInput(f"num_init_random must be an int >= 1, got {num_init_random!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.num_init_random, self.batch_size = num_init_random, batch_size
        self._front: list[tuple[dict[str, Any], np.ndarray, Any]] = []  # non-dominated (config, metrics, key)
        self._exhausted: set[Any] = set()  # keys of parents whose neighbourhood is used up
        self._batch: deque[dict[str, Any]] = deque()
        self._n_told = 0
        self._front_violation = 0.0  # under budgets: the violation shared by the front (0: feasible)

    @property
    def front(self) -> list[dict[str, Any]]:
        """Configs of the non-dominated observations so far (in the order they were told)."""
        return [c for c, _, _ in self._front]

    def on_trial_complete(self, trial_id: int, config: dict[str, Any], metrics: list[float]) -> None:
        super().on_trial_complete(trial_id, config, metrics)
        self._n_told += 1
        y = np.asarray(metrics, dtype=np.float64)
        if self.constrained:  # feasibility first: a front of feasible observations, else the least violating one
            v = float(self.violations([config])[0])
            if self._front and v > self._front_violation:
                return
            if not self._front or v < self._front_violation:
                self._front, self._front_violation = [(dict(config), y, self.key(config))], v
                return
        entry = (dict(config), y, self.key(config))
        if not self._front:
            self._front.append(entry)
            return
        F = np.array([f for _, f, _ in self._front])
        if ((F <= y).all(axis=1) & (F < y).any(axis=1)).any():
            return  # dominated: the front stays
        keep = ~((y <= F).all(axis=1) & (y < F).any(axis=1))
        self._front = [m for m, k in zip(self._front, keep.tolist(), strict=True) if k]
        self._front.append(entry)

    def _draw(self) -> dict[str, Any]:
        """One suggestion from the current front (the seen set includes the batch so far)."""
        if self._n_told < self.num_init_random:
            return self.random_config()
        parents = [(c, k) for c, _, k in self._front if k not in self._exhausted]
        while parents:
            j = int(self.random_state.randint(len(parents)))
            fresh = [c for c in self.neighbours(parents[j][0]) if self.key(c) not in self.seen]
            if fresh:
                return fresh[int(self.random_state.randint(len(fresh)))]
            self._exhausted.add(parents.pop(j)[1])
        return self.random_config()

    def _fill(self) -> None:
        if self._n_told < self.num_init_random:
            k = self.num_init_random - self._n_told
        else:
            k = self.batch_size
        for _ in range(k):
            config = self._draw()
            self.seen.add(self.key(config))
            self._batch.append(config)

    def _suggest(self) -> dict[str, Any]:
        if not self._batch:
            self._fill()
        return self._batch.popleft()

    def upcoming(self, n: int) -> list[dict[str, Any]]:
        if self.points_to_evaluate:
            return super().upcoming(n)
        if not self._batch:
            self._fill()
        return [dict(c) for c in list(self._batch)[:n]]
