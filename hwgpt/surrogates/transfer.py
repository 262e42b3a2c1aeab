"""Surrogates for a new device from a few measurements, by transfer from the known devices.

A new device's log-median ``m(x)`` of a hardware metric is modelled linearly on *hardware
embeddings* (after HELP, Lee et al. 2021): the source devices' predicted log-medians ``s_d(x)``
(their shipped surrogates), plus a few exact cost features. Three methods, and ``auto``:

* ``scale_shift``: ``m = a + b * s_d(x)`` for the one source ``d`` with the smallest leave-one-out
  error (ridge towards ``b = 1``: same relative costs as the source);
* ``embedding``: ridge on every source's ``s_d(x)`` and the cost features, shrunk towards the
  ``scale_shift`` solution (so with few archs it is that, with more it learns a mixture);
* ``scratch``: ridge on the cost features only (no sources: a scale without shipped devices);
* ``auto``: ``scale_shift`` or ``embedding``, whichever has the smaller leave-one-out error on the
  device's own archs (``scratch`` when there are no sources). ``embedding`` holds every column
  ``scratch`` uses, and choosing ``scratch`` by a noisy LOO error at k = 20 cost coverage in the
  leave-one-device-out validation.

Ridge penalties are chosen by closed-form leave-one-out. Calibration is CV+ (Barber et al. 2021;
jackknife+ when every arch is its own fold): the device's observations, scored against models that
never saw their architecture, give the predictive distribution ``{mu_-f(i)(x) + y_ij - mu_-f(i)(x_i)}``
of a new observation at ``x`` (its measurement noise included), at levels widened by ``(n+1)/n``.
So every calibrated level is a central interval of observations, and medians are covered at least
as often.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from hwgpt.search_space import SearchSpace
from hwgpt.surrogates import artifacts, data
from hwgpt.surrogates.features import ArchArrays, FeatureSpec, arch_arrays, feature_names, features
from hwgpt.surrogates.surrogate import DEFAULT_LEVELS, EXACT_METRICS, POINT_METRICS, Surrogate

log = logging.getLogger(__name__)

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


# ------------------------------------------------------------------------------ the surrogate
def _arrays_from_features(X: np.ndarray, space: SearchSpace) -> ArchArrays:
    """The integer arch arrays back from a feature matrix's encoding columns."""
    L = space.max_layers
    m = np.rint(X[:, :3 + 2 * L]).astype(np.int64)
    return ArchArrays(m[:, 0], m[:, 1], m[:, 2], m[:, 3:3 + L], m[:, 3 + L:3 + 2 * L])


def candidate_matrix(X: np.ndarray, space: SearchSpace, sources: dict[str, Surrogate]
                     ) -> tuple[np.ndarray, list[str]]:
    """Columns the transfer models choose from: each source's log-median, then :data:`COST_COLUMNS`.

    Args:
        X: Features of the target (any setting: the sources recompute theirs from its encoding).
        space: Search space.
        sources: Source surrogates by device name.
    """
    names = feature_names(space)
    cols, out = [], []
    if sources:
        aa = _arrays_from_features(X, space)
        by_spec: dict[FeatureSpec, np.ndarray] = {}
        for d, s in sources.items():
            if s.spec not in by_spec:
                by_spec[s.spec] = features(aa, space, s.spec)
            out.append(s.to_fit_space(s.median(by_spec[s.spec])))
            cols.append(d)
    for c in COST_COLUMNS:
        out.append(X[:, names.index(c)].astype(float))
        cols.append(c)
    return np.stack(out, axis=1), cols


