"""``results.json`` of a search run: built from the history, checked against the documented schema.

Keys of /work/shared/API.md, in that order, plus extras: ``hypervolume_median`` (the same
hypervolume computed from the benchmark's noise-free medians of the evaluated architectures, so
that lucky noise draws and repeated evaluations are not rewarded; ``hypervolume_median_curve`` its
curve), ``hypervolume_max`` (the
attainable maximum, the reference box ``prod(reference_point)``: noisy observations below the
normalisation's lower bounds can push ``hypervolume`` past it, the medians cannot), ``noise``,
``timing``, ``complete`` (false for an interrupted run), ``stopped_by``, ``n_duplicates``,
``protocol`` and ``budget``.

Simulated time: every history entry carries ``simulated_seconds`` (what measuring it would have
taken, :meth:`hwgpt.Benchmark.simulated_seconds`), ``cumulative_simulated_seconds`` and
``rounds`` (its fidelity); the top-level ``simulated_seconds`` is the run's total.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwgpt.search.hypervolume import hypervolume, hypervolume_curve, pareto_mask
from hwgpt.search.objectives import Normalization
from hwgpt.search_space import Arch

REQUIRED = {
    "optimizer": str, "scale": str, "objectives": list, "devices": dict, "seed": int, "n_evals": int,
    "reference_point": list, "normalization": dict, "hypervolume": float, "hypervolume_curve": list,
    "pareto_front": list, "history": list, "simulated_seconds": float,
}


def build_results(
    *, optimizer: str, scale: str, names: Sequence[str], devices: dict[str, str | None], seed: int,
    archs: Sequence[Arch], observed: Sequence[dict[str, float]], medians: dict[str, np.ndarray],
    normalization: Normalization, reference_point: float, noise: bool, timing: dict[str, float],
    seconds: Sequence[float] | None = None, rounds: Sequence[int] | None = None, complete: bool = True,
    stopped_by: str = "n_evals", n_duplicates: int = 0, extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the results dict (hypervolume of the normalised, minimised observations)."""
    ref = np.full(len(names), float(reference_point))
    n = len(archs)
    F = normalization({k: np.array([o[k] for o in observed], dtype=np.float64) for k in names}).reshape(n, len(names))
    F_median = normalization(medians).reshape(n, len(names))
    front = np.flatnonzero(pareto_mask(F)) if n else np.zeros(0, dtype=int)
    secs = [0.0] * n if seconds is None else [float(x) for x in seconds]
    cum = np.cumsum(secs).tolist() if n else []
    rounds = [None] * n if rounds is None else list(rounds)
    entry = lambda i: {"arch": archs[i].to_dict(), "objectives": {k: float(observed[i][k]) for k in names},  # noqa: E731
                       "simulated_seconds": secs[i], "cumulative_simulated_seconds": cum[i], "rounds": rounds[i]}
    return {
        "optimizer": optimizer,
        "scale": scale,
        "objectives": list(names),
        "devices": dict(devices),
        "seed": int(seed),
        "n_evals": n,
        "reference_point": ref.tolist(),
        "normalization": normalization.to_dict(),
        "hypervolume": hypervolume(F, ref) if n else 0.0,
        "hypervolume_curve": [[k, hv] for k, hv in hypervolume_curve(F, ref)] if n else [],
        "pareto_front": [entry(int(i)) for i in front],
        "history": [entry(i) for i in range(n)],
        "simulated_seconds": float(cum[-1]) if n else 0.0,
        "hypervolume_median": hypervolume(F_median, ref) if n else 0.0,
        "hypervolume_median_curve": [[k, hv] for k, hv in hypervolume_curve(F_median, ref)] if n else [],
        "hypervolume_max": float(np.prod(ref)),
        "noise": bool(noise),
        "timing": {k: float(v) for k, v in timing.items()},
        "complete": bool(complete),
        "stopped_by": stopped_by,
        "n_duplicates": int(n_duplicates),
        **(extra or {}),
    }


def validate_results(results: dict[str, Any]) -> dict[str, Any]:
    """Raise ValueError if ``results`` does not follow the schema; returns it."""
    for key, typ in REQUIRED.items():
        if key not in results:
            raise ValueError(f"results: missing key {key!r}")
        if not isinstance(results[key], typ) or (typ is int and isinstance(results[key], bool)):
            raise ValueError(f"results[{key!r}]: expected {typ.__name__}, got {type(results[key]).__name__}")
    names = results["objectives"]
    if set(results["normalization"]) != set(names) or len(results["reference_point"]) != len(names):
        raise ValueError("results: normalization and reference_point must cover exactly the objectives")
    if len(results["history"]) != results["n_evals"] or len(results["hypervolume_curve"]) != results["n_evals"]:
        raise ValueError("results: history and hypervolume_curve need one entry per evaluation")
    for e in results["history"] + results["pareto_front"]:
        Arch.from_dict(e["arch"])
        if set(e["objectives"]) != set(names):
            raise ValueError(f"results: entry objectives {sorted(e['objectives'])} != {names}")
    return results


def write_results(results: dict[str, Any], run_dir: Path) -> Path:
    """Validate and write ``run_dir/results.json``."""
    path = Path(run_dir) / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("results.json.tmp")
    tmp.write_text(json.dumps(validate_results(results), indent=1))
    tmp.replace(path)  # atomic: an interruption while writing never leaves half a file
    return path
