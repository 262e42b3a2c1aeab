"""Expected hypervolume improvement: Syne Tune's ``ExpectedHyperVolumeImprovement``, reference point fixed.

Syne Tune negates the objectives (botorch maximises) and uses the fixed reference point ``+2``
in that maximisation space, i.e. a point is only counted when ``-y > 2``, ``y < -2``. Fed
normalised objectives in ``[0, 1]`` it would see no point dominating the reference and the
hypervolume improvement would be zero almost everywhere. This subclass shifts the metrics it is
told by ``-(2 + reference)``, so Syne Tune's reference point lands on ``reference`` in normalised
units, the same reference point (1.1) the run's hypervolume uses. Everything else (double-
precision ``ModelListGP``, ``qLogExpectedHypervolumeImprovement``) is Syne Tune's.
"""

from __future__ import annotations

import logging
from typing import Any

from syne_tune.optimizer.schedulers.multiobjective.expected_hyper_volume_improvement import (
    ExpectedHyperVolumeImprovement,
)

_SYNE_TUNE_REFERENCE = 2.0


class EHVISearcher(ExpectedHyperVolumeImprovement):
    """EHVI for objectives normalised so that the reference point is ``reference`` in every objective.

    Args:
        config_space: Syne Tune config space.
        reference: Reference point (per objective, in the units the searcher is told).
        **kwargs: Passed to Syne Tune's ``ExpectedHyperVolumeImprovement``.
    """

    def __init__(self, config_space: dict[str, Any], reference: float = 1.1, **kwargs: Any) -> None:
        super().__init__(config_space, **kwargs)
        self.reference = float(reference)

    def on_trial_complete(self, trial_id: int, config: dict[str, Any], metrics: list[float]) -> None:
        shift = _SYNE_TUNE_REFERENCE + self.reference
        super().on_trial_complete(trial_id, config, [float(m) - shift for m in metrics])

    def _sample_next_candidate(self) -> dict | None:
        # Syne Tune catches only NotPSDError and ModelFittingError; botorch raises other numerical errors too.
        try:
            return super()._sample_next_candidate()
        except Exception as e:
            logging.getLogger(__name__).warning(
                "EHVI fit or acquisition failed (%s: %s); suggesting a random config", type(e).__name__, e
            )
            return self._get_random_config()