class TransferSurrogate(Surrogate):
    """A new device's surrogate: a :class:`Core` on source surrogates' predictions (embedded copies)."""

    kind = "transfer"

    def __init__(self, meta: dict[str, Any], sources: dict[str, Surrogate]) -> None:
        super().__init__(meta)
        self.sources = sources
        self.core = Core.from_dict(meta["transfer"]["core"])
        self.space = SearchSpace.from_name(meta["scale"])

    def _z(self, X: np.ndarray) -> tuple[np.ndarray, list[str]]:
        return candidate_matrix(X, self.space, self.sources)

    def _median(self, X: np.ndarray) -> np.ndarray:
        return self.core.median(*self._z(X))

    def _raw_quantiles(self, X: np.ndarray) -> np.ndarray:
        return self.core.quantiles(*self._z(X))

    def quantiles(self, X: np.ndarray) -> np.ndarray:
        """CV+ quantiles (already calibrated; the zero corrections in ``meta`` only name the levels)."""
        return self._raw_quantiles(X)

    def calibrate(self, X: np.ndarray, y_fit: np.ndarray) -> dict[str, float]:
        raise NotImplementedError("a transfer surrogate is calibrated by CV+ when fitted (fit_transfer)")

    def model_files(self) -> dict[str, tuple[str, bytes]]:
        out = {}
        for d, s in self.sources.items():
            for role, (ext, blob) in s.model_files().items():
                out[f"src-{d}-{role}"] = (ext, blob)
        return out

    @classmethod
    def from_files(cls, meta: dict[str, Any], files: dict[str, bytes]) -> TransferSurrogate:
        sources = {}
        for d, info in meta["transfer"]["sources"].items():
            smeta = info["meta"]
            own = {role: files[f"src-{d}-{role}"] for role in smeta.get("files", {})}
            sources[d] = artifacts.surrogate_class(smeta["kind"]).from_files(smeta, own)
        recorded = meta.get("report", {}).get("device")
        # a new device's surrogate describes the machine it was measured on: say if this is another (not for
        # measurements made elsewhere and brought in a file, hwgpt.surrogates.from_file: not this machine's)
        if recorded and not recorded.get("measured_elsewhere"):
            from hwgpt.profiling.device import this_machine, warn_if_different

            kind = "gpu" if any("gpu_name" in r for r in devices_of(recorded)) else "cpu"
            what = f"surrogate {meta['scale']}/{meta['device']}/{meta['metric']}"
            warn_if_different(recorded, this_machine(kind), what)
        return cls(meta, sources)


def devices_of(recorded: dict[str, Any]) -> list[dict[str, Any]]:
    """The identities in a report's ``device`` entry (one, or several under ``identities``)."""
    ids = recorded.get("identities")
    return [r for r in ids if isinstance(r, dict)] if isinstance(ids, list) else [recorded]



# ------------------------------------------------------------------------------ fitting from frames
@dataclass
class TransferResult:
    """A fitted transfer surrogate, its report and the fit's wall time."""

    surrogate: TransferSurrogate
    seconds: float

    @property
    def report(self) -> dict[str, Any]:
        return self.surrogate.meta["report"]


def shipped_sources(scale: str, metric: str, exclude: tuple[str, ...] = ()) -> dict[str, Surrogate]:
    """The package's surrogates of ``metric`` at ``scale`` (every device but ``exclude``), loaded."""
    root = artifacts.package_root()
    shipped = artifacts.available(str(root)).get(scale, {})
    out = {}
    for d, metrics in shipped.items():
        if d in exclude or metric not in metrics:
            continue
        s = artifacts.load(scale, d, metric, str(root))
        if s.kind != TransferSurrogate.kind and metric not in POINT_METRICS:
            out[d] = s
    return out


def _unadapted(src: Surrogate, X: np.ndarray, obs: list[np.ndarray]) -> dict[str, Any]:
    """How a source surrogate, as shipped, describes the new device's archs (the "before")."""
    med = np.array([np.exp(np.median(o)) for o in obs])
    pred = src.median(X)
    ratio = med / pred
    out = {"ratio_median": float(np.median(ratio)), "ratio_p10": float(np.quantile(ratio, 0.1)),
           "ratio_p90": float(np.quantile(ratio, 0.9))}
    if 0.9 in src.coverage_levels:
        lo, hi = src.interval(X, 0.9)
        out["coverage_of_medians_0.9"] = float(np.mean((med >= lo) & (med <= hi)))
        allo = np.concatenate([np.exp(o) for o in obs])
        rep = np.concatenate([[i] * len(o) for i, o in enumerate(obs)]).astype(int)
        out["coverage_0.9"] = float(np.mean((allo >= lo[rep]) & (allo <= hi[rep])))
    if len(obs) > 2:
        out["kendall_tau"] = float(kendalltau(pred, med).statistic)
    return out


