"""The array-level model behind :mod:`hwgpt.surrogates.transfer`: ridge fits and their CV+ calibration.

A new device's per-arch log-medians ``y`` are fitted on named candidate columns ``Z`` (the source
devices' predicted log-medians and :data:`COST_COLUMNS`) by one of :data:`METHODS`, with ridge
penalties chosen by closed-form leave-one-out (:func:`fit_linear`, :func:`fit_auto`). :func:`fit_core`
adds the CV+ calibration (models fitted without each fold's archs, scored on that fold's
observations) and returns a :class:`Core`, which predicts medians and non-crossing quantiles;
:func:`cross_validated` checks it out of fold. Numpy only: no frames, files or surrogates here (the
module docstring of :mod:`hwgpt.surrogates.transfer` describes the methods).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from hwgpt.surrogates.surrogate import DEFAULT_LEVELS

METHODS = ("auto", "scale_shift", "embedding", "scratch")
MIN_ARCHS = {"scale_shift": 4, "embedding": 5, "scratch": 5, "auto": 4}
"""Fewest architectures each method fits and calibrates from (leave-one-out needs a spare one)."""
COST_COLUMNS = ("log10_flops", "log10_params", "log10_attn_flops", "log10_mlp_flops", "log10_memory",
                "n_layer", "embed_dim", "bias", "head_mean", "ratio_mean")
"""Feature columns the ``embedding`` and ``scratch`` models use besides the sources."""
LAMBDAS = (0.0, 1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e4)
"""Ridge penalties tried (times the number of archs, on standardised columns)."""


class TooFewArchsError(ValueError):
    """Fewer complete architectures than the transfer method needs."""


@dataclass
class TransferSettings:
    """Settings of a transfer fit (recorded in the artifact).

    Attributes:
        method: One of :data:`METHODS`.
        folds: CV+ folds (by architecture); with at most this many archs every arch is its own
            fold (jackknife+).
        levels: Quantile grid (increasing, with 0.5 and symmetric pairs).
        max_calibration_archs: Archs whose scores are kept for prediction (seeded subsample above).
        scores_per_arch: Observation scores kept per arch (its quantiles when it has more).
        exclude_flags: Observations carrying any of these flags are left out (as in ``fit``).
        seed: Seed of the folds and the subsample.
    """

    method: str = "auto"
    folds: int = 20
    levels: list[float] = field(default_factory=lambda: list(DEFAULT_LEVELS))
    max_calibration_archs: int = 300
    scores_per_arch: int = 5
    exclude_flags: list[str] = field(default_factory=lambda: ["contended"])
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"transfer method {self.method!r} is unknown; allowed: {list(METHODS)}")
        if self.folds < 2:
            raise ValueError(f"transfer folds must be >= 2, got {self.folds}")

    def to_dict(self) -> dict:
        return asdict(self)


def min_archs(method: str, n_sources: int) -> int:
    """Fewest archs for ``method`` given the number of source devices (``auto`` without sources is ``scratch``)."""
    return MIN_ARCHS["scratch" if n_sources == 0 else method]


# ------------------------------------------------------------------------------ ridge, LOO
def _best_ridge(Z: np.ndarray, y: np.ndarray, w0: np.ndarray) -> tuple[float, float, np.ndarray, float]:
    """(LOO MSE, intercept, w, lambda) of the penalty with the smallest leave-one-out error.

    One SVD of the centred columns serves every penalty of :data:`LAMBDAS` (closed-form LOO).
    """
    n, p = Z.shape
    zm, ym = Z.mean(axis=0), y.mean()
    Zc = Z - zm
    r = (y - ym) - Zc @ w0
    U, sv, Vt = np.linalg.svd(Zc, full_matrices=False)
    Ur = U.T @ r
    U2 = U ** 2
    best = None
    for lam in LAMBDAS:
        if lam == 0.0 and p >= n - 1:
            continue
        shrink = sv ** 2 / (sv ** 2 + lam * n) if lam > 0 else (sv > 1e-10 * max(sv.max(), 1e-300)).astype(float)
        resid = r - U @ (shrink * Ur)
        h = U2 @ shrink + 1.0 / n
        loo = resid / np.maximum(1.0 - h, 1e-6)
        mse = float(np.mean(loo ** 2))
        if best is None or mse < best[0] - 1e-15:
            best = (mse, lam, shrink)
    assert best is not None
    mse, lam, shrink = best
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = np.where(sv > 1e-10 * max(sv.max(), 1e-300), shrink / sv, 0.0)
    w = w0 + Vt.T @ (coef * Ur)
    return mse, float(ym - zm @ w), w, lam


@dataclass
class LinearModel:
    """``intercept + ((Z[:, cols] - mean) / std) @ w`` on named columns."""

    columns: list[str]
    mean: np.ndarray
    std: np.ndarray
    w: np.ndarray
    intercept: float
    lam: float
    loo_mse: float

    def predict(self, Z: np.ndarray, names: list[str]) -> np.ndarray:
        idx = [names.index(c) for c in self.columns]
        return self.intercept + ((Z[:, idx] - self.mean) / self.std) @ self.w

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "mean": self.mean.tolist(), "std": self.std.tolist(), "w": self.w.tolist(),
                "intercept": self.intercept, "lambda": self.lam, "loo_mse": self.loo_mse}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinearModel:
        return cls(list(d["columns"]), np.asarray(d["mean"], float), np.asarray(d["std"], float),
                   np.asarray(d["w"], float), float(d["intercept"]), float(d["lambda"]), float(d["loo_mse"]))


def _standardise(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, std = Z.mean(axis=0), Z.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return (Z - mean) / std, mean, std


def fit_linear(Z: np.ndarray, names: list[str], y: np.ndarray, method: str, sources: list[str]) -> LinearModel:
    """Fit one method (not ``auto``) on per-arch log-medians ``y``; columns of ``Z`` named by ``names``."""
    cost = [c for c in COST_COLUMNS if c in names]
    if method == "scratch" or not sources:
        cols = cost
        Zs, mean, std = _standardise(Z[:, [names.index(c) for c in cols]])
        mse, b, w, lam = _best_ridge(Zs, y, np.zeros(len(cols)))
        return LinearModel(cols, mean, std, w, b, lam, mse)
    best = None
    for d in sources:
        Zs, mean, std = _standardise(Z[:, [names.index(d)]])
        mse, b, w, lam = _best_ridge(Zs, y, np.array([std[0]]))  # b = 1 in raw units
        if best is None or mse < best.loo_mse:
            best = LinearModel([d], mean, std, w, b, lam, mse)
    assert best is not None
    if method == "scale_shift":
        return best
    cols = list(sources) + cost
    Zs, mean, std = _standardise(Z[:, [names.index(c) for c in cols]])
    w0 = np.zeros(len(cols))
    j = cols.index(best.columns[0])
    w0[j] = best.w[0] / best.std[0] * std[j]  # the scale_shift slope, in these standardised units
    mse, b, w, lam = _best_ridge(Zs, y, w0)
    return LinearModel(cols, mean, std, w, b, lam, mse)


def fit_auto(Z: np.ndarray, names: list[str], y: np.ndarray, method: str, sources: list[str]
             ) -> tuple[LinearModel, dict[str, float]]:
    """``method``, or for ``auto`` the method with the smallest LOO error; returns it and every LOO MSE."""
    # auto with sources: scale_shift or embedding (whose cost columns already hold everything scratch uses)
    cands = ["scratch"] if not sources else ([method] if method != "auto" else ["scale_shift", "embedding"])
    n = len(y)
    fits = {m: fit_linear(Z, names, y, m, sources) for m in cands if n >= MIN_ARCHS[m]}
    if not fits:
        raise TooFewArchsError(f"{n} archs are too few for {cands}")
    loo = {m: f.loo_mse for m, f in fits.items()}
    best = min(loo, key=loo.get)
    return fits[best], loo


# ------------------------------------------------------------------------------ CV+ core
@dataclass
class Core:
    """A fitted transfer model with its CV+ calibration (array level; see the module docstring).

    Attributes:
        method: The chosen method.
        model: The model fitted on every arch.
        fold_models: One model per CV+ fold, fitted without that fold's archs.
        scores: Calibration scores ``y_ij - mu_-f(i)(x_i)`` (log units).
        score_fold: The fold of each score's arch (which fold model it pairs with).
        score_weight: Weights (each calibration arch weighs 1 in total).
        n_calibration: Calibration archs behind the scores.
        levels: The quantile grid.
        loo: Leave-one-out MSE of each candidate method on every arch.
        arch_fold: The CV+ fold of each training arch.
    """

    method: str
    model: LinearModel
    fold_models: list[LinearModel]
    scores: np.ndarray
    score_fold: np.ndarray
    score_weight: np.ndarray
    n_calibration: int
    levels: np.ndarray
    loo: dict[str, float]
    arch_fold: np.ndarray

    def median(self, Z: np.ndarray, names: list[str]) -> np.ndarray:
        """Log-median prediction: the full model plus the scores' weighted median (a bias shift)."""
        return self.model.predict(Z, names) + _wquantile(self.scores[None, :], self.score_weight, np.array([0.5]),
                                                          upper=True)[0, 0]

    def quantiles(self, Z: np.ndarray, names: list[str], chunk: int = 512) -> np.ndarray:
        """CV+ quantiles ``(n, K)`` at :attr:`levels` in log units (non-crossing)."""
        F = np.stack([m.predict(Z, names) for m in self.fold_models], axis=1)  # (n, n_folds)
        adj = adjusted_levels(self.levels, self.n_calibration)
        out = np.empty((len(Z), len(self.levels)))
        for i in range(0, len(Z), chunk):
            V = F[i:i + chunk][:, self.score_fold] + self.scores[None, :]
            out[i:i + chunk] = _cvplus(V, self.score_weight, self.levels, adj)
        return np.maximum.accumulate(out, axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "model": self.model.to_dict(),
                "fold_models": [m.to_dict() for m in self.fold_models], "scores": self.scores.tolist(),
                "score_fold": self.score_fold.tolist(), "score_weight": self.score_weight.tolist(),
                "n_calibration": self.n_calibration, "levels": self.levels.tolist(), "loo": self.loo,
                "arch_fold": self.arch_fold.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Core:
        return cls(d["method"], LinearModel.from_dict(d["model"]), [LinearModel.from_dict(m) for m in d["fold_models"]],
                   np.asarray(d["scores"], float), np.asarray(d["score_fold"], int),
                   np.asarray(d["score_weight"], float), int(d["n_calibration"]), np.asarray(d["levels"], float),
                   dict(d["loo"]), np.asarray(d["arch_fold"], int))


def adjusted_levels(levels: np.ndarray, n: int) -> np.ndarray:
    """Conformal finite-sample levels: ``0.5 + (t - 0.5) (n + 1) / n``, clipped to [0, 1]."""
    return np.clip(0.5 + (np.asarray(levels) - 0.5) * (n + 1) / n, 0.0, 1.0)


def _wquantile(V: np.ndarray, w: np.ndarray, levels: np.ndarray, upper: bool) -> np.ndarray:
    order = np.argsort(V, axis=1)
    Vs = np.take_along_axis(V, order, axis=1)
    cum = np.cumsum(w[order], axis=1)
    cum /= cum[:, -1:]
    M = V.shape[1]
    out = np.empty((len(V), len(levels)))
    for k, t in enumerate(levels):
        j = (cum < t - 1e-12).sum(axis=1) if upper else (cum <= t + 1e-12).sum(axis=1)
        out[:, k] = Vs[np.arange(len(V)), np.clip(j, 0, M - 1)]
    return out


def _cvplus(V: np.ndarray, w: np.ndarray, levels: np.ndarray, adj: np.ndarray) -> np.ndarray:
    up = levels >= 0.5
    out = np.empty((len(V), len(levels)))
    out[:, up] = _wquantile(V, w, adj[up], upper=True)
    out[:, ~up] = _wquantile(V, w, adj[~up], upper=False)
    return out


def _compress(values: np.ndarray, m: int) -> np.ndarray:
    """At most ``m`` values: the sample itself, or its quantiles at ``(j + 0.5) / m``."""
    if len(values) <= m:
        return np.asarray(values, float)
    return np.quantile(values, (np.arange(m) + 0.5) / m)


def fit_core(Z: np.ndarray, names: list[str], obs: list[np.ndarray], sources: list[str],
             settings: TransferSettings) -> Core:
    """Fit the model on every arch and its CV+ calibration.

    Args:
        Z: ``(n_archs, n_columns)`` candidate columns (source log-medians and cost features).
        names: Column names of ``Z``.
        obs: Per arch, its observations in log units.
        sources: The source columns of ``Z``.
        settings: Transfer settings.

    Raises:
        TooFewArchsError: fewer archs than :func:`min_archs`.
    """
    n = len(obs)
    need = min_archs(settings.method, len(sources))
    if n < need:
        raise TooFewArchsError(f"the {settings.method!r} transfer needs at least {need} complete archs, got {n}")
    y = np.array([np.median(o) for o in obs])
    model, loo = fit_auto(Z, names, y, settings.method, sources)
    method = min(loo, key=loo.get)
    rng = np.random.default_rng(settings.seed)
    n_folds = min(settings.folds, n)
    fold = rng.permutation(np.arange(n) % n_folds)
    fold_models, scores, sfold, sweight = [], [], [], []
    cal = set(rng.permutation(n)[:settings.max_calibration_archs].tolist())
    for f in range(n_folds):
        tr, te = fold != f, np.flatnonzero(fold == f)
        m = fit_linear(Z[tr], names, y[tr], method, sources)
        fold_models.append(m)
        pred = m.predict(Z[te], names)
        for i, p in zip(te, pred, strict=True):
            if i not in cal:
                continue
            s = _compress(obs[i] - p, settings.scores_per_arch)
            scores.append(s)
            sfold += [f] * len(s)
            sweight += [1.0 / len(s)] * len(s)
    return Core(method, model, fold_models, np.concatenate(scores), np.asarray(sfold), np.asarray(sweight),
                len(cal), np.asarray(settings.levels, float), loo, fold)


def cross_validated(Z: np.ndarray, names: list[str], obs: list[np.ndarray], core: Core) -> dict[str, Any]:
    """Out-of-fold checks of a fitted core on its own archs: tau, median relative error, coverage.

    Each arch is predicted by the fold model that never saw it, and its interval comes from the
    scores of the other folds' archs only.
    """
    y = np.array([np.median(o) for o in obs])
    n = len(obs)
    arch_fold = core.arch_fold
    pred = np.array([core.fold_models[arch_fold[i]].predict(Z[i:i + 1], names)[0] for i in range(n)])
    cover: dict[str, list[float]] = {}
    cover_med: dict[str, list[float]] = {}
    pairs = _pairs(core.levels)
    for i in range(n):
        keep = core.score_fold != arch_fold[i]
        if not keep.any():
            continue
        sub = Core(core.method, core.model, core.fold_models, core.scores[keep], core.score_fold[keep],
                   core.score_weight[keep], max(1, int(round(core.score_weight[keep].sum()))), core.levels, core.loo,
                   arch_fold)
        q = sub.quantiles(Z[i:i + 1], names)[0]
        for key, (a, b) in pairs.items():
            cover.setdefault(key, []).append(float(np.mean((obs[i] >= q[a]) & (obs[i] <= q[b]))))
            cover_med.setdefault(key, []).append(float(q[a] <= y[i] <= q[b]))
    tau = kendalltau(pred, y).statistic if n > 2 else float("nan")
    return {"kendall_tau": None if np.isnan(tau) else float(tau),
            "median_relative_error": float(np.median(np.abs(np.exp(pred - y) - 1.0))),
            "coverage": {k: float(np.mean(v)) for k, v in cover.items()},
            "coverage_of_medians": {k: float(np.mean(v)) for k, v in cover_med.items()}}


def _pairs(levels: np.ndarray) -> dict[str, tuple[int, int]]:
    from hwgpt.surrogates import conformal

    return conformal.central_pairs(levels)
