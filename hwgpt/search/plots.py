"""Figures of a search run (Pareto front, hypervolume curve) and of a comparison of runs.

Matplotlib's object API (``Figure``) renders off-screen without touching the global backend.
Conventions: every axis has its unit; 2-D Pareto fronts are staircases (the boundary of the
dominated region); with 3+ objectives each pairwise panel shows the front as points only (a
projection of a 3-D front is not a staircase); hypervolume plots mark the attainable maximum
(the reference box) and show the curve against evaluations and against simulated hours; titles
carry the seed.
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


def _metric(name: str) -> str:
    return name.partition("@")[0]


def label(results: Mapping[str, Any], name: str) -> str:
    """Axis label of an objective: metric, device, unit."""
    dev = results.get("devices", {}).get(name)
    unit = DISPLAY_UNITS.get(_metric(name), ("", 1.0))[0]
    base = name if not dev or "@" in name else f"{name} on {dev}"
    return f"{base} [{unit}]" if unit else base


def _scale(name: str) -> float:
    return DISPLAY_UNITS.get(_metric(name), ("", 1.0))[1]


def staircase(ax: Any, x: np.ndarray, y: np.ndarray, x_name: str, **kw: Any) -> None:
    """Draw a 2-D front as the staircase bounding its dominated region (direction from the metrics)."""
    order = np.argsort(-x if _metric(x_name) in MAXIMISED else x)
    ax.step(x[order], y[order], where="post", **kw)


def _values(entries: list[dict], names: list[str]) -> np.ndarray:
    return np.array([[e["objectives"][k] * _scale(k) for k in names] for e in entries],
                    dtype=np.float64).reshape(-1, len(names))


def _title(results: Mapping[str, Any], what: str) -> str:
    inc = "" if results.get("complete", True) else " (interrupted)"
    return f"{results['optimizer']} on {results['scale']}, seed {results['seed']}{inc}: {what}"


def plot_pareto_front(results: Mapping[str, Any], path: Path) -> Path:
    """All evaluations (grey) and the Pareto front (colour), display units, one panel per objective pair."""
    names = list(results["objectives"])
    pairs = list(combinations(range(len(names)), 2))
    fig = Figure(figsize=(4.8 * len(pairs), 4), layout="constrained")
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    H, P = _values(results["history"], names), _values(results["pareto_front"], names)
    for ax, (i, j) in zip(axes, pairs, strict=True):
        ax.scatter(H[:, i], H[:, j], s=10, c="0.75", label=f"evaluated ({len(H)})")
        ax.scatter(P[:, i], P[:, j], s=22, c="C3", zorder=3, label=f"Pareto front ({len(P)})")
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


def plot_hypervolume(results: Mapping[str, Any], path: Path) -> Path:
    """Hypervolume (normalised objectives) against evaluations and against simulated hours."""
    curve = np.array(results["hypervolume_curve"], dtype=np.float64).reshape(-1, 2)
    hours = np.array([e.get("cumulative_simulated_seconds", np.nan) for e in results["history"]]) / 3600.0
    hv_max = results.get("hypervolume_max", float(np.prod(results["reference_point"])))
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, x, xlabel in ((axes[0], curve[:, 0], "evaluations"), (axes[1], hours, "simulated time [hours]")):
        ax.step(x, curve[:, 1], where="post", c="C0", label="observed")
        ax.axhline(hv_max, c="0.4", ls="--", lw=1, label=f"attainable maximum {hv_max:.3f}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("hypervolume [normalised units]")
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(_title(results, " vs ".join(results["objectives"])), fontsize=10)
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_comparison(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: Path, title: str = "",
    xlabel: str = "evaluations", hv_max: float | None = None,
) -> Path:
    """Mean hypervolume curve ± one standard error per optimizer: ``{name: (x, mean, se)}``."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for k, (n, mean, se) in curves.items():
        ax.step(n, mean, where="post", label=k)
        ax.fill_between(n, mean - se, mean + se, alpha=0.2, step="post")
    if hv_max is not None:
        ax.axhline(hv_max, c="0.4", ls="--", lw=1, label=f"attainable maximum {hv_max:.3f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("hypervolume [normalised units] (mean ± s.e.)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
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