def _source_meta(s: Surrogate) -> dict[str, Any]:
    """A source's metadata as embedded in a transfer artifact (its kind and model-file roles included)."""
    meta = {**s.meta, "kind": s.kind}
    if "files" not in meta:
        meta["files"] = {role: {"name": role} for role in s.model_files()}
    return meta


def fit_transfer(
    df: pd.DataFrame, space: SearchSpace, metric: str, device: str, sources: dict[str, Surrogate],
    settings: TransferSettings | None = None, device_identity: dict[str, Any] | None = None,
    store_sha256: str | None = None,
) -> TransferResult:
    """Fit a new device's surrogate of ``metric`` from its observations in ``df`` and ``sources``.

    Args:
        df: Observations with the store's columns (other scales/devices/metrics are ignored).
        space: Search space of the scale.
        metric: A hardware metric (``latency``, ``energy``, ``memory``).
        device: The new device's name (``device`` column).
        sources: Source surrogates by device name (empty: from scratch).
        settings: Transfer settings.
        device_identity: Detected identity of the new device, recorded in the report.
        store_sha256: Hash of the store the frame came from.

    Raises:
        TooFewArchsError: fewer complete archs than the method needs (the message gives the minimum).
        ValueError: a metric that is not a hardware metric, or no observations.
    """
    from hwgpt.provenance import versions

    settings = settings or TransferSettings()
    if metric in EXACT_METRICS or metric in POINT_METRICS:
        raise ValueError(f"transfer fits hardware metrics (latency, energy, memory), not {metric!r}")
    t0 = time.perf_counter()
    sel = data.select(df, space, device, metric, settings.exclude_flags)
    archs = data.archs_of(sel.frame, space)
    ids = list(archs)
    need = min_archs(settings.method, len(sources))
    if len(ids) < need:
        raise TooFewArchsError(
            f"fit=true with the {settings.method!r} transfer needs at least {need} complete archs of {metric!r} on "
            f"{device!r} at scale {space.name!r}; the store has {len(ids)}. Measure more: n_archs={need}")
    X = features(arch_arrays([archs[a] for a in ids], space), space, sel.spec)
    logv = np.log(sel.frame["value"].to_numpy(float))
    groups = sel.frame["arch_id"].to_numpy()
    obs = [logv[groups == a] for a in ids]
    Z, names = candidate_matrix(X, space, sources)
    core = fit_core(Z, names, obs, list(sources), settings)
    cv = cross_validated(Z, names, obs, core)
    used = sorted({c for m in [core.model, *core.fold_models] for c in m.columns if c in sources})
    levels = [float(t) for t in settings.levels]
    seconds = time.perf_counter() - t0
    meta: dict[str, Any] = {
        "scale": space.name, "device": device, "metric": metric,
        "unit": str(sel.frame["unit"].iloc[0]) if "unit" in sel.frame else "",
        "transform": "log", "observation_noise": True,
        "features": {"names": feature_names(space), "spec": sel.spec.to_dict()},
        "levels": levels, "model": f"transfer-{core.method}",
        "conformal": {"method": "CV+ (Barber et al. 2021) on observation scores by architecture; jackknife+ when "
                                "each arch is its own fold", "corrections": dict.fromkeys(_pairs(np.asarray(levels)),
                                                                                          0.0),
                      "n_archs": core.n_calibration},
        "transfer": {"core": core.to_dict(), "columns": names,
                     "sources": {d: {"meta": _source_meta(sources[d])} for d in used}},
    }
    meta["report"] = {
        "model": meta["model"], "method": core.method, "n_archs_train": len(ids),
        "n_archs_calibration": core.n_calibration, "n_archs_test": 0, "validation": "cross-validated (CV+ folds)",
        "kendall_tau": cv["kendall_tau"], "median_relative_error": cv["median_relative_error"],
        "coverage": cv["coverage"], "coverage_of_medians": cv["coverage_of_medians"],
        "loo_mse": core.loo, "sources": used,
        "source_weights": dict(zip(core.model.columns, core.model.w.tolist(), strict=True)),
        "unadapted": {d: _unadapted(s, features(arch_arrays([archs[a] for a in ids], space), space, s.spec), obs)
                      for d, s in sources.items()},
        "device": device_identity or {"id": device},
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "versions": versions(),
        "store_sha256": store_sha256, "data_sha256": data.frame_sha256(sel.frame),
        "settings": {"transfer": settings.to_dict(), "measurement": sel.setting, "flags": sel.flags,
                     "dropped": sel.dropped, "kept_flagged": sel.kept_flagged, "n_observations": len(logv)},
        "fit_seconds": round(seconds, 3),
    }
    if not sources:
        meta["report"]["note"] = f"no source devices with {metric!r} surrogates at scale {space.name!r}: from scratch"
    sur = TransferSurrogate(meta, {d: sources[d] for d in used})
    log.info("%s/%s/%s: %s transfer from %s on %d archs; cross-validated tau=%s, median rel. error=%.3f, "
             "90%% coverage=%s", space.name, device, metric, core.method, used or "nothing (scratch)", len(ids),
             None if cv["kendall_tau"] is None else round(cv["kendall_tau"], 3), cv["median_relative_error"],
             cv["coverage"].get("0.9"))
    return TransferResult(sur, seconds)


