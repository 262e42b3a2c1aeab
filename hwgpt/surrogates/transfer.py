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

The ridge fits and the CV+ calibration, on arrays, are :mod:`hwgpt.surrogates.transfer_core`; this
module builds their columns from source surrogates, fits from the store's frames
(:func:`fit_transfer`), wraps the result as an artifact (:class:`TransferSurrogate`) and designs the
archs a new device measures (:func:`design`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from hwgpt.search_space import SearchSpace
from hwgpt.surrogates import artifacts, data
from hwgpt.surrogates.features import ArchArrays, FeatureSpec, arch_arrays, feature_names, features
from hwgpt.surrogates.surrogate import EXACT_METRICS, POINT_METRICS, Surrogate
from hwgpt.surrogates.transfer_core import (
    COST_COLUMNS,
    LAMBDAS,
    METHODS,
    MIN_ARCHS,
    Core,
    LinearModel,
    TooFewArchsError,
    TransferSettings,
    _pairs,
    adjusted_levels,
    cross_validated,
    fit_auto,
    fit_core,
    fit_linear,
    min_archs,
)

log = logging.getLogger(__name__)

# The array-level model and its calibration are in hwgpt.surrogates.transfer_core; importable from here as before.
__all__ = [
    "COST_COLUMNS", "DESIGN_COLUMNS", "LAMBDAS", "METHODS", "MIN_ARCHS", "Core", "LinearModel", "TooFewArchsError",
    "TransferResult", "TransferSettings", "TransferSurrogate", "adjusted_levels", "candidate_matrix",
    "cross_validated", "design", "devices_of", "fit_auto", "fit_core", "fit_linear", "fit_transfer", "min_archs",
    "shipped_sources",
]


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
