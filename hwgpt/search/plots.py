"""Figures of a search run (Pareto front, hypervolume curve) and of a comparison of runs.

Matplotlib's object API (``Figure``) renders off-screen without touching the global backend.
Conventions: every axis has its unit, and hardware units name the forward they were measured on
(``ms per forward, 8 x 1024 tokens``: batch x sequence length of the surrogate's measurements,
recorded in ``results["forward"]``); titles name the device(s) and the seed (or, in a comparison,
the number of seeds); 2-D Pareto fronts are staircases (the boundary of the dominated region); with
3+ objectives each pairwise panel shows the front as points only (a projection of a 3-D front is not
a staircase); time axes use seconds, minutes or hours, whichever the range reads best in;
hypervolume curves show the observed (noisy) and the medians' (noise-free) hypervolume side by side;
comparison plots zoom the y-axis onto the band where the curves differ (the attainable maximum is
named in the legend even when it is off the axis).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

# metric -> (display unit, factor from the benchmark's unit)
DISPLAY_UNITS: dict[str, tuple[str, float]] = {
    "perplexity": ("ppl", 1.0), "accuracy": ("fraction of tokens", 1.0), "latency": ("ms per forward", 1e3),
    "energy": ("J per forward", 1.0), "memory": ("MiB", 1.0 / 2**20), "flops": ("GFLOPs", 1e-9),
    "params": ("M parameters", 1e-6),
}
MAXIMISED = ("accuracy",)
PER_FORWARD = ("latency", "energy", "memory")  # measured on a forward of batch x seq_len tokens

Curves = Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


def _metric(name: str) -> str:
    return name.partition("@")[0]


def forward_settings(problem: Any) -> dict[str, dict[str, Any]]:
    """``{objective: {"batch", "seq_len", "dtype"}}`` of the hardware objectives answered by a surrogate.

    The setting the surrogate's measurements were taken in (its ``FeatureSpec``): 8 x 1024 bfloat16 on
    the paper's GPUs, 1 x 256 float32 on this project's CPU profiles. Objectives of a benchmark without
    surrogates (e.g. :class:`hwgpt.search.analytic.AnalyticBenchmark`) are left out.
    """
    out: dict[str, dict[str, Any]] = {}
    for o in getattr(problem, "objectives", ()):
        if _metric(o.metric) not in PER_FORWARD:
            continue
        try:
            bench = problem._bench(o)
            spec = bench.surrogate(f"{o.metric}@{problem.device_of(o)}").spec
            out[o.name] = {"batch": int(spec.batch), "seq_len": int(spec.seq_len), "dtype": str(spec.dtype)}
        except Exception:  # noqa: BLE001 - a benchmark without surrogates: no setting to name
            continue
    return out


def label(results: Mapping[str, Any], name: str) -> str:
    """Axis label of an objective: metric, device, unit (with batch x sequence length per forward)."""
    dev = results.get("devices", {}).get(name)
    unit = DISPLAY_UNITS.get(_metric(name), ("", 1.0))[0]
    fwd = (results.get("forward") or {}).get(name)
    if fwd and unit.endswith("per forward"):
        unit = f"{unit}, {fwd['batch']} × {fwd['seq_len']} tokens"
    elif fwd and unit:
        unit = f"{unit}, forward of {fwd['batch']} × {fwd['seq_len']} tokens"
    base = name if not dev or "@" in name else f"{name} on {dev}"
    return f"{base} [{unit}]" if unit else base


def _scale(name: str) -> float:
    return DISPLAY_UNITS.get(_metric(name), ("", 1.0))[1]


def time_unit(max_seconds: float) -> tuple[str, float]:
    """``(unit, seconds per unit)`` a time axis reaching ``max_seconds`` reads best in (s, min or h)."""
    if not np.isfinite(max_seconds) or max_seconds < 120:
        return "seconds", 1.0
    if max_seconds < 2 * 3600:
        return "minutes", 60.0
    return "hours", 3600.0


def staircase(ax: Any, x: np.ndarray, y: np.ndarray, x_name: str, **kw: Any) -> None:
    """Draw a 2-D front as the staircase bounding its dominated region (direction from the metrics)."""
    order = np.argsort(-x if _metric(x_name) in MAXIMISED else x)
    ax.step(x[order], y[order], where="post", **kw)


def _values(entries: list[dict], names: list[str]) -> np.ndarray:
    return np.array([[e["objectives"][k] * _scale(k) for k in names] for e in entries],
                    dtype=np.float64).reshape(-1, len(names))


def devices_of(results: Mapping[str, Any]) -> str:
    """The devices of a run's hardware objectives, e.g. ``a100`` or ``rtx2080, a6000`` ('' if none)."""
    return ", ".join(dict.fromkeys(d for d in (results.get("devices") or {}).values() if d))


def _title(results: Mapping[str, Any], what: str) -> str:
    inc = "" if results.get("complete", True) else " (interrupted)"
    dev = devices_of(results)
    where = f"{results['scale']} on {dev}" if dev else results["scale"]
    return f"{results['optimizer']}, {where}, seed {results['seed']}{inc}: {what}"


