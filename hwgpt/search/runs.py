"""The runs of a multirun directory: every ``results.json`` below it, read safely, one per run, by problem.

:mod:`hwgpt.search.report` (the comparison) and :mod:`hwgpt.search.wandb_report` (the W&B Report) both
read runs through here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from hwgpt.errors import InvalidInput
from hwgpt.search.results import load_results

log = logging.getLogger(__name__)

__all__ = ["load_runs", "problem_of"]


def _overrides(run_dir: Path) -> tuple[str, ...]:
    """The Hydra overrides a run was started with (``.hydra/overrides.yaml``), sorted; () if none."""
    f = run_dir / ".hydra" / "overrides.yaml"
    if not f.is_file():
        return ()
    try:
        return tuple(sorted(str(o) for o in yaml.safe_load(f.read_text()) or ()))
    except yaml.YAMLError:
        return ()


def load_runs(root: Path) -> list[dict[str, Any]]:
    """Every ``results.json`` below ``root`` (sorted by path), one per run.

    A run found twice (same problem, optimizer, seed and Hydra overrides, e.g. a study rerun into a copy
    of its directory) is counted once: the complete one, else the newest; a warning names the others.
    Each run dict gets ``run_dir`` (its directory) added.
    """
    paths = sorted(Path(root).rglob("results.json"))
    if not paths:
        raise InvalidInput(
            f"no results.json below {root}; run e.g. `python search.py -m optimizer=rs,ehvi seed=0,1,2`"
        )
    kept: dict[tuple, tuple[dict[str, Any], Path]] = {}
    skipped: list[Path] = []
    for p in paths:
        try:
            r = load_results(p)
        except InvalidInput as e:
            log.warning("skipping a run: %s", e)
            skipped.append(p)
            continue
        r["run_dir"] = str(p.parent)
        key = (problem_of(r), r["optimizer"], r["seed"], _overrides(p.parent))
        if key in kept:
            old, old_path = kept[key]
            better = (r.get("complete", True), p.stat().st_mtime) > (old.get("complete", True),
                                                                      old_path.stat().st_mtime)
            log.warning("%s and %s are the same run (%s, seed %s); keeping %s", old_path, p, r["optimizer"],
                        r["seed"], p if better else old_path)
            if not better:
                continue
        kept[key] = (r, p)
    if not kept:
        raise InvalidInput(f"no readable results.json below {root}: {len(skipped)} found, none valid "
                           f"(first: {skipped[0]}); see the warnings above")
    return [r for r, _ in sorted(kept.values(), key=lambda v: str(v[1]))]


def problem_of(r: dict[str, Any]) -> str:
    """A short label of what was optimised: scale, objectives with devices, noise."""
    objs = ",".join(f"{k}@{r['devices'][k]}" if r["devices"].get(k) and "@" not in k else k for k in r["objectives"])
    budgets = "".join(f", {k}@{b['device']} <= {b['budget']:g}" if b.get("device") and "@" not in k
                      else f", {k} <= {b['budget']:g}" for k, b in (r.get("constraints") or {}).items())
    return f"{r['scale']}: {objs}{budgets} ({'noisy' if r.get('noise', True) else 'medians'})"
