"""Figures of a search run (Pareto front, hypervolume curve) and of a comparison of runs.

Matplotlib's object API (``Figure``) renders off-screen without touching the global backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def _label(results: Mapping[str, Any], name: str) -> str:
    dev = results.get("devices", {}).get(name)
    return f"{name} ({dev})" if dev else name


def plot_pareto_front(results: Mapping[str, Any], path: Path) -> Path:
    """All evaluations (grey) and the Pareto front (colour), raw units, one panel per objective pair."""
    names = results["objectives"]
    pairs = list(combinations(range(len(names)), 2))
    fig = Figure(figsize=(5 * len(pairs), 4), layout="constrained")
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    H = np.array([[e["objectives"][k] for k in names] for e in results["history"]])
    P = np.array([[e["objectives"][k] for k in names] for e in results["pareto_front"]]).reshape(-1, len(names))
    for ax, (i, j) in zip(axes, pairs, strict=True):
        ax.scatter(H[:, i], H[:, j], s=10, c="0.7", label=f"evaluated ({len(H)})")
        order = np.argsort(P[:, i])
        ax.plot(P[order, i], P[order, j], "o-", ms=5, c="C3", label=f"Pareto front ({len(P)})")
        ax.set_xlabel(_label(results, names[i]))
        ax.set_ylabel(_label(results, names[j]))
        ax.legend(fontsize=8)
    fig.suptitle(f"{results['optimizer']} on {results['scale']}, seed {results['seed']}: "
                 f"hypervolume {results['hypervolume']:.4f}")
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_hypervolume(results: Mapping[str, Any], path: Path) -> Path:
    """Hypervolume of the normalised objectives against the number of evaluations."""
    curve = np.array(results["hypervolume_curve"], dtype=np.float64)
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(curve[:, 0], curve[:, 1], c="C0")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume (normalised)")
    ax.set_title(f"{results['optimizer']}: {' vs '.join(results['objectives'])}", fontsize=9)
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_comparison(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: Path, title: str = ""
) -> Path:
    """Mean hypervolume curve ± one standard error per optimizer: ``{name: (n, mean, se)}``."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for k, (n, mean, se) in curves.items():
        ax.plot(n, mean, label=k)
        ax.fill_between(n, mean - se, mean + se, alpha=0.2)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume (mean ± s.e.)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_fronts(runs: Mapping[str, Mapping[str, Any]], path: Path, title: str = "") -> Path:
    """Pareto fronts of several runs (one per optimizer) over the first two objectives, raw units."""
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.subplots()
    for k, (opt, r) in enumerate(sorted(runs.items())):
        a, b = r["objectives"][:2]
        P = np.array([[e["objectives"][a], e["objectives"][b]] for e in r["pareto_front"]]).reshape(-1, 2)
        P = P[np.argsort(P[:, 0])]
        ax.step(P[:, 0], P[:, 1], where="post", c=f"C{k}", alpha=0.8)
        ax.scatter(P[:, 0], P[:, 1], s=14, c=f"C{k}", label=f"{opt} ({len(P)})")
        ax.set_xlabel(_label(r, a))
        ax.set_ylabel(_label(r, b))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return Path(path)
