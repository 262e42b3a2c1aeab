"""Multi-objective local search: mutate a random member of the current Pareto front.

The paper's LS "explores the vicinity of Pareto-optimal points": after ``num_init_random``
uniform samples, each suggestion picks a non-dominated observation uniformly at random
(pymoo's non-dominated sorting) and changes one hyperparameter of it (Syne Tune's
``mutate_config``), preferring architectures not suggested before. This is what Syne Tune's
``MultiObjectiveLocalSearcher`` did before it was removed in 0.15.
"""

from __future__ import annotations

from typing import Any

from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

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
    """

    def __init__(
        self, config_space: dict[str, Any], points_to_evaluate: list[dict] | None = None,
        random_seed: int | None = None, scale: str | None = None, num_init_random: int = 10,
    ) -> None:
        super().__init__(config_space, points_to_evaluate, random_seed, scale)
        if num_init_random < 1:
            raise InvalidInput(f"num_init_random must be >= 1, got {num_init_random}")
        self.num_init_random = num_init_random

    def _suggest(self) -> dict[str, Any]:
        configs, Y = self.observations()
        if len(configs) < self.num_init_random:
            return self.random_config()
        front = NonDominatedSorting().do(Y, only_non_dominated_front=True)
        parent = configs[int(self.random_state.choice(front))]
        return self.mutate(parent)
