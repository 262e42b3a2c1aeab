"""Pareto fronts and hypervolumes of minimised objectives (pymoo's HV, computed by moocore).

Convention: rows are points, columns objectives, all minimised; the reference point bounds the
dominated region from above, and points that do not strictly dominate it add nothing.

Inputs are checked (:class:`~hwgpt.errors.InvalidInput`): the reference point must be finite,
non-negative and have one coordinate per objective; rows must not hold NaN or ``-inf``. A ``+inf``
coordinate is allowed and marks a point outside every box (it adds nothing; the constrained search
uses it for infeasible points).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymoo.indicators.hv import HV

from hwgpt.errors import InvalidInput


def _points(F: Any, what: str = "F") -> np.ndarray:
    """``F`` as a 2-D float array without NaN/-inf rows."""
    try:
        F = np.atleast_2d(np.asarray(F, dtype=np.float64))
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"{what} must be a 2-D array of numbers (rows: points, columns: objectives), "
                           f"got {type(F).__name__} ({e})") from e
    if F.ndim != 2:
        raise InvalidInput(f"{what} must be 2-D (rows: points, columns: objectives), got shape {F.shape}")
    bad = np.isnan(F) | np.isneginf(F)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise InvalidInput(f"{what} row {row} is {F[row].tolist()}: objective values must be numbers, not NaN "
                           "or -inf (+inf marks a point outside every box)")
    return F


def _reference(reference_point: Any, m: int) -> np.ndarray:
    """The reference point as a finite, non-negative float vector of length ``m``."""
    try:
        ref = np.asarray(reference_point, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"reference_point must be {m} finite numbers >= 0, got {reference_point!r}") from e
    if ref.shape != (m,) or not np.isfinite(ref).all() or (ref < 0).any():
        raise InvalidInput(f"reference_point must be {m} finite numbers >= 0 (one per objective, in normalised "
                           f"units, e.g. 1.1), got {np.asarray(reference_point, dtype=object).tolist()!r}")
    return ref


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``F`` (of identical rows only the first is kept)."""
    F = _points(F)
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
    F = _points(F)
    ref = _reference(reference_point, F.shape[1])
    inside = F[(F < ref).all(axis=1)] if len(F) else F
    if len(inside) == 0:
        return 0.0
    return float(HV(ref_point=ref)(inside))


def hypervolume_curve(F: np.ndarray, reference_point: np.ndarray) -> list[tuple[int, float]]:
    """``[(n, hypervolume of the first n rows)]`` for ``n = 1..len(F)``.

    Recomputed only when a row enters the box and is not weakly dominated by the front so far.
    """
    F = _points(F)
    ref = _reference(reference_point, F.shape[1])
    curve: list[tuple[int, float]] = []
    front = np.zeros((0, F.shape[1]))
    hv = 0.0
    for n, y in enumerate(F, start=1):
        if (y < ref).all() and not (front <= y).all(axis=1).any():
            front = np.vstack([front[~(y <= front).all(axis=1)], y])
            hv = hypervolume(front, ref)
        curve.append((n, hv))
    return curve
