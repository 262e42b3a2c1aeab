"""Scalarized Bayesian optimisation: one botorch GP on a scalarization of the objectives.

Each suggestion scalarizes the (normalised, minimised) observations with weights from
:meth:`ScalarizedBO.weights`, fits botorch's ``SingleTaskGP`` (standardised outcome, inferred
noise) to the negated scalar, and returns the candidate with the largest ``LogExpectedImprovement``
from a pool of ``num_candidates`` uniform random configs plus ``num_local`` one-hyperparameter
mutations of the best observations under the current scalarization (the pool replaces
gradient-based acquisition optimisation, which does not suit a categorical space). Architectures
already suggested are left out of the pool.

Inputs: with ``scale`` given, the search space's numeric encoding (:meth:`hwgpt.SearchSpace.encode`,
ordinal per field, 0 in inactive layer slots) divided by its largest value; otherwise Syne Tune's
one-hot encoding of the config space. Subclasses choose the scalarization and the weights.

Budgets (:mod:`hwgpt.search.constraints`): constrained expected improvement (Gardner et al., 2014).
A second GP is fitted to the observed slack ``max_c log(value_c / budget_c)`` (``<= 0``: feasible);
the acquisition is ``log EI`` over the best *feasible* scalarization plus ``log P(slack <= 0)``, and
before the first feasible observation the probability of feasibility alone. Local candidates
mutate the best feasible observations first.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from syne_tune.optimizer.schedulers.searchers.utils import make_hyperparameter_ranges

from hwgpt.errors import InvalidInput
from hwgpt.search.optimizers.base import MOSearcher
from hwgpt.search.optimizers.bo_bound import WarmStart, check_subset, fit_subset

log = logging.getLogger(__name__)


class ScalarizedBO(MOSearcher):
    """Base of RSBO and LSBO.

    Args:
        config_space: Syne Tune config space.
        points_to_evaluate: Configs to suggest first.
        random_seed: Seed (numpy and the torch seeds of each fit).
        scale: Search-space preset (numeric encoding and canonical configs).
        num_init_random: Uniform samples before the first GP fit (at least 2).
        num_candidates: Uniform random configs in the acquisition pool.
        num_local: Mutations of the best observed configs in the pool.
        max_num_observations: Fit on this many observations at most (see ``subset``).
        fit_maxiter: L-BFGS iterations of a GP hyperparameter fit from the defaults (``None``: botorch's
            default, about 5x slower here for a marginal likelihood within 1% of the capped fit's).
        subset: Which observations once there are more than ``max_num_observations``: ``front`` (the
            non-dominated ones, the most recent, a random rest) or ``random``
            (:func:`hwgpt.search.optimizers.bo_bound.fit_subset`).
        warm_start: Start each fit from the previous step's hyperparameters, with ``warm_maxiter``
            iterations; every ``refit_every``-th fit from the defaults
            (:class:`hwgpt.search.optimizers.bo_bound.WarmStart`).
    """

    scalarization = "linear"

    def __init__(
        self, config_space: dict[str, Any], points_to_evaluate: list[dict] | None = None,
        random_seed: int | None = None, scale: str | None = None, num_init_random: int = 10,
        num_candidates: int = 256, num_local: int = 64, max_num_observations: int | None = 200,
        fit_maxiter: int | None = 50, subset: str = "front", warm_start: bool = True, warm_maxiter: int = 10,
        refit_every: int = 10,
    ) -> None:
        super().__init__(config_space, points_to_evaluate, random_seed, scale)
        if num_init_random < 2 or num_candidates + num_local < 1:
            raise InvalidInput(
                f"need num_init_random >= 2 and a non-empty pool, got {num_init_random}, {num_candidates}+{num_local}"
            )
        self.num_init_random, self.num_candidates, self.num_local = num_init_random, num_candidates, num_local
        self.max_num_observations, self.fit_maxiter = max_num_observations, fit_maxiter
        self.subset = check_subset(subset)
        self.warm = WarmStart(warm_start, warm_maxiter, refit_every)
        if self.space is None:
            self._hp_ranges = make_hyperparameter_ranges(config_space)
        else:
            self._scale = self.space.encode(self.space.largest())
            self._scale[self._scale == 0] = 1.0

    # ----------------------------------------------------------- subclass hooks
    def weights(self, n_objectives: int) -> np.ndarray:
        """Scalarization weights of the next suggestion (non-negative, summing to 1)."""
        raise NotImplementedError

    def scalarize(self, Y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Scalar to minimise: weighted sum, or augmented Chebyshev ``max(w*y) + 0.05 * sum(w*y)``."""
        if self.scalarization == "chebyshev":
            return (Y * w).max(axis=1) + 0.05 * (Y * w).sum(axis=1)
        return (Y * w).sum(axis=1)

    # ------------------------------------------------------------------ the BO
    def encode(self, configs: list[dict[str, Any]]) -> np.ndarray:
        """Configs -> GP inputs in ``[0, 1]``."""
        if self.space is None:
            return np.asarray(self._hp_ranges.to_ndarray_matrix(configs), dtype=np.float64)
        return self.space.encode([self.space.from_config(c) for c in configs]) / self._scale

    def _pool(self, configs: list[dict[str, Any]], s: np.ndarray) -> list[dict[str, Any]]:
        best = [configs[i] for i in np.argsort(s)[:5]]
        pool = [self.random_config() for _ in range(self.num_candidates)]
        pool += [self.mutate(best[j % len(best)], max_tries=5) for j in range(self.num_local)]
        unique: dict[str, dict[str, Any]] = {}
        for c in pool:
            k = self.key(c)
            if k not in self.seen:
                unique.setdefault(k, c)
        return list(unique.values()) or pool

    def _suggest(self) -> dict[str, Any]:
        configs, Y = self.observations()
        if len(configs) < self.num_init_random:
            return self.random_config()
        keep = fit_subset(Y, self.max_num_observations, self.random_state, self.subset)
        if keep is not None:
            configs, Y = [configs[i] for i in keep], Y[keep]
        s = self.scalarize(Y, self.weights(Y.shape[1]))
        pool = self._pool(configs, s + 1e3 * self.violations(configs))  # budgets: mutate feasible ones first
        torch_seed = int(self.random_state.randint(2**31 - 1))
        try:
            if self.constrained:
                slack = np.array([self.slacks.get(self.key(c), 0.0) for c in configs], dtype=np.float64)
                values = self._constrained_values(self.encode(configs), s, slack, self.encode(pool), torch_seed)
                return pool[int(torch.argmax(values))]
            acq = self._fit_acquisition(self.encode(configs), -s, torch_seed, self.fit_maxiter)
            with torch.no_grad():
                values = acq(torch.as_tensor(self.encode(pool), dtype=torch.float64).unsqueeze(1))
            return pool[int(torch.argmax(values))]
        except Exception as e:  # botorch raises many kinds of numerical errors; a random pick keeps the run going
            log.warning("GP fit or acquisition failed (%s: %s); suggesting a random candidate", type(e).__name__, e)
            return pool[int(self.random_state.randint(len(pool)))]

    def _constrained_values(self, X: np.ndarray, s: np.ndarray, slack: np.ndarray, X_pool: np.ndarray,
                            seed: int) -> torch.Tensor:
        """Constrained EI of the pool: ``log EI`` (best *feasible* scalarization as incumbent) plus
        ``log P(slack <= 0)`` from a GP on the observed slacks; before any feasible observation, the
        probability of feasibility alone (Gardner et al., 2014)."""
        from torch.special import log_ndtr

        Xp = torch.as_tensor(X_pool, dtype=torch.float64)
        gp = self._fit_gp(X, slack, seed, self.fit_maxiter, "slack")
        with torch.no_grad():
            post = gp.posterior(Xp)
            mu, sd = post.mean.squeeze(-1), post.variance.clamp_min(1e-12).sqrt().squeeze(-1)
            log_pof = log_ndtr(-mu / sd)
        feasible = slack <= 0
        if not feasible.any():
            return log_pof
        acq = self._fit_acquisition(X, -s, seed, self.fit_maxiter, best_f=float(np.max(-s[feasible])))
        with torch.no_grad():
            return acq(Xp.unsqueeze(1)) + log_pof

    def _fit_gp(self, X: np.ndarray, y: np.ndarray, seed: int, maxiter: int | None, name: str = "objective") -> Any:
        """botorch ``SingleTaskGP`` (standardised outcome) fitted to ``y`` (warm-started, see ``warm_start``)."""
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from gpytorch.mlls import ExactMarginalLogLikelihood

        torch.manual_seed(seed)
        gp = SingleTaskGP(torch.as_tensor(X, dtype=torch.float64),
                          torch.as_tensor(y, dtype=torch.float64).unsqueeze(-1), outcome_transform=Standardize(m=1))
        maxiter = self.warm.start(name, gp, maxiter)
        options = {} if maxiter is None else {"optimizer_kwargs": {"options": {"maxiter": int(maxiter)}}}
        fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp), **options)
        self.warm.keep(name, gp)
        return gp

    def _fit_acquisition(self, X: np.ndarray, y: np.ndarray, seed: int, maxiter: int | None,
                         best_f: float | None = None) -> Any:
        from botorch.acquisition.analytic import LogExpectedImprovement

        gp = self._fit_gp(X, y, seed, maxiter)
        return LogExpectedImprovement(gp, best_f=float(np.max(y)) if best_f is None else best_f)
