"""Pareto fronts and hypervolumes of minimised objectives (pymoo's HV, computed by moocore).

Convention: rows are points, columns objectives, all minimised; the reference point bounds the
dominated region from above, and points that do not strictly dominate it add nothing.
"""

from __future__ import annotations

import numpy as np
from pymoo.indicators.hv import HV


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``F`` (of identical rows only the first is kept)."""
    F = np.asarray(F, dtype=np.float64)
    n = len(F)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        if not mask[i]:
            continue
        leq = (F <= F[i]).all(axis=1)
        dominates_i = leq & (F < F[i]).any(axis=1)
        if dominates_i.any():
            mask[i] = False
            continue
        same = (F == F[i]).all(axis=1)
        same[: i + 1] = False
        dominated_by_i = (F >= F[i]).all(axis=1) & (F > F[i]).any(axis=1)
        mask[same | dominated_by_i] = False
    return mask


def hypervolume(F: np.ndarray, reference_point: np.ndarray) -> float:
    """Hypervolume dominated by the rows of ``F`` and bounded by ``reference_point``."""
    F = np.atleast_2d(np.asarray(F, dtype=np.float64))
    ref = np.asarray(reference_point, dtype=np.float64)
    inside = F[(F < ref).all(axis=1)] if len(F) else F
    if len(inside) == 0:
        return 0.0
    return float(HV(ref_point=ref)(inside))


def hypervolume_curve(F: np.ndarray, reference_point: np.ndarray) -> list[tuple[int, float]]:
    """``[(n, hypervolume of the first n rows)]`` for ``n = 1..len(F)``.

    Recomputed only when a row enters the box and is not weakly dominated by the front so far.
    """
    F = np.atleast_2d(np.asarray(F, dtype=np.float64))
    ref = np.asarray(reference_point, dtype=np.float64)
    curve: list[tuple[int, float]] = []
    front = np.zeros((0, F.shape[1]))
    hv = 0.0
    for n, y in enumerate(F, start=1):
        if (y < ref).all() and not (front <= y).all(axis=1).any():
            front = np.vstack([front[~(y <= front).all(axis=1)], y])
            hv = hypervolume(front, ref)
        curve.append((n, hv))
    return curve
