"""``results.json`` of a search run: built from the history, checked against the documented schema.

Keys of /work/shared/API.md, in that order, plus extras: ``hypervolume_median`` (the same
hypervolume computed from the benchmark's noise-free medians of the evaluated architectures, so
that lucky noise draws and repeated evaluations are not rewarded; ``hypervolume_median_curve`` its
curve), ``hypervolume_max`` (the
attainable maximum, the reference box ``prod(reference_point)``: noisy observations below the
normalisation's lower bounds can push ``hypervolume`` past it, the medians cannot), ``noise``,
``timing``, ``complete`` (false for an interrupted run), ``stopped_by``, ``n_duplicates``,
``protocol``, ``budget`` and ``format_version`` (:data:`FORMAT_VERSION`, the version of this
schema; a resumed run refuses another one).

Writing is atomic (a temporary file with a unique name in the run directory, fsync-ed, then
renamed over ``results.json``): a reader, a kill or a concurrent writer never sees half a file.
:func:`load_results` reads one back with a clear :class:`~hwgpt.errors.InvalidInput` for a
truncated, non-JSON or foreign file.

Simulated time: every history entry carries ``simulated_seconds`` (what measuring it would have
taken, :meth:`hwgpt.Benchmark.simulated_seconds`), ``cumulative_simulated_seconds`` and
``rounds`` (its fidelity); the top-level ``simulated_seconds`` is the run's total.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwgpt.errors import InvalidInput
from hwgpt.search.hypervolume import hypervolume, hypervolume_curve, pareto_mask
from hwgpt.search.objectives import Normalization
from hwgpt.search_space import Arch

FORMAT_VERSION = 1
"""Version of the results.json schema (and of the journal, :mod:`hwgpt.search.journal`)."""

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
        "format_version": FORMAT_VERSION,
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
    """Validate and write ``run_dir/results.json`` atomically (unique temporary file, fsync, rename).

    Raises:
        hwgpt.search.rundir.RunDirError: the directory cannot be written (read-only, disk full); an
            earlier results.json is left as it was.
        InvalidInput: a non-finite number in the results (JSON has no NaN/Infinity).
    """
    from hwgpt.search.rundir import RunDirError, describe_os_error

    path = Path(run_dir) / "results.json"
    try:
        text = json.dumps(validate_results(results), indent=1, allow_nan=False)
    except ValueError as e:
        raise InvalidInput(f"results: a non-finite number ({e}); results.json holds finite numbers only") from e
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".results.", suffix=".json.tmp",
                                         delete=False, encoding="utf-8") as f:
            tmp = Path(f.name)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: an interruption while writing never leaves half a file
        tmp = None
    except OSError as e:
        raise RunDirError(f"cannot write {path}: {describe_os_error(e)}; the history is kept in the journal "
                          f"(history.jsonl) in that directory if it could be written") from e
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def load_results(path: Path) -> dict[str, Any]:
    """Read a results.json back, with a clear error for a file that is not one.

    Raises:
        InvalidInput: missing, unreadable, truncated/not JSON, not an object, of another
            :data:`FORMAT_VERSION`, or not following the schema (names the file and what is wrong).
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such results file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path}: cannot read it ({e})") from e
    try:
        results = json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as e:
        what = "truncated (a write was cut off?)" if text.strip() and not text.rstrip().endswith("}") else "not JSON"
        raise InvalidInput(f"{path} is {what}: {e}") from e
    if not isinstance(results, dict):
        raise InvalidInput(f"{path} is not a search results object (got a JSON {type(results).__name__})")
    version = results.get("format_version", FORMAT_VERSION)  # files of before the version key are version 1
    if version != FORMAT_VERSION:
        raise InvalidInput(f"{path} has format_version {version!r}; this hwgpt reads version {FORMAT_VERSION}")
    try:
        validate_results(results)
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidInput(f"{path} is not a valid search results file: {e}") from e
    return results


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")
