"""MOREA: Syne Tune's ``MultiObjectiveRegularizedEvolution`` with mutations that change the architecture.

Syne Tune's mutation changes one hyperparameter of the parent config, and about a third of the
per-layer slots are inactive (layers ``>= n_layer``): such a mutation leaves the architecture as
it was, and re-evaluates a duplicate (58 unique archs in 60 evaluations before this fix). Here a
mutation is redrawn until the child's canonical architecture differs from the parent's and from
every architecture suggested so far (up to ``max_tries``); everything else is Syne Tune's.
"""

from __future__ import annotations

import json
from typing import Any

from syne_tune.optimizer.schedulers.multiobjective.multi_objective_regularized_evolution import (
    MultiObjectiveRegularizedEvolution,
)
from syne_tune.optimizer.schedulers.searchers.regularized_evolution import mutate_config, sample_random_config

from hwgpt.search_space import SearchSpace


class MOREA(MultiObjectiveRegularizedEvolution):
    """Multi-objective regularized evolution on canonical architectures.

    Args:
        config_space: Syne Tune config space.
        scale: Search-space preset the config space came from (canonical configs).
        max_tries: Redraws of a mutation (or a random sample) that gives an architecture seen before.
        **kwargs: Syne Tune's ``population_size``, ``sample_size``, ``points_to_evaluate``, ``random_seed``.
    """

    def __init__(self, config_space: dict[str, Any], scale: str, max_tries: int = 50, **kwargs: Any) -> None:
        super().__init__(config_space, **kwargs)
        self.space = SearchSpace.from_name(scale)
        self.max_tries = int(max_tries)
        self.seen: set[str] = set()

    def key(self, config: dict[str, Any]) -> str:
        return json.dumps(self.space.to_config(self.space.from_config(config)), sort_keys=True, default=str)

    def suggest(self, **kwargs: Any) -> dict | None:
        config = self._next_points_to_evaluate()
        if config is None:
            if len(self.population) < self.population_size:
                draw = lambda: sample_random_config(config_space=self.config_space, rng=self.random_state)  # noqa: E731
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
        self.seen.add(self.key(config))
        return config

    def on_trial_complete(self, trial_id: int, config: dict[str, Any], metrics: list[float]) -> None:
        self.seen.add(self.key(config))
        super().on_trial_complete(trial_id, config, metrics)
