"""BO with a linear scalarization: one fixed weighted sum of the objectives for the whole run.

The paper's LSBO optimises "a fixed linear combination" of the objectives; the default weights
are equal (the objectives are min-max normalised first, so equal weights are scale-free). It
finds one region of the front, not the front: that is the point of the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hwgpt.errors import InvalidInput
from hwgpt.search.optimizers.scalarized_bo import ScalarizedBO


class LinearScalarizationBO(ScalarizedBO):
    """LSBO: weighted sum with fixed weights.

    Args:
        weights: One non-negative weight per objective (normalised to sum 1); ``None``: equal.
        **kwargs: See :class:`~hwgpt.search.optimizers.scalarized_bo.ScalarizedBO`.
    """

    scalarization = "linear"

    def __init__(self, config_space: dict[str, Any], weights: Sequence[float] | None = None, **kwargs: Any) -> None:
        super().__init__(config_space, **kwargs)
        if weights is not None:
            w = np.asarray(list(weights), dtype=np.float64)
            if w.ndim != 1 or (w < 0).any() or w.sum() <= 0:
                raise InvalidInput(f"LSBO weights must be non-negative with a positive sum, got {list(weights)}")
            weights = w / w.sum()
        self.fixed_weights = weights

    def weights(self, n_objectives: int) -> np.ndarray:
        if self.fixed_weights is None:
            return np.full(n_objectives, 1.0 / n_objectives)
        if len(self.fixed_weights) != n_objectives:
            raise InvalidInput(f"LSBO has {len(self.fixed_weights)} weights for {n_objectives} objectives")
        return self.fixed_weights
