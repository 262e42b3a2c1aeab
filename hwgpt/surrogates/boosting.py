"""XGBoost training with the number of rounds and the depth tuned on held-out architectures.

The training architectures are split once more (by architecture, seeded): boosters of each depth
in the grid train with early stopping on the inner validation part, and the best (depth, rounds)
is refit on all training rows. The calibration split stays untouched for conformal calibration,
and early stopping keeps outer quantiles from overfitting (500 fixed rounds covered 0.1/0.9 at
0.18/0.83 on held-out data here).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import xgboost as xgb

log = logging.getLogger(__name__)


@dataclass
class BoostSettings:
    """Tree-booster settings shared by every surrogate.

    Attributes:
        max_depth: Depths tried; the best on the inner validation split wins.
        learning_rate: Shrinkage (eta).
        max_rounds: Upper bound on boosting rounds.
        early_stopping_rounds: Patience on the inner validation loss.
        min_child_weight: Minimum hessian (rows, roughly) per leaf.
        subsample: Row subsampling per tree.
        colsample_bytree: Column subsampling per tree.
        reg_lambda: L2 penalty on leaf values.
        validation_fraction: Share of the training architectures held out for tuning.
        nthread: XGBoost threads. One by default: with other processes on the cores, OpenMP threads
            wait on each other (a 210-row fit took 14.7 s with 2 threads, 0.76 s with 1).
    """

    max_depth: list[int] = field(default_factory=lambda: [3, 5])
    learning_rate: float = 0.1
    max_rounds: int = 400
    early_stopping_rounds: int = 30
    min_child_weight: float = 3.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    validation_fraction: float = 0.25
    nthread: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def group_split(groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (keep, held_out) holding out ``fraction`` of the distinct groups (>= 1 each side)."""
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    n_out = int(round(fraction * len(uniq)))
    n_out = min(max(n_out, 1), len(uniq) - 1) if len(uniq) > 1 else 0
    out = set(rng.permutation(uniq)[:n_out].tolist())
    held = np.array([g in out for g in groups])
    return ~held, held


def _dmatrix(X, y, w, margin) -> xgb.DMatrix:
    return xgb.DMatrix(X, label=y, weight=w, base_margin=margin)


def _params(params: dict, settings: BoostSettings, seed: int, with_margin: bool) -> dict:
    base = {
        "eta": settings.learning_rate, "min_child_weight": settings.min_child_weight,
        "subsample": settings.subsample, "colsample_bytree": settings.colsample_bytree,
        "lambda": settings.reg_lambda, "nthread": settings.nthread, "seed": seed,
        "tree_method": "hist", "verbosity": 0, **params,
    }
    if with_margin:
        # With a base margin the intercept is the margin itself: base_score 0 lets predict() add the
        # margin after a plain inplace_predict (passing base_margin there costs ~10x a small predict).
        base["base_score"] = 0.0
    return base


def out_of_fold(
    params: dict, X: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray, margin: np.ndarray | None,
    settings: BoostSettings, depth: int, rounds: int, folds: int, seed: int,
) -> np.ndarray:
    """Predictions for every row from boosters that never saw its architecture (``folds`` folds by group)."""
    uniq = np.random.default_rng(seed).permutation(np.unique(groups))
    fold_of = {g: i % folds for i, g in enumerate(uniq)}
    fold = np.array([fold_of[g] for g in groups])
    base = {**_params(params, settings, seed, margin is not None), "max_depth": int(depth)}
    out = np.empty(len(y))
    for k in range(min(folds, len(uniq))):
        tr, te = fold != k, fold == k
        b = xgb.train(base, _dmatrix(X[tr], y[tr], w[tr], None if margin is None else margin[tr]), rounds)
        out[te] = predict(b, X[te], None if margin is None else margin[te]).reshape(-1)
    return out


def train_tuned(
    params: dict, X: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray,
    margin: np.ndarray | None, settings: BoostSettings, seed: int,
) -> tuple[xgb.Booster, dict]:
    """Tune depth and rounds on an inner split by ``groups``, then refit on every row.

    Args:
        params: Objective-specific XGBoost parameters (objective, quantile_alpha...).
        X, y, w: Training rows, targets and weights.
        groups: Architecture id of each row.
        margin: Base margin per row (``(n,)`` or ``(n, n_outputs)``) or None.
        settings: Booster settings.
        seed: Seed of the inner split and of XGBoost's subsampling.

    Returns:
        The refit booster and ``{"max_depth", "rounds", "validation_loss"}``.
    """
    base = _params(params, settings, seed, margin is not None)
    keep, held = group_split(groups, settings.validation_fraction, seed)
    sel = lambda m, a: None if a is None else a[m]
    best = None
    if held.any():
        dtr = _dmatrix(X[keep], y[keep], w[keep], sel(keep, margin))
        dva = _dmatrix(X[held], y[held], w[held], sel(held, margin))
        for depth in settings.max_depth:
            b = xgb.train({**base, "max_depth": int(depth)}, dtr, settings.max_rounds, evals=[(dva, "val")],
                          early_stopping_rounds=settings.early_stopping_rounds, verbose_eval=False)
            cand = (float(b.best_score), int(depth), int(b.best_iteration) + 1)
            log.debug("depth %d: best validation loss %.5g at %d rounds", depth, cand[0], cand[2])
            best = cand if best is None or cand[0] < best[0] else best
    if best is None:  # a single training architecture: nothing to tune on
        best = (float("nan"), int(settings.max_depth[0]), min(50, settings.max_rounds))
    booster = xgb.train({**base, "max_depth": best[1]}, _dmatrix(X, y, w, margin), best[2])
    return booster, {"max_depth": best[1], "rounds": best[2], "validation_loss": best[0]}


def predict(booster: xgb.Booster, X: np.ndarray, margin: np.ndarray | None) -> np.ndarray:
    """In-place prediction (no DMatrix) plus the ``(n,)`` base margin the booster was trained on, as float64.

    Returns:
        ``(n,)`` for single-output boosters, ``(n, n_outputs)`` for multi-quantile ones.
    """
    out = np.asarray(booster.inplace_predict(X), dtype=np.float64)
    if margin is None:
        return out
    return out + (margin[:, None] if out.ndim == 2 else margin)


def to_bytes(booster: xgb.Booster) -> bytes:
    """XGBoost's own UBJSON model format."""
    return bytes(booster.save_raw("ubj"))


def from_bytes(data: bytes, nthread: int = 1) -> xgb.Booster:
    """Inverse of :func:`to_bytes`; raises ``xgboost.core.XGBoostError`` on a corrupt file.

    Args:
        data: The model file's bytes.
        nthread: Prediction threads. One by default: a single-row query with several OpenMP threads
            took 10-30 ms instead of 0.2 ms while other processes kept the cores busy.
    """
    b = xgb.Booster()
    b.load_model(bytearray(data))
    b.set_param({"nthread": nthread})
    return b
