"""NSGA-II (Deb et al., 2002): pymoo's ``NSGA2`` driven through its ask/tell interface.

Each hyperparameter becomes an integer variable, the index of its choice; pymoo's integer recipe
is used for variation (SBX crossover and polynomial mutation on the relaxed indices, rounded
back). pymoo asks for a whole generation (``population_size`` individuals); they are suggested
one by one, and the generation is told back once all of them are complete; the runner evaluates
the rest of a generation ahead in one batch (:meth:`NSGA2Searcher.upcoming`). With ``scale``
given, a repair maps every individual to its canonical config, so pymoo's duplicate elimination
sees architectures rather than encodings.

Budgets (:mod:`hwgpt.search.constraints`): pymoo's constraint domination. The problem gets one
inequality constraint, ``G = slack`` (``max_c log(value_c / budget_c)`` of the observation, ``<= 0``
feasible), set on every individual with its objectives: survival keeps feasible individuals first
and fills up with the least violating, and binary tournaments prefer the feasible one.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.duplicate import DefaultDuplicateElimination
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair
from pymoo.core.termination import NoTermination
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.rnd import IntegerRandomSampling

from hwgpt.errors import InvalidInput
from hwgpt.search.optimizers.base import MOSearcher


class _Canonical(Repair):
    """Round to choice indices and replace each individual by its canonical config (in index space:
    inactive layer slots take the last active layer's choice, as :meth:`hwgpt.SearchSpace.to_config`)."""

    def __init__(self, searcher: NSGA2Searcher) -> None:
        super().__init__()
        self.searcher = searcher

    def _do(self, problem: Problem, X: np.ndarray, **kwargs: Any) -> np.ndarray:
        return self.searcher.canonical_indices(np.rint(X).astype(int))


class _NotSeen(DefaultDuplicateElimination):
    """pymoo's duplicate elimination (within the offspring and against the population), and also
    against every architecture suggested so far: pymoo alone re-proposed evaluated architectures
    (2,889 duplicates answered from the history in a 3,000-evaluation run).

    pymoo's rule (``DefaultDuplicateElimination``: a row at distance <= 1e-16 from an earlier row, or from
    a row of the other population) is applied by hashing the rows: they are choice indices (integers), so
    two rows are at distance 0 or at least 1, and equal rows are the duplicates, the same ones, without the
    all-pairs distances. ``tests/search/test_search_fastpath.py`` checks the two against each other.
    """

    def __init__(self, searcher: NSGA2Searcher) -> None:
        super().__init__()
        self.searcher = searcher

    def _do(self, pop: Any, other: Any, is_duplicate: np.ndarray) -> np.ndarray:
        rows = _rows(pop)
        if other is None:  # a row equal to an earlier row
            first: set[tuple] = set()
            for i, r in enumerate(rows):
                if r in first:
                    is_duplicate[i] = True
                else:
                    first.add(r)
        else:
            others = set(_rows(other))
            for i, r in enumerate(rows):
                if r in others:
                    is_duplicate[i] = True
        return is_duplicate

    def do(self, pop: Any, *args: Any, return_indices: bool = False, to_itself: bool = True) -> Any:
        out = super().do(pop, *args, return_indices=return_indices, to_itself=to_itself)
        s = self.searcher
        if return_indices or not s.seen or len(out) == 0:
            return out
        new = [k not in s.seen for k in s.keys_of_rows(out.get("X"))]
        return out[np.asarray(new, dtype=bool)]


def _rows(pop: Any) -> list[tuple]:
    """The rows of a population's ``X`` as tuples of floats (``+ 0.0``: -0.0 is 0.0, as for a distance)."""
    return list(map(tuple, (np.asarray(pop.get("X"), dtype=np.float64) + 0.0).tolist()))


class NSGA2Searcher(MOSearcher):
    """NSGA-II behind Syne Tune's searcher interface.

    Args:
        config_space: Syne Tune config space (categorical choices).
        points_to_evaluate: Configs to suggest first (not part of pymoo's population).
        random_seed: Seed of pymoo's generator.
        scale: Search-space preset (canonical configs; see :class:`MOSearcher`).
        population_size: Individuals per generation.
        crossover_prob: Probability of SBX crossover per mating.
        crossover_eta: SBX distribution index (small: children far from parents).
        mutation_eta: Polynomial-mutation distribution index.
    """

    def __init__(
        self, config_space: dict[str, Any], points_to_evaluate: list[dict] | None = None,
        random_seed: int | None = None, scale: str | None = None, population_size: int = 20,
        crossover_prob: float = 0.9, crossover_eta: float = 3.0, mutation_eta: float = 3.0,
    ) -> None:
        super().__init__(config_space, points_to_evaluate, random_seed, scale)
        if population_size < 2:
            raise InvalidInput(f"population_size must be >= 2, got {population_size}")
        self._choices = [list(config_space[k].categories) for k in self._keys]
        # the config space is the scale's own (keys and choices of to_syne_tune()): keys_of_rows reads rows
        space_cs = self.space.to_syne_tune() if self.space else {}
        self._space_choices = list(self._keys) == list(space_cs) and self._choices == [
            list(v.categories) for v in space_cs.values()]
        xu = np.array([len(c) - 1 for c in self._choices])
        # n_obj is a placeholder: objective values are set on the population before tell().
        problem = Problem(n_var=len(self._keys), n_obj=2, xl=np.zeros_like(xu), xu=xu, vtype=int)
        self.algorithm = NSGA2(
            pop_size=population_size,
            sampling=IntegerRandomSampling(),
            crossover=SBX(prob=crossover_prob, eta=crossover_eta, vtype=float, repair=RoundingRepair()),
            mutation=PM(eta=mutation_eta, vtype=float, repair=RoundingRepair()),
            repair=_Canonical(self) if self.space else RoundingRepair(),
            eliminate_duplicates=_NotSeen(self),
        )
        self.algorithm.setup(problem, termination=NoTermination(), seed=self.random_seed, verbose=False)
        self._generation = None
        self._queue: deque[int] = deque()
        self._pending: dict[str, deque[int]] = defaultdict(deque)
        self._F: dict[int, list[float]] = {}
        self._G: dict[int, float] = {}

    def enable_constraints(self) -> None:
        """Budgets: pymoo's constraint domination, one inequality ``G = slack <= 0`` per individual."""
        super().enable_constraints()
        old = self.algorithm.problem
        problem = Problem(n_var=old.n_var, n_obj=2, n_ieq_constr=1, xl=old.xl, xu=old.xu, vtype=int)
        self.algorithm.setup(problem, termination=NoTermination(), seed=self.random_seed, verbose=False)

    def canonical_indices(self, X: np.ndarray) -> np.ndarray:
        """Rows of choice indices in canonical form (with a ``scale``; else unchanged)."""
        if self.space is None or "n_layer" not in self._keys:
            return X
        X = X.copy()
        pos = {k: j for j, k in enumerate(self._keys)}
        n = np.asarray(self._choices[pos["n_layer"]])[X[:, pos["n_layer"]]]
        for field in ("n_head", "mlp_ratio"):
            cols = [pos.get(f"{field}_{i}") for i in range(self.space.max_layers)]
            if None in cols:
                continue
            last = X[np.arange(len(X)), np.asarray(cols)[n - 1]]
            for i, c in enumerate(cols):
                X[:, c] = np.where(i >= n, last, X[:, c])
        return X

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """Choice indices -> config (constant entries of the config space included)."""
        config = {k: v for k, v in self.config_space.items() if k not in self._keys}
        config.update({k: self._choices[j][int(i)] for j, (k, i) in enumerate(zip(self._keys, x, strict=True))})
        return config

    def keys_of_rows(self, X: np.ndarray) -> list[Any]:
        """``[self.key(self.decode(x)) for x in X]``, without building the configs where the key is the
        canonical one (a ``scale``, the space's own config space): the rows decoded in bulk
        (:meth:`hwgpt.SearchSpace.from_choice_indices`), each arch's active entries in ``canonical_key``'s order."""
        if not self._space_choices:
            return [self.key(self.decode(x)) for x in X]
        return [(a.embed_dim, a.n_layer, int(a.bias), *a.n_head, *a.mlp_ratio)
                for a in self.space.from_choice_indices(np.asarray(X).astype(np.int64))]

    def encode(self, config: dict[str, Any]) -> np.ndarray:
        """Config -> choice indices."""
        return np.array([self._choices[j].index(config[k]) for j, k in enumerate(self._keys)], dtype=int)

    def _ask_generation(self) -> None:
        if self._generation is None:
            self._generation = self.algorithm.ask()
            self._queue = deque(range(len(self._generation)))
            self._F, self._G = {}, {}

    def upcoming(self, n: int) -> list[dict[str, Any]]:
        """The rest of the current generation (asking pymoo for the next one when none is pending)."""
        if self.points_to_evaluate:
            return super().upcoming(n)
        self._ask_generation()
        return [self.decode(self._generation[i].X) for i in list(self._queue)[:n]]

    def _suggest(self) -> dict[str, Any]:
        self._ask_generation()
        if not self._queue:  # asked again before the generation completed (asynchronous use)
            return self.random_config()
        i = self._queue.popleft()
        config = self.decode(self._generation[i].X)
        self._pending[self.key(config)].append(i)
        return config

    def on_trial_complete(self, trial_id: int, config: dict[str, Any], metrics: list[float]) -> None:
        super().on_trial_complete(trial_id, config, metrics)
        waiting = self._pending.get(self.key(config))
        if not waiting:
            return  # a points_to_evaluate or fallback config: not part of the generation
        i = waiting.popleft()
        self._F[i] = [float(m) for m in metrics]
        if self.constrained:
            self._G[i] = self.slacks.get(self.key(config), 0.0)
        if self._generation is not None and len(self._F) == len(self._generation):
            self._generation.set("F", np.array([self._F[i] for i in range(len(self._generation))]))
            if self.constrained:
                G = np.array([[self._G[i]] for i in range(len(self._generation))])
                self._generation.set("G", G, "CV", np.maximum(G, 0.0))
            self.algorithm.tell(infills=self._generation)
            self._generation = None
