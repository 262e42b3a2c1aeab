"""Quantile functions: rearrangement, inverse-CDF sampling with extrapolated tails, pinball loss.

A predictive distribution is stored as its quantiles ``q[:, k]`` at the levels ``levels[k]``
(fit space, e.g. log seconds). Between levels the quantile function is linear; beyond the outer
levels it continues with an exponential tail whose scale matches the outermost segment,
``q(u) = q_K + s * log((1 - tau_K) / (1 - u))`` on the right (mirrored on the left). In log space
that is a Pareto tail in the original units: long-tailed like contended latencies, yet finite.
"""

from __future__ import annotations

import math

import numpy as np

from hwgpt.libm import exp, log

__all__ = ["U_EPS", "exp", "inverse_cdf", "log", "pinball", "rearrange", "sample"]

U_EPS = 1e-6
"""Uniform draws are clipped to ``[U_EPS, 1 - U_EPS]`` so the tails stay finite."""


def rearrange(q: np.ndarray) -> np.ndarray:
    """Sort quantiles along the last axis (Chernozhukov et al.'s rearrangement): no crossing."""
    return np.sort(q, axis=-1)


def inverse_cdf(levels: np.ndarray, q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Evaluate each row's quantile function at its own ``u``.

    Args:
        levels: ``(K,)`` increasing quantile levels in (0, 1), ``K >= 2``.
        q: ``(n, K)`` non-decreasing quantiles per row.
        u: ``(n,)`` probabilities, or ``(n, m)``: ``m`` of them per row.

    Returns:
        ``Q_i(u_i)``, shaped like ``u``.
    """
    levels = np.asarray(levels, dtype=np.float64)
    q = np.atleast_2d(np.asarray(q, dtype=np.float64))
    u = np.clip(np.asarray(u, dtype=np.float64), U_EPS, 1 - U_EPS)
    K = len(levels)
    j = np.clip(np.searchsorted(levels, u), 1, K - 1)
    t0, t1 = levels[j - 1], levels[j]
    flat = q.ravel()
    at = j + (np.arange(len(q)) * K).reshape((len(q),) + (1,) * (u.ndim - 1))  # q[i, j] in the flat array
    q0, q1 = flat[at - 1], flat[at]
    # The operations and their order are those of the scalar path (hwgpt.simulation.cache.QuantileTable.value):
    # + - * / round the same in numpy's vector loops as in Python, logs go through math.log.
    out = q0 + (q1 - q0) * (u - t0) / (t1 - t0)
    lo, hi = u < levels[0], u > levels[-1]
    if lo.any():
        r = np.nonzero(lo)[0]
        lo_log = math.log(float(levels[1]) / float(levels[0]))
        out[lo] = q[r, 0] - (q[r, 1] - q[r, 0]) / lo_log * log(levels[0] / u[lo])
    if hi.any():
        r = np.nonzero(hi)[0]
        hi_log = math.log((1 - float(levels[-2])) / (1 - float(levels[-1])))
        out[hi] = q[r, -1] + (q[r, -1] - q[r, -2]) / hi_log * log((1 - levels[-1]) / (1 - u[hi]))
    return out


def sample(levels: np.ndarray, q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One inverse-CDF draw per row of ``q``."""
    return inverse_cdf(levels, q, rng.random(len(q)))


def pinball(levels: np.ndarray, q: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pinball (quantile) loss per level, averaged over rows: ``(K,)``."""
    diff = np.asarray(y, dtype=np.float64)[:, None] - q
    tau = np.asarray(levels, dtype=np.float64)[None, :]
    return np.maximum(tau * diff, (tau - 1) * diff).mean(axis=0)
