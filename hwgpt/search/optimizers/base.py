"""Base class of hwgpt's multi-objective searchers, on Syne Tune's searcher interface.

Syne Tune 0.16 dropped NSGA-II, MO local search and the scalarized BO searchers; ours implement
its :class:`~syne_tune.optimizer.schedulers.searchers.searcher.BaseSearcher` hooks
(``suggest`` / ``on_trial_complete``), so they run under Syne Tune's schedulers and its
ask/tell loop like the ones it still ships. Hooks for subclasses: :meth:`MOSearcher._suggest`.

All randomness comes from ``self.random_state`` (seeded by ``random_seed``), never from numpy's
global generator. With ``scale`` given, configs are compared in canonical form (layer slots at
``i >= n_layer`` are inactive, see :meth:`hwgpt.SearchSpace.to_config`), so a mutation that
only touches an inactive slot does not count as a new architecture.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from syne_tune.config_space import non_constant_hyperparameter_keys
from syne_tune.optimizer.schedulers.searchers.regularized_evolution import mutate_config
from syne_tune.optimizer.schedulers.searchers.searcher import BaseSearcher

from hwgpt.search_space import SearchSpace


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
        self.seen: set[str] = set()

    # ---------------------------------------------------------------- helpers
    def canonical(self, config: dict[str, Any]) -> dict[str, Any]:
        """The canonical form of ``config`` (itself without a ``scale``)."""
        return self.space.to_config(self.space.from_config(config)) if self.space else dict(config)

    def key(self, config: dict[str, Any]) -> str:
        """Identity of the architecture a config describes."""
        return json.dumps(self.canonical(config), sort_keys=True, default=str)

    def random_config(self) -> dict[str, Any]:
        """A uniform random config from ``self.random_state``."""
        return {
            k: v.sample(random_state=self.random_state) if hasattr(v, "sample") else v
            for k, v in self.config_space.items()
        }

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
