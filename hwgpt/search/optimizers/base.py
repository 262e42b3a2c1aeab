"""Base class of hwgpt's multi-objective searchers, on Syne Tune's searcher interface.

Syne Tune 0.16 dropped NSGA-II, MO local search and the scalarized BO searchers; ours implement
its :class:`~syne_tune.optimizer.schedulers.searchers.searcher.BaseSearcher` hooks
(``suggest`` / ``on_trial_complete``), so they run under Syne Tune's schedulers and its
ask/tell loop like the ones it still ships. Hooks for subclasses: :meth:`MOSearcher._suggest`.

All randomness comes from ``self.random_state`` (seeded by ``random_seed``), never from numpy's
global generator. With ``scale`` given, configs are compared in canonical form (layer slots at
``i >= n_layer`` are inactive, see :meth:`hwgpt.SearchSpace.to_config`), so a mutation that
only touches an inactive slot does not count as a new architecture.

Fast path (issue 19): :meth:`MOSearcher.key` reads the active entries of a config directly (no
decode and validate, no JSON); :meth:`MOSearcher.random_configs` samples many configs in one
numpy call per hyperparameter (the same distribution as Syne Tune's per-config sampling: each
categorical uniform and independent); :meth:`MOSearcher.upcoming` is the hook through which the
runner computes the next suggestions' evaluations ahead in one batch.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from syne_tune.config_space import non_constant_hyperparameter_keys
from syne_tune.optimizer.schedulers.searchers.regularized_evolution import mutate_config
from syne_tune.optimizer.schedulers.searchers.searcher import BaseSearcher

from hwgpt.search_space import SearchSpace


def canonical_key(config: dict[str, Any]) -> tuple:
    """Identity of the architecture of a :meth:`hwgpt.SearchSpace.to_syne_tune` config: its active entries."""
    n = int(config["n_layer"])
    return (config["embed_dim"], n, int(config["bias"]), *(config[f"n_head_{i}"] for i in range(n)),
            *(config[f"mlp_ratio_{i}"] for i in range(n)))


def random_configs(config_space: dict[str, Any], rng: np.random.RandomState, n: int) -> list[dict[str, Any]]:
    """``n`` uniform random configs of ``config_space`` from ``rng``, one numpy draw per hyperparameter.

    Each categorical is uniform over its categories and independent of the others (the
    distribution of Syne Tune's ``Categorical.sample``, config by config); other domains are
    sampled one value at a time; constants are copied.
    """
    columns = {}
    for k, v in config_space.items():
        cats = getattr(v, "categories", None)
        if cats is not None:
            columns[k] = [cats[i] for i in rng.randint(len(cats), size=n).tolist()]
        elif hasattr(v, "sample"):
            columns[k] = [v.sample(random_state=rng) for _ in range(n)]
        else:
            columns[k] = [v] * n
    keys = list(columns)
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns.values(), strict=True)]


class RandomBuffer:
    """Uniform random configs drawn ``chunk`` at a time (:func:`random_configs`), handed out one by one."""

    def __init__(self, config_space: dict[str, Any], rng: np.random.RandomState, chunk: int = 64) -> None:
        self.config_space, self.rng, self.chunk = config_space, rng, chunk
        self._buffer: list[dict[str, Any]] = []

    def __call__(self) -> dict[str, Any]:
        if not self._buffer:
            self._buffer = random_configs(self.config_space, self.rng, self.chunk)[::-1]
        return self._buffer.pop()


class MOSearcher(BaseSearcher):
    """Seeded multi-objective searcher with a record of its completed trials.

    Args:
        config_space: Syne Tune config space (e.g. ``SearchSpace.to_syne_tune()``).
        points_to_evaluate: Configs to suggest first, in order.
        random_seed: Seed of ``self.random_state``.
        scale: Search-space preset the config space came from (enables canonical configs).
    """

    def __init__(
        self, config_space: dict[str, Any], points_to_evaluate: list[dict] | None = None,
        random_seed: int | None = None, scale: str | None = None,
    ) -> None:
        super().__init__(config_space, points_to_evaluate=points_to_evaluate, random_seed=random_seed)
        self.random_state = np.random.RandomState(self.random_seed)
        self.space = SearchSpace.from_name(scale) if scale else None
        self._keys = non_constant_hyperparameter_keys(config_space)
        self.trial_configs: dict[int, dict[str, Any]] = {}
        self.trial_metrics: dict[int, list[float]] = {}
        self.seen: set[Any] = set()
        self._random = RandomBuffer(config_space, self.random_state)

    # ---------------------------------------------------------------- helpers
    def canonical(self, config: dict[str, Any]) -> dict[str, Any]:
        """The canonical form of ``config`` (itself without a ``scale``)."""
        return self.space.to_config(self.space.from_config(config)) if self.space else dict(config)

    def key(self, config: dict[str, Any]) -> Any:
        """Identity of the architecture a config describes (hashable; equal for equal architectures).

        With a ``scale``: the tuple of its active entries (embedding, depth, bias, then heads and MLP
        ratios of layers ``< n_layer``), read straight from the config (see
        :meth:`hwgpt.SearchSpace.to_syne_tune`); without one, the sorted items of the config.
        """
        return canonical_key(config) if self.space else json.dumps(config, sort_keys=True, default=str)

    def random_configs(self, n: int) -> list[dict[str, Any]]:
        """``n`` uniform random configs from ``self.random_state`` (see :func:`random_configs`)."""
        return random_configs(self.config_space, self.random_state, n)

    def random_config(self) -> dict[str, Any]:
        """A uniform random config from ``self.random_state`` (drawn in bulk, 64 at a time)."""
        return self._random()

    def neighbours(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        """Every config that changes one hyperparameter of ``config`` and so changes the architecture.

        With a ``scale``, entries of inactive layer slots (``i >= n_layer``) are left out (changing
        them changes nothing); otherwise every non-constant hyperparameter counts.
        """
        keys = self._keys
        if self.space is not None:
            n = int(config["n_layer"])
            keys = [k for k in keys if not (k.startswith(("n_head_", "mlp_ratio_")) and int(k.rsplit("_", 1)[1]) >= n)]
        out = []
        for k in keys:
            for v in self.config_space[k].categories:
                if v != config[k]:
                    child = dict(config)
                    child[k] = v
                    out.append(child)
        return out

    def mutate(self, config: dict[str, Any], max_tries: int = 50) -> dict[str, Any]:
        """Change one hyperparameter (Syne Tune's ``mutate_config``) so that the architecture changes.

        Prefers children not suggested before; gives up on that after ``max_tries``.
        """
        parent, child = self.key(config), dict(config)
        for _ in range(max_tries):
            child = mutate_config(config, config_space=self.config_space, rng=self.random_state)
            k = self.key(child)
            if k != parent and k not in self.seen:
                return child
        return child

    def upcoming(self, n: int) -> list[dict[str, Any]]:
        """The configs :meth:`suggest` will return next, in order, if nothing new is told before.

        Up to ``n`` of them, without consuming them (the runner evaluates them ahead in one batch,
        see :func:`hwgpt.search.runner.optimize`); ``[]`` when the searcher cannot tell. A guess
        that turns out wrong costs time, never a different result.
        """
        return list(self.points_to_evaluate[:n]) if self.points_to_evaluate else []

    def observations(self) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Completed configs and their metrics ``(n, m)``, in completion order."""
        ids = list(self.trial_metrics)
        Y = np.array([self.trial_metrics[i] for i in ids], dtype=np.float64)
        return [self.trial_configs[i] for i in ids], Y

    # ------------------------------------------------------------ Syne Tune hooks
    def suggest(self, **kwargs: Any) -> dict[str, Any] | None:
        config = self._next_points_to_evaluate()
        if config is None:
            config = self._suggest()
        self.seen.add(self.key(config))
        return config

    def on_trial_complete(self, trial_id: int, config: dict[str, Any], metrics: list[float]) -> None:
        self.trial_configs[trial_id] = dict(config)
        self.trial_metrics[trial_id] = [float(m) for m in metrics]
        self.seen.add(self.key(config))

    def _suggest(self) -> dict[str, Any]:
        """The next config (``points_to_evaluate`` are already used up)."""
        raise NotImplementedError

    # ------------------------------------------------------------- budgets
    constrained = False

    def enable_constraints(self) -> None:
        """The run has budgets (:mod:`hwgpt.search.constraints`): each result comes with its slack."""
        self.constrained = True
        self.slacks: dict[Any, float] = {}

    def observe_constraints(self, config: dict[str, Any], slack: float) -> None:
        """Slack ``max_c log(value_c / budget_c)`` of an evaluation (``<= 0``: feasible), told before its result."""
        self.slacks[self.key(config)] = float(slack)

    def violations(self, configs: list[dict[str, Any]]) -> np.ndarray:
        """``max(0, slack)`` per config (0 without budgets): feasibility-first ranking."""
        if not self.constrained:
            return np.zeros(len(configs))
        return np.maximum(0.0, np.array([self.slacks.get(self.key(c), 0.0) for c in configs], dtype=np.float64))