def plot_pareto_front(results: Mapping[str, Any], path: Path) -> Path:
    """All evaluations (grey) and the Pareto front (colour), display units, one panel per objective pair."""
    names = list(results["objectives"])
    pairs = list(combinations(range(len(names)), 2))
    budgets = _budgets_on_axes(results)  # budgets: lines on their axis, extra panels vs the first objective
    extra = [c for c in budgets if budgets[c] is None]
    fig = Figure(figsize=(4.8 * (len(pairs) + len(extra)), 4), layout="constrained")
    axes = fig.subplots(1, len(pairs) + len(extra), squeeze=False)[0]
    H, P = _values(results["history"], names), _values(results["pareto_front"], names)
    feasible = np.array([e.get("feasible", True) for e in results["history"]], dtype=bool)
    front = "Pareto front" if not results.get("constraints") else "least violating" \
        if not results.get("feasible_found", True) else f"feasible front (P >= {results['feasibility_probability']:g})"
    for ax, c in zip(axes[len(pairs):], extra, strict=True):
        x = np.array([e["constraints"][c] for e in results["history"]]) * _scale(c)
        xp = np.array([e["constraints"][c] for e in results["pareto_front"]]) * _scale(c)
        ax.scatter(x[feasible], H[feasible, 0], s=10, c="0.75", label=f"evaluated, feasible ({feasible.sum()})")
        ax.scatter(x[~feasible], H[~feasible, 0], s=14, c="0.55", marker="x",
                   label=f"infeasible as observed ({(~feasible).sum()})")
        ax.scatter(xp, P[:, 0], s=22, c="C3", zorder=3, label=f"{front} ({len(P)})")
        ax.axvline(results["constraints"][c]["budget"] * _scale(c), c="C2", ls="--", lw=1.2, label=f"budget {c}")
        unit = DISPLAY_UNITS.get(_metric(c), ("", 1.0))[0]
        dev = results["constraints"][c].get("device")
        ax.set_xlabel(f"{c}{f' on {dev}' if dev and '@' not in c else ''} [{unit}]")
        ax.set_ylabel(label(results, names[0]))
        ax.legend(fontsize=8)
    for ax, (i, j) in zip(axes[:len(pairs)], pairs, strict=True):
        ax.scatter(H[feasible, i], H[feasible, j], s=10, c="0.75", label=f"evaluated ({len(H)})")
        if not feasible.all():
            ax.scatter(H[~feasible, i], H[~feasible, j], s=14, c="0.55", marker="x",
                       label=f"infeasible as observed ({(~feasible).sum()})")
        for c, k in budgets.items():
            if k in (i, j):
                line = ax.axvline if k == i else ax.axhline
                line(results["constraints"][c]["budget"] * _scale(c), c="C2", ls="--", lw=1.2, label=f"budget {c}")
        ax.scatter(P[:, i], P[:, j], s=22, c="C3", zorder=3, label=f"{front} ({len(P)})")
        if len(names) == 2 and len(P):
            staircase(ax, P[:, i], P[:, j], names[i], c="C3", lw=1.2)
        ax.set_xlabel(label(results, names[i]))
        ax.set_ylabel(label(results, names[j]))
        ax.legend(fontsize=8)
    if len(names) > 2:
        fig.text(0.5, -0.02, f"front of all {len(names)} objectives, projected (points only)", ha="center",
                 fontsize=8)
    fig.suptitle(_title(results, f"hypervolume {results['hypervolume']:.4f} (medians "
                                 f"{results.get('hypervolume_median', float('nan')):.4f})"), fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return Path(path)


def zoom(ax: Any, lows: list[np.ndarray], highs: list[np.ndarray], xs: list[np.ndarray],
         hv_max: float | None = None, skip: float = 0.1) -> None:
    """Set the y-range to the band the curves occupy after the first ``skip`` share of the x-range.

    Early points (a curve climbing from 0) would otherwise stretch the axis so that the band where
    optimizers differ fills a few percent of the plot; the attainable maximum is drawn when it lies
    close to that band and otherwise only named in the legend.
    """
    lo, hi = np.inf, -np.inf
    for x, low, high in zip(xs, lows, highs, strict=True):
        x = np.asarray(x, dtype=np.float64)
        if not len(x):
            continue
        keep = x >= x.min() + skip * (x.max() - x.min())
        lo = min(lo, float(np.nanmin(np.asarray(low)[keep])))
        hi = max(hi, float(np.nanmax(np.asarray(high))))
    if not np.isfinite(lo) or not np.isfinite(hi):
        return
    pad = max(0.08 * (hi - lo), 1e-3 * max(abs(hi), 1e-9))
    top = hi + pad
    if hv_max is not None:
        if hv_max <= hi + 3 * pad:
            top = max(top, hv_max + pad / 2)
            ax.axhline(hv_max, c="0.4", ls="--", lw=1, label=f"attainable maximum {hv_max:.3f}")
        else:
            ax.plot([], [], c="0.4", ls="--", lw=1, label=f"attainable maximum {hv_max:.3f} (above the axis)")
    ax.set_ylim(lo - pad, top)


def _budgets_on_axes(results: Mapping[str, Any]) -> dict[str, int | None]:
    """``{budget: index of the objective it bounds (same metric and device), or None}``."""
    names, devices = list(results["objectives"]), results.get("devices", {})
    out: dict[str, int | None] = {}
    for c, b in (results.get("constraints") or {}).items():
        hits = [k for k, n in enumerate(names) if _metric(n) == b["metric"]
                and (b.get("device") is None or devices.get(n, n.partition("@")[2] or None) == b["device"])]
        out[c] = hits[0] if hits else None
    return out


def plot_hypervolume(results: Mapping[str, Any], path: Path) -> Path:
    """Hypervolume (normalised objectives), observed and of the medians, against evaluations and simulated time."""
    curve = np.array(results["hypervolume_curve"], dtype=np.float64).reshape(-1, 2)
    med = results.get("hypervolume_median_curve")
    med = np.array(med, dtype=np.float64).reshape(-1, 2) if med else None
    seconds = np.array([e.get("cumulative_simulated_seconds", np.nan) for e in results["history"]], dtype=np.float64)
    unit, per = time_unit(float(np.nanmax(seconds)) if len(seconds) else 0.0)
    hv_max = results.get("hypervolume_max", float(np.prod(results["reference_point"])))
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, x, xlabel in ((axes[0], curve[:, 0], "evaluations"),
                          (axes[1], seconds / per, f"simulated time [{unit}]")):
        ax.step(x, curve[:, 1], where="post", c="C0", label="observed (noisy)")
        ys = [curve[:, 1]]
        if med is not None and len(med) == len(curve):
            ax.step(x, med[:, 1], where="post", c="C1", label="medians (noise-free)")
            ys.append(med[:, 1])
        zoom(ax, ys, ys, [x] * len(ys), hv_max=hv_max)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("hypervolume [normalised units]")
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(_title(results, " vs ".join(results["objectives"])), fontsize=10)
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_comparison(
    curves: Curves, path: Path, title: str = "", xlabel: str = "evaluations", hv_max: float | None = None,
    seeds: Mapping[str, int] | None = None, noisy: Curves | None = None, seconds: bool = False,
) -> Path:
    """Mean hypervolume curve ± one standard error per optimizer: ``{name: (x, mean, se)}``.

    Args:
        curves: The medians' (noise-free) curves.
        path: Where to write the PNG.
        title: Figure title (the problem, its devices).
        xlabel: x-axis label (ignored when ``seconds``: the unit is chosen from the range).
        hv_max: The attainable maximum (drawn when near the curves, else named in the legend).
        seeds: Seeds per optimizer, shown in the legend.
        noisy: The observed (noisy) curves, drawn in a second panel beside the medians'.
        seconds: x is simulated seconds; shown in seconds, minutes or hours, whichever reads best.
    """
    panels = [("medians (noise-free)", curves)] + ([("observed (noisy)", noisy)] if noisy else [])
    fig = Figure(figsize=(6 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    if seconds:
        xmax = max((float(np.max(x)) for x, _, _ in curves.values() if len(x)), default=0.0)
        unit, per = time_unit(xmax)
        xlabel = f"simulated time [{unit}]"
    else:
        per = 1.0
    for ax, (what, cs) in zip(axes, panels, strict=True):
        lows, highs, xs = [], [], []
        for k, (x, mean, se) in cs.items():
            n = (seeds or {}).get(k)
            x = np.asarray(x, dtype=np.float64) / per
            ax.step(x, mean, where="post", label=f"{k} ({n} seed{'s' if n != 1 else ''})" if n else k)
            ax.fill_between(x, mean - se, mean + se, alpha=0.2, step="post")
            lows.append(mean - se)
            highs.append(mean + se)
            xs.append(x)
        zoom(ax, lows, highs, xs, hv_max=hv_max)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"hypervolume, {what} [normalised units]\n(mean ± s.e. over seeds)")
        ax.legend(fontsize=7, loc="lower right", framealpha=0.85)  # rising curves leave it empty
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_fronts(runs: Mapping[str, Mapping[str, Any]], path: Path, title: str = "") -> Path:
    """Pareto fronts of several runs (one per optimizer), one panel per objective pair, display units.

    Two objectives: staircases. More: points only (projections of the full front).
    """
    first = next(iter(runs.values()))
    names = list(first["objectives"])
    pairs = list(combinations(range(len(names)), 2))
    fig = Figure(figsize=(5 * len(pairs), 4.5), layout="constrained")
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    for k, (opt, r) in enumerate(sorted(runs.items())):
        P = _values(r["pareto_front"], names)
        for ax, (i, j) in zip(axes, pairs, strict=True):
            if len(names) == 2 and len(P):
                staircase(ax, P[:, i], P[:, j], names[i], c=f"C{k}", alpha=0.8)
            ax.scatter(P[:, i], P[:, j], s=14, c=f"C{k}", label=f"{opt} ({len(P)})")
            ax.set_xlabel(label(r, names[i]))
            ax.set_ylabel(label(r, names[j]))
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)
    return Path(path)
