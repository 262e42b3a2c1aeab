"""What bounds a BO step's cost (issue 19): the observations a GP is fitted on, and warm-started fits.

A BO step of rsbo, lsbo and ehvi fits GPs by maximising their marginal likelihood (L-BFGS, a few ms per
iteration at 100-200 observations), then scores candidates. Two things bound it here:

* **The fitted subset** (:func:`fit_subset`): at most ``cap`` observations, chosen as the non-dominated
  observations first (at most half the cap; a random subset of them when there are more), then the most
  recent ones (a quarter of the cap), then a uniform random sample of the rest. The front is where the
  acquisition has to be accurate, the recent points are where the search is, the random rest keeps the
  model honest elsewhere. Syne Tune (and hwgpt before) took a uniform random subset: the front could be
  left out of the model that is asked where to improve it.
* **Warm starts** (:class:`WarmStart`): each fit starts from the hyperparameters of the previous step's
  fit (the data changed by one observation) and runs at most ``warm_maxiter`` L-BFGS iterations; every
  ``refit_every``-th fit starts from the defaults with the full iteration budget, so a fit never stays
  stuck where an early, small data set put it.

Both are optimizer settings (``conf/optimizer/{rsbo,lsbo,ehvi}.yaml``): ``subset: random`` and
``warm_start: false`` restore the earlier behaviour. The hypervolumes with and without are compared
side by side in docs/guide/optimizers.md ("BO at real budgets").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwgpt.errors import InvalidInput

SUBSETS = ("front", "random")
"""How the fitted observations are chosen once there are more than the cap (see :func:`fit_subset`)."""


def check_subset(subset: str) -> str:
    if subset not in SUBSETS:
        raise InvalidInput(f"subset must be one of {list(SUBSETS)}, got {subset!r}")
    return subset


def nondominated(Y: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``Y`` (minimised), duplicates kept."""
    import moocore

    if len(Y) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(moocore.is_nondominated(np.asarray(Y, dtype=np.float64), keep_weakly=True), dtype=bool)


def fit_subset(Y: np.ndarray, cap: int | None, rng: np.random.RandomState, subset: str = "front",
               recent: float = 0.25) -> np.ndarray | None:
    """Indices (ascending) of the observations a GP is fitted on; ``None``: all of them.

    Args:
        Y: Observations ``(n, m)`` in completion order, minimised.
        cap: At most this many (``None``: no cap).
        rng: Random draws (the random part of the subset).
        subset: ``front``: the non-dominated observations first (at most ``cap // 2``, a random subset
            of them when there are more), then the ``int(recent * cap)`` most recent of the rest, then
            a uniform random sample of the rest; ``random``: a uniform random subset (Syne Tune's).
        recent: Share of the cap given to the most recent observations (``front`` only).
    """
    n = len(Y)
    if cap is None or n <= cap:
        return None
    if subset == "random":
        return np.sort(rng.choice(n, cap, replace=False))
    front = np.flatnonzero(nondominated(Y))
    if len(front) > cap // 2:
        front = rng.choice(front, cap // 2, replace=False)
    taken = np.zeros(n, dtype=bool)
    taken[front] = True
    rest = np.flatnonzero(~taken)
    last = rest[len(rest) - min(len(rest), int(recent * cap), cap - len(front)):]
    taken[last] = True
    rest = np.flatnonzero(~taken)
    fill = cap - int(taken.sum())
    if fill > 0:
        taken[rng.choice(rest, fill, replace=False)] = True
    return np.flatnonzero(taken)


class WarmStart:
    """Hyperparameters of the previous fit, to start the next one from (per model name).

    Args:
        enabled: Warm-start at all (``False``: every fit starts from the defaults).
        maxiter: L-BFGS iterations of a warm-started fit.
        refit_every: Every this many fits (per name) start from the defaults with the full budget.
    """

    def __init__(self, enabled: bool = True, maxiter: int = 10, refit_every: int = 10) -> None:
        if isinstance(maxiter, bool) or not isinstance(maxiter, int) or maxiter < 1:
            raise InvalidInput(f"warm_maxiter must be an int >= 1, got {maxiter!r}")
        if isinstance(refit_every, bool) or not isinstance(refit_every, int) or refit_every < 1:
            raise InvalidInput(f"refit_every must be an int >= 1, got {refit_every!r}")
        self.enabled, self.maxiter, self.refit_every = bool(enabled), maxiter, refit_every
        self._params: dict[str, dict[str, Any]] = {}
        self._fits: dict[str, int] = {}

    def start(self, name: str, model: Any, full_maxiter: int | None) -> int | None:
        """Load the previous hyperparameters of ``name`` into ``model`` (same parameter names and shapes)
        when this fit is a warm one; returns the L-BFGS iterations for this fit."""
        k = self._fits.get(name, 0)
        self._fits[name] = k + 1
        prev = self._params.get(name)
        if not self.enabled or prev is None or k % self.refit_every == 0:
            return full_maxiter
        import torch

        with torch.no_grad():
            for pname, p in model.named_parameters():
                v = prev.get(pname)
                if v is not None and v.shape == p.shape:
                    p.copy_(v)
        return self.maxiter if full_maxiter is None else min(self.maxiter, full_maxiter)

    def keep(self, name: str, model: Any) -> None:
        """Remember the fitted hyperparameters of ``name``."""
        if self.enabled:
            self._params[name] = {k: p.detach().clone() for k, p in model.named_parameters()}
