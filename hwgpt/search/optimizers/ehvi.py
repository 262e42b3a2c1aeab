"""Expected hypervolume improvement: Syne Tune's ``ExpectedHyperVolumeImprovement``, reference point fixed.

Syne Tune negates the objectives (botorch maximises) and uses the fixed reference point ``+2``
in that maximisation space, i.e. a point is only counted when ``-y > 2``, ``y < -2``. Fed
normalised objectives in ``[0, 1]`` it would see no point dominating the reference and the
hypervolume improvement would be zero almost everywhere. This subclass shifts the metrics it is
told by ``-(2 + reference)``, so Syne Tune's reference point lands on ``reference`` in normalised
units, the same reference point (1.1) the run's hypervolume uses. Everything else (double-
precision ``ModelListGP``, ``qLogExpectedHypervolumeImprovement``) is Syne Tune's, with one change:
the random-candidate strategy scores its ``num_raw_samples`` candidates ``acq_batch`` at a time and
without autograd. Syne Tune scores all of them in one call with autograd on (it only takes the
argmax, but the graph of every candidate's posterior and hypervolume cells is kept); a 3-objective
run at S grew to 24 GB and was killed by the OOM killer, and one BO step took over 4.5 minutes.
Chunked and without the graph: ~0.6 GB and 4-11 s per step, the same choice (candidates are scored
independently; tested).

Budgets (:mod:`hwgpt.search.constraints`): a penalty, not botorch's constrained EHVI. botorch's
``qLogExpectedHypervolumeImprovement`` takes outcome ``constraints``, but Syne Tune builds the
``ModelListGP`` over the objectives only and calls the acquisition itself; adding an outcome model
would mean re-implementing its searcher. Instead an observation that breaks a budget is told as
``max(y, reference) + slack`` in every objective: outside the reference box, it adds no
hypervolume improvement, and the GPs learn that its region scores badly.

Partitioning (issue 19): Syne Tune splits the non-dominated region into boxes with botorch's
``NondominatedPartitioning``; with three objectives that gives many boxes (1,680 for 60 observations of
the paper's 3-objective case at S), and the acquisition's cost grows with them: one BO step at 90
observations took 527 s on a loaded 2-core machine. ``partitioning=fast`` (the default) uses botorch's
``FastNondominatedPartitioning`` instead, another exact decomposition of the same region into far fewer
boxes (84 for those 60 observations): the Monte Carlo EHVI is the same (tested: equal values), and
botorch's log-EHVI, which smooths the max/min over each box, moves slightly (within 1% at the top,
the same best candidate, tested; on those 60 observations the same top-5 of 64 candidates in 1/60 of
the time). ``partitioning=exact`` is Syne Tune's.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from unittest import mock

from syne_tune.optimizer.schedulers.multiobjective import expected_hyper_volume_improvement as _st_ehvi
from syne_tune.optimizer.schedulers.multiobjective.expected_hyper_volume_improvement import (
    ExpectedHyperVolumeImprovement,
)

_SYNE_TUNE_REFERENCE = 2.0


def _exact() -> Any:
    from botorch.utils.multi_objective.box_decompositions.non_dominated import NondominatedPartitioning

    return NondominatedPartitioning


def _fast() -> Any:
    from botorch.utils.multi_objective.box_decompositions.non_dominated import FastNondominatedPartitioning

    return FastNondominatedPartitioning


PARTITIONINGS = {"fast": _fast, "exact": _exact}
"""How the non-dominated region is split into boxes: botorch's fast one or Syne Tune's (``exact``)."""


class EHVISearcher(ExpectedHyperVolumeImprovement):
    """EHVI for objectives normalised so that the reference point is ``reference`` in every objective.

    Args:
        config_space: Syne Tune config space.
        reference: Reference point (per objective, in the units the searcher is told).
        acq_batch: Candidates scored per acquisition call (memory bound; same result for any value).
        partitioning: ``fast`` or ``exact`` box decomposition of the non-dominated region (module docstring).
        **kwargs: Passed to Syne Tune's ``ExpectedHyperVolumeImprovement``.
    """

    def __init__(self, config_space: dict[str, Any], reference: float = 1.1, acq_batch: int = 16,
                 partitioning: str = "fast", **kwargs: Any) -> None:
        from hwgpt.errors import InvalidInput, check_int

        super().__init__(config_space, **kwargs)
        self.reference = float(reference)
        self.acq_batch = check_int("acq_batch", acq_batch, min=1)
        if partitioning not in PARTITIONINGS:
            raise InvalidInput(f"partitioning must be one of {list(PARTITIONINGS)}, got {partitioning!r}")
        self.partitioning = partitioning

    def on_trial_complete(self, trial_id: int, config: dict[str, Any], metrics: list[float]) -> None:
        shift = _SYNE_TUNE_REFERENCE + self.reference
        if self.constrained:  # budgets: an infeasible observation is told outside the reference box
            from hwgpt.search.constraints import told_metrics

            slack = self.slacks.get(json.dumps(config, sort_keys=True, default=str), 0.0)
            metrics = told_metrics(metrics, slack, "ehvi", self.reference)
        super().on_trial_complete(trial_id, config, [float(m) - shift for m in metrics])

    constrained = False

    def enable_constraints(self) -> None:
        """Budgets: the documented penalty (module docstring)."""
        self.constrained = True
        self.slacks: dict[str, float] = {}

    def observe_constraints(self, config: dict[str, Any], slack: float) -> None:
        self.slacks[json.dumps(config, sort_keys=True, default=str)] = float(slack)

    def _sample_next_candidate(self) -> dict | None:
        # Syne Tune catches only NotPSDError and ModelFittingError; botorch raises other numerical errors too.
        real = _st_ehvi.qLogExpectedHypervolumeImprovement
        chunked = real
        if self.optimization_strategy == "random":  # the gradient strategy needs the graph: Syne Tune's own call
            chunked = lambda **kw: _Chunked(real(**kw), self.acq_batch)  # noqa: E731
        partitioning = PARTITIONINGS[self.partitioning]()
        try:
            with mock.patch.object(_st_ehvi, "qLogExpectedHypervolumeImprovement", chunked), \
                    mock.patch.object(_st_ehvi, "NondominatedPartitioning", partitioning):
                return super()._sample_next_candidate()
        except Exception as e:
            logging.getLogger(__name__).warning(
                "EHVI fit or acquisition failed (%s: %s); suggesting a random config", type(e).__name__, e
            )
            return self._get_random_config()


class _Chunked:
    """An acquisition function called on ``(n, 1, d)`` candidates, ``size`` of them at a time, without
    autograd (the random strategy only takes the argmax: no graph need be kept)."""

    def __init__(self, acq: Any, size: int) -> None:
        self.acq, self.size = acq, size

    def __call__(self, X: Any) -> Any:
        import torch

        with torch.no_grad():
            return torch.cat([self.acq(X[i:i + self.size]) for i in range(0, len(X), self.size)])
