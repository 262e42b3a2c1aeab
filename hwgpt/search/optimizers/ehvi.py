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

Bounded step (issue 19): :meth:`EHVISearcher._bounded_candidate` is Syne Tune's step with the fitted
observations chosen by :func:`~hwgpt.search.optimizers.bo_bound.fit_subset` (the front, the most recent,
a random rest; ``subset=random``: Syne Tune's random subset), each objective's GP warm-started from the
previous step's hyperparameters (:class:`~hwgpt.search.optimizers.bo_bound.WarmStart`), and the best
scored candidate whose architecture was not suggested before (``skip_seen``; Syne Tune may suggest an
evaluated one, which the runner answers from the history: a BO step for nothing). With
``subset=random warm_start=false skip_seen=false`` it is Syne Tune's step.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from syne_tune.optimizer.schedulers.multiobjective import expected_hyper_volume_improvement as _st_ehvi
from syne_tune.optimizer.schedulers.multiobjective.expected_hyper_volume_improvement import (
    ExpectedHyperVolumeImprovement,
)

from hwgpt.search.optimizers.bo_bound import WarmStart, check_subset, fit_subset

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
        subset: Observations fitted once there are more than ``max_num_observations``: ``front``
            (:func:`hwgpt.search.optimizers.bo_bound.fit_subset`) or ``random`` (Syne Tune's).
        warm_start, warm_maxiter, refit_every: Warm-started fits
            (:class:`hwgpt.search.optimizers.bo_bound.WarmStart`); ``warm_start=False``: Syne Tune's.
        fit_maxiter: L-BFGS iterations of a fit from the defaults (``None``: botorch's default, Syne Tune's).
        skip_seen: Suggest the best candidate whose architecture was not suggested before (the random
            strategy); ``False``: the best candidate, as Syne Tune (a duplicate is a BO step for nothing).
        **kwargs: Passed to Syne Tune's ``ExpectedHyperVolumeImprovement``.
    """

    def __init__(self, config_space: dict[str, Any], reference: float = 1.1, acq_batch: int = 16,
                 partitioning: str = "fast", subset: str = "front", warm_start: bool = True,
                 warm_maxiter: int = 10, refit_every: int = 10, fit_maxiter: int | None = None,
                 skip_seen: bool = True, **kwargs: Any) -> None:
        from hwgpt.errors import InvalidInput, check_int

        super().__init__(config_space, **kwargs)
        self.subset = check_subset(subset)
        self.warm = WarmStart(warm_start, warm_maxiter, refit_every)
        self.fit_maxiter = fit_maxiter
        self.skip_seen = bool(skip_seen)
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
        try:
            return self._bounded_candidate()
        except Exception as e:
            logging.getLogger(__name__).warning(
                "EHVI fit or acquisition failed (%s: %s); suggesting a random config", type(e).__name__, e
            )
            return self._get_random_config()

    def _bounded_candidate(self) -> dict | None:
        """Syne Tune's ``_sample_next_candidate`` (0.16) with the step bounded (module docstring, "Bounded
        step"): the fitted subset, warm-started fits, the chunked acquisition, the partitioning, and the
        best candidate not suggested before."""
        import numpy as np
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.optim import optimize_acqf
        from botorch.sampling import SobolQMCNormalSampler
        from gpytorch.mlls.sum_marginal_log_likelihood import SumMarginalLogLikelihood

        X = np.array(self._config_to_feature_matrix(self._configs_with_results()))
        objectives = self.objectives()
        Y = torch.Tensor(objectives)
        Y *= -1  # botorch maximises
        cap = self.max_num_observations
        subsample = False
        if self.subset == "random":  # Syne Tune's: a random permutation's first cap
            if cap is not None and len(X) >= cap:
                perm = self.random_state.permutation(len(X))[:cap]
                X, Y, subsample = X[perm], Y[perm], True
        else:
            keep = fit_subset(objectives, cap, self.random_state, self.subset)
            if keep is not None:
                X, Y, subsample = X[keep], Y[keep], True
        gp = self._make_gp(X_tensor=torch.Tensor(X), Y_tensor=Y)
        maxiter = [self.warm.start(f"objective{i}", m, self.fit_maxiter) for i, m in enumerate(gp.models)][-1]
        options = {} if maxiter is None else {"optimizer_kwargs": {"options": {"maxiter": int(maxiter)}}}
        fit_gpytorch_mll(SumMarginalLogLikelihood(gp.likelihood, gp), max_attempts=1, **options)
        for i, m in enumerate(gp.models):
            self.warm.keep(f"objective{i}", m)

        X_pending = None
        if self.pending_trials and self.fantasising and not subsample:
            X_pending = self._config_to_feature_matrix(self._configs_pending())
        ref_point = torch.ones(Y.shape[1]) * _SYNE_TUNE_REFERENCE
        acq = _st_ehvi.qLogExpectedHypervolumeImprovement(
            model=gp, ref_point=ref_point, partitioning=PARTITIONINGS[self.partitioning]()(ref_point=ref_point, Y=Y),
            sampler=SobolQMCNormalSampler(torch.Size([self.mc_samples])), X_pending=X_pending,
        )
        if self.optimization_strategy == "gradient":
            candidate, _ = optimize_acqf(acq, bounds=self._get_gp_bounds(), q=1, num_restarts=self.num_restarts,
                                         raw_samples=self.num_raw_samples)
            return self._config_from_ndarray(candidate.detach().numpy()[0])
        Xr = torch.rand(self.num_raw_samples, len(self._hp_ranges.get_ndarray_bounds()))
        values = _Chunked(acq, self.acq_batch)(Xr[:, None, :])
        seen = {_key(c) for c in self.trial_configs.values()} if self.skip_seen else set()
        for i in torch.argsort(values, descending=True, stable=True).tolist():
            config = self._config_from_ndarray(Xr[i].numpy())
            if _key(config) not in seen:
                return config
        return self._config_from_ndarray(Xr[int(values.argmax())].numpy())


def _key(config: dict[str, Any]) -> Any:
    """Identity of a config's architecture (canonical for the search space's configs)."""
    from hwgpt.search.optimizers.base import canonical_key

    try:
        return canonical_key(config)
    except (KeyError, TypeError, ValueError):
        return json.dumps(config, sort_keys=True, default=str)


class _Chunked:
    """An acquisition function called on ``(n, 1, d)`` candidates, ``size`` of them at a time, without
    autograd (the random strategy only takes the argmax: no graph need be kept)."""

    def __init__(self, acq: Any, size: int) -> None:
        self.acq, self.size = acq, size

    def __call__(self, X: Any) -> Any:
        import torch

        with torch.no_grad():
            return torch.cat([self.acq(X[i:i + self.size]) for i in range(0, len(X), self.size)])
