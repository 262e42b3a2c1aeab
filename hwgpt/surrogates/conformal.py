"""Split-conformal calibration of quantile pairs (conformalized quantile regression).

Romano, Patterson and Candes (2019): for the pair of quantiles ``(tau, 1 - tau)`` predicted by
any model, the conformity score of a calibration point is ``E = max(q_lo - y, y - q_hi)``; the
``ceil((n + 1)(1 - alpha)) / n`` empirical quantile ``Q`` of the scores widens (``Q > 0``) or
narrows (``Q < 0``) the interval ``[q_lo - Q, q_hi + Q]``, which then covers a new exchangeable
point with probability >= ``1 - alpha = 1 - 2 tau``.

Every symmetric pair of levels in the grid gets its own correction, so the whole quantile
function (not only the reported intervals) is calibrated; the result is rearranged (sorted) so
quantiles never cross. Where a negative correction would invert an interval (lower above upper,
i.e. empty), sorting turns it into a short non-empty one: coverage can then exceed the nominal level
(conservative), never fall below what the correction alone gives.
"""

from __future__ import annotations

import math

import numpy as np

from hwgpt.surrogates.distribution import rearrange


def level_key(level: float) -> str:
    """Canonical string of a central level (``0.9 -> "0.9"``), used as dict/JSON key."""
    return f"{float(level):g}"


def central_pairs(levels: np.ndarray | list[float]) -> dict[str, tuple[int, int]]:
    """Symmetric pairs in ``levels``: central level key -> (index of tau, index of 1 - tau)."""
    lv = [float(x) for x in levels]
    pairs = {}
    for i, t in enumerate(lv):
        if t >= 0.5:
            continue
        for j, s in enumerate(lv):
            if abs(s - (1 - t)) < 1e-9:
                pairs[level_key(round(1 - 2 * t, 9))] = (i, j)
    return dict(sorted(pairs.items(), key=lambda kv: float(kv[0])))


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The finite-sample-corrected ``level`` quantile of ``scores`` (the largest score if n is small)."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(s)
    if n == 0:
        raise ValueError("conformal calibration needs at least one calibration point")
    k = min(n, math.ceil((n + 1) * level))
    return float(s[k - 1])


def fit_corrections(levels: np.ndarray, q_cal: np.ndarray, y_cal: np.ndarray) -> dict[str, float]:
    """One CQR correction per symmetric pair, from calibration quantiles ``(n, K)`` and targets ``(n,)``."""
    q = rearrange(q_cal)
    out = {}
    for key, (i, j) in central_pairs(levels).items():
        scores = np.maximum(q[:, i] - y_cal, y_cal - q[:, j])
        out[key] = conformal_quantile(scores, float(key))
    return out


def apply_corrections(levels: np.ndarray, q: np.ndarray, corrections: dict[str, float]) -> np.ndarray:
    """Rearrange, widen/narrow each pair by its correction, rearrange again."""
    q = rearrange(q).copy()
    for key, (i, j) in central_pairs(levels).items():
        c = corrections.get(key, 0.0)
        q[:, i] -= c
        q[:, j] += c
    return rearrange(q)
