"""``results.json`` of a search run: built from the history, checked against the documented schema.

Keys of /work/shared/API.md, in that order, plus three extras: ``hypervolume_median`` (the same
hypervolume computed from the benchmark's noise-free medians of the evaluated architectures, so
that lucky noise draws and repeated evaluations are not rewarded), ``noise`` and ``timing``.
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
    "pareto_front": list, "history": list,
}


def build_results(
    *, optimizer: str, scale: str, names: Sequence[str], devices: dict[str, str | None], seed: int,
    archs: Sequence[Arch], observed: Sequence[dict[str, float]], medians: dict[str, np.ndarray],
    normalization: Normalization, reference_point: float, noise: bool, timing: dict[str, float],
) -> dict[str, Any]:
    """Assemble the results dict (hypervolume of the normalised, minimised observations)."""
    ref = np.full(len(names), float(reference_point))
    F = normalization({k: np.array([o[k] for o in observed]) for k in names})
    F_median = normalization(medians)
    front = np.flatnonzero(pareto_mask(F))
    entry = lambda i: {"arch": archs[i].to_dict(), "objectives": {k: float(observed[i][k]) for k in names}}
    return {
        "optimizer": optimizer,
        "scale": scale,
        "objectives": list(names),
        "devices": dict(devices),
        "seed": int(seed),
        "n_evals": len(archs),
        "reference_point": ref.tolist(),
        "normalization": normalization.to_dict(),
        "hypervolume": hypervolume(F, ref),
        "hypervolume_curve": [[n, hv] for n, hv in hypervolume_curve(F, ref)],
        "pareto_front": [entry(int(i)) for i in front],
        "history": [entry(i) for i in range(len(archs))],
        "hypervolume_median": hypervolume(F_median, ref),
        "noise": bool(noise),
        "timing": {k: float(v) for k, v in timing.items()},
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
    path.write_text(json.dumps(validate_results(results), indent=1))
    return path
