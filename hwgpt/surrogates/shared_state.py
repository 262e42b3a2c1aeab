"""Noise shared by an architecture's back-to-back repeats: a Gaussian-copula random effect on the PIT scale.

A surrogate's quantiles describe the distribution of *one* observation of an architecture. Whether repeats
of that architecture are independent draws from it is a separate question. On most published devices they
nearly are (what differs between archs is explained by the arch), but on the V100 series an architecture's
10 back-to-back runs share a device state (clock/power level) that differs from arch to arch: its repeats are
strongly correlated, so the median of 10 repeats is almost as spread as a single run. Treating repeats as
independent then makes the interval of a 10-repeat measurement far too narrow.

Model: the probability-integral transform ``u = F(y)`` of each observation under the arch's predictive
distribution is mapped to a normal score ``z = Phi^-1(u)``; the repeats of one arch are
``z_j = sqrt(icc) * z_0 + sqrt(1 - icc) * w_j`` with ``z_0, w_j`` independent standard normals. Every single
observation keeps exactly the surrogate's calibrated marginal (so its intervals stay calibrated), while
the median of ``r`` repeats is ``Q(Phi(sqrt(icc) z_0 + sqrt(1 - icc) median(w)))``: ``icc = 0`` gives the
independent-repeat behaviour, ``icc = 1`` makes every repeat equal. ``icc`` is the one-way ANOVA
intra-class correlation of the normal scores, estimated on calibration archs (:func:`estimate_icc`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from hwgpt.errors import InvalidInput
from hwgpt.surrogates.distribution import U_EPS


def pit(levels: np.ndarray, q: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``F(y)`` per row: the inverse of :func:`hwgpt.surrogates.distribution.inverse_cdf` (same tails).

    Args:
        levels: ``(K,)`` increasing quantile levels.
        q: ``(n, K)`` non-decreasing quantiles (fit space).
        y: ``(n,)`` observations (fit space).
    """
    levels = np.asarray(levels, dtype=np.float64)
    q = np.atleast_2d(np.asarray(q, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    if q.shape != (len(y), len(levels)):
        raise InvalidInput(f"pit: quantiles of shape {q.shape} do not match {len(y)} observations x {len(levels)} "
                           "levels")
    u = np.full(len(y), np.nan)
    for k in range(len(levels) - 1):
        lo, hi = q[:, k], q[:, k + 1]
        m = (y >= lo) & (y <= hi) & np.isnan(u)
        width = np.where(hi > lo, hi - lo, 1.0)
        frac = np.where(hi > lo, (y - lo) / width, 0.5)
        u[m] = (levels[k] + frac * (levels[k + 1] - levels[k]))[m]
    lo_scale = np.maximum((q[:, 1] - q[:, 0]) / np.log(levels[1] / levels[0]), 1e-12)
    hi_scale = np.maximum((q[:, -1] - q[:, -2]) / np.log((1 - levels[-2]) / (1 - levels[-1])), 1e-12)
    below, above = y < q[:, 0], y > q[:, -1]
    u[below] = levels[0] * np.exp(-(q[below, 0] - y[below]) / lo_scale[below])
    u[above] = 1 - (1 - levels[-1]) * np.exp(-(y[above] - q[above, -1]) / hi_scale[above])
    return np.clip(u, U_EPS, 1 - U_EPS)


def estimate_icc(z: np.ndarray, groups: np.ndarray) -> float:
    """One-way random-effects intra-class correlation ICC(1) of ``z`` by group (unbalanced groups: ``k0``).

    Raises:
        InvalidInput: fewer than two groups, or no group with two or more values.
    """
    s = pd.Series(np.asarray(z, dtype=np.float64)).groupby(np.asarray(groups))
    n_i = s.size().to_numpy()
    if len(n_i) < 2 or n_i.max() < 2:
        raise InvalidInput(f"estimate_icc needs >= 2 groups with repeats; got {len(n_i)} groups, at most "
                           f"{n_i.max() if len(n_i) else 0} values each")
    N, a = n_i.sum(), len(n_i)
    means, grand = s.mean().to_numpy(), float(np.mean(z))
    ss_b = float((n_i * (means - grand) ** 2).sum())
    ss_w = float(s.apply(lambda v: ((v - v.mean()) ** 2).sum()).sum())
    ms_b, ms_w = ss_b / (a - 1), ss_w / max(N - a, 1)
    k0 = (N - (n_i ** 2).sum() / N) / (a - 1)
    icc = (ms_b - ms_w) / (ms_b + (k0 - 1) * ms_w) if ms_b + (k0 - 1) * ms_w > 0 else 0.0
    return float(np.clip(icc, 0.0, 1.0))


def median_of_repeats_levels(icc: float, repeats: int, coverage: float, n: int = 200_000,
                             seed: int = 0) -> tuple[float, float]:
    """Quantile levels ``(lo, hi)`` of the predictive distribution that bound the central ``coverage``
    interval of the median of ``repeats`` repeats (Monte Carlo, ``n`` draws; exact in the limit).

    The interval of a ``repeats``-median measurement of an arch is then ``Q(lo), Q(hi)`` of its quantiles.
    """
    if not 0.0 <= icc <= 1.0:
        raise InvalidInput(f"icc={icc!r}: must be in [0, 1]")
    if repeats < 1:
        raise InvalidInput(f"repeats={repeats!r}: must be >= 1")
    rng = np.random.default_rng(seed)
    w = np.median(rng.standard_normal((n, repeats)), axis=1)
    z = np.sqrt(icc) * rng.standard_normal(n) + np.sqrt(1 - icc) * w
    a = (1 - coverage) / 2
    zl, zh = np.quantile(z, [a, 1 - a])
    return float(norm.cdf(zl)), float(norm.cdf(zh))


def sample_median_of_repeats(levels: np.ndarray, q: np.ndarray, icc: float, repeats: int,
                             rng: np.random.Generator) -> np.ndarray:
    """One simulated ``repeats``-median measurement per row of ``q`` (fit space) under the shared-state model."""
    from hwgpt.surrogates.distribution import inverse_cdf

    n = len(q)
    w = np.median(rng.standard_normal((n, repeats)), axis=1)
    z = np.sqrt(icc) * rng.standard_normal(n) + np.sqrt(1 - icc) * w
    return inverse_cdf(levels, q, norm.cdf(z))