# ------------------------------------------------------------------------------ design
DESIGN_COLUMNS = ("n_layer", "embed_dim", "ratio_mean", "head_mean")


def design(space: SearchSpace, n_archs: int, seed: int = 0, pool: int = 4000, candidates: int = 8) -> list:
    """Smallest, largest, then ``n_archs`` archs stratified on FLOPs and spread in depth and width.

    The uniform sampler's log-FLOPs distribution (a seeded pool of ``pool`` archs) is cut into
    ``n_archs`` equal-probability strata; from each, of ``candidates`` random members, the one
    farthest (maximin, standardised depth, width, mean MLP ratio, mean heads) from those already
    chosen is taken. One arch per stratum keeps the design close to a draw from the sampler (what
    the conformal calibration assumes) while covering the cost range evenly.
    """
    from hwgpt.search_space import Arch

    if n_archs < 0:
        raise ValueError(f"n_archs must be >= 0, got {n_archs}")
    fixed: list[Arch] = [space.smallest(), space.largest()]
    cand = [a for a in space.sample_unique(max(pool, 4 * n_archs), seed) if a.id not in {f.id for f in fixed}]
    X = features(arch_arrays(cand + fixed, space), space, FeatureSpec(1, space.block_size))
    names = feature_names(space)
    flops = X[:, names.index("log10_flops")]
    D = X[:, [names.index(c) for c in DESIGN_COLUMNS]]
    D = (D - D.mean(axis=0)) / np.where(D.std(axis=0) > 0, D.std(axis=0), 1.0)
    rng = np.random.default_rng(seed)
    nc = len(cand)
    order = np.argsort(flops[:nc], kind="stable")
    strata = np.array_split(order, n_archs) if n_archs else []
    chosen = [nc, nc + 1]
    for k in rng.permutation(len(strata)):
        members = strata[k]
        if not len(members):
            continue
        pick = rng.choice(members, size=min(candidates, len(members)), replace=False)
        dist = np.min(np.linalg.norm(D[pick][:, None, :] - D[chosen][None, :, :], axis=2), axis=1)
        chosen.append(int(pick[np.argmax(dist)]))
    allx = cand + fixed
    return [allx[i] for i in chosen]
