"""BO with random scalarizations (Paria et al., 2020): a new random Chebyshev scalarization per step.

Weights are drawn from a flat Dirichlet (uniform on the simplex) at every suggestion, so over
the run the scalarized problems cover the whole Pareto front; see
:class:`~hwgpt.search.optimizers.scalarized_bo.ScalarizedBO` for the GP and the acquisition.
"""

from __future__ import annotations

import numpy as np

from hwgpt.search.optimizers.scalarized_bo import ScalarizedBO


class RandomScalarizationBO(ScalarizedBO):
    """RSBO: augmented Chebyshev scalarization with Dirichlet(1) weights drawn per suggestion."""

    scalarization = "chebyshev"

    def weights(self, n_objectives: int) -> np.ndarray:
        return self.random_state.dirichlet(np.ones(n_objectives))
