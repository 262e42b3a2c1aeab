"""Held-out validation of a surrogate, and its plots.

Computed on a test split of architectures never used for fitting, tuning or calibration:

* ``coverage``: share of test observations inside each calibrated central interval;
* ``interval_width``: mean width of those intervals, in the metric's units;
* ``pinball``: mean pinball loss over the quantile grid, in fit space (log units for positive
  metrics, so it compares across devices and scales), plus ``pinball_per_level``;
* ``kendall_tau``, ``r2`` (metric units) and ``r2_log`` (fit space) of predicted medians against the
  per-architecture median of the observations;
* ``ks``: two-sample Kolmogorov-Smirnov distance between observed and simulated observations,
  each normalised per architecture by the predicted median and inter-quartile range (fit space)
  and pooled over test architectures; None for point surrogates (they simulate no noise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau, ks_2samp

from hwgpt.surrogates import conformal, distribution
from hwgpt.surrogates.data import group_median
from hwgpt.surrogates.surrogate import Surrogate

SAMPLES_PER_OBSERVATION = 20


def _r2(pred: np.ndarray, obs: np.ndarray) -> float:
    ss = ((obs - obs.mean()) ** 2).sum()
    return float(1 - ((obs - pred) ** 2).sum() / ss) if ss > 0 else float("nan")


def _f(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


@dataclass
class Validation:
    """A validation report plus the data behind its plots.

    Attributes:
        report: JSON-safe metrics (see the module docstring).
        observed_residuals: Pooled normalised residuals of the observations.
        sampled_residuals: The same for simulated observations (empty for point surrogates).
        level_hits: Quantile level -> share of observations at or below that quantile.
        medians: (predicted, observed) per-architecture medians in metric units.
    """

    report: dict[str, Any]
    observed_residuals: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sampled_residuals: np.ndarray = field(default_factory=lambda: np.zeros(0))
    level_hits: dict[str, float] = field(default_factory=dict)
    medians: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: (np.zeros(0), np.zeros(0)))


def validate(surrogate: Surrogate, X: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0) -> Validation:
    """Validate ``surrogate`` on test rows ``X`` with observations ``y`` (metric units) of archs ``groups``."""
    y = np.asarray(y, dtype=np.float64)
    yf = surrogate.to_fit_space(y)
    levels = surrogate.levels
    q = surrogate.quantiles(X)
    pairs = conformal.central_pairs(levels)
    coverage, width = {}, {}
    for key in (conformal.level_key(c) for c in surrogate.coverage_levels):
        i, j = pairs[key]
        coverage[key] = float(np.mean((yf >= q[:, i]) & (yf <= q[:, j])))
        width[key] = float(np.mean(surrogate.from_fit_space(q[:, j]) - surrogate.from_fit_space(q[:, i])))
    pin = distribution.pinball(levels, q, yf)
    hits = {conformal.level_key(t): float(np.mean(yf <= q[:, k])) for k, t in enumerate(levels)}

    uniq, obs_med = group_median(y, groups)
    first = {g: i for i, g in reversed(list(enumerate(groups)))}
    pred_med = surrogate.median(X[[first[g] for g in uniq]])
    tau = kendalltau(pred_med, obs_med).statistic if len(uniq) > 1 else float("nan")
    log_ok = surrogate.transform == "log"
    report: dict[str, Any] = {
        "n_observations_test": len(y),
        "coverage": coverage,
        "interval_width": width,
        "pinball": float(pin.mean()),
        "pinball_per_level": {conformal.level_key(t): float(v) for t, v in zip(levels, pin, strict=True)},
        "kendall_tau": _f(tau),
        "r2": _f(_r2(pred_med, obs_med)),
        "r2_log": _f(_r2(np.log(pred_med), np.log(obs_med))) if log_ok else None,
        "ks": None,
        "fit_space": surrogate.transform,
    }
    val = Validation(report, level_hits=hits, medians=(pred_med, obs_med))
    med_idx = surrogate.median_index
    lo, hi = pairs.get("0.5", (0, len(levels) - 1))
    iqr = np.maximum(q[:, hi] - q[:, lo], 1e-12)
    val.observed_residuals = (yf - q[:, med_idx]) / iqr
    if surrogate.observation_noise:
        rng = np.random.default_rng(seed)
        rep = np.repeat(np.arange(len(y)), SAMPLES_PER_OBSERVATION)
        draws = distribution.sample(levels, q[rep], rng)
        val.sampled_residuals = (draws - q[rep, med_idx]) / iqr[rep]
        report["ks"] = float(ks_2samp(val.observed_residuals, val.sampled_residuals).statistic)
    return val


def plot(val: Validation, out_dir: Path, name: str) -> list[Path]:
    """Q-Q plot (sampled vs observed), calibration curve and predicted-vs-observed medians as PNGs.

    Returns:
        The files written: ``<name>_qq.png`` (hardware metrics only), ``<name>_calibration.png``,
        ``<name>_medians.png``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    if len(val.sampled_residuals):
        p = np.linspace(0.005, 0.995, 199)
        qo, qs = np.quantile(val.observed_residuals, p), np.quantile(val.sampled_residuals, p)
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot(qs, qo, ".", ms=3)
        lim = [min(qo.min(), qs.min()), max(qo.max(), qs.max())]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set(xlabel="simulated quantiles (normalised)", ylabel="observed quantiles (normalised)",
               title=f"{name}: Q-Q, KS={val.report['ks']:.3f}")
        files.append(out_dir / f"{name}_qq.png")
        fig.tight_layout(), fig.savefig(files[-1], dpi=120), plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    cov = val.report["coverage"]
    ax.plot([float(k) for k in cov], list(cov.values()), "o-", label="central interval coverage")
    ax.plot([float(k) for k in val.level_hits], list(val.level_hits.values()), "s-", ms=3,
            label="share below quantile")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="nominal", ylabel="empirical (test archs)", title=f"{name}: calibration")
    ax.legend(fontsize=8)
    files.append(out_dir / f"{name}_calibration.png")
    fig.tight_layout(), fig.savefig(files[-1], dpi=120), plt.close(fig)
    pred, obs = val.medians
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(obs, pred, ".", ms=4)
    lim = [min(obs.min(), pred.min()), max(obs.max(), pred.max())] if len(obs) else [0, 1]
    ax.plot(lim, lim, "k--", lw=0.8)
    tau, r2 = (val.report[k] if val.report[k] is not None else float("nan") for k in ("kendall_tau", "r2"))
    ax.set(xlabel="observed median", ylabel="predicted median", title=f"{name}: tau={tau:.3f} R2={r2:.3f}")
    files.append(out_dir / f"{name}_medians.png")
    fig.tight_layout(), fig.savefig(files[-1], dpi=120), plt.close(fig)
    return files
