"""Experiment tracking of a search run, chosen by conf/logger (``wandb``, ``csv`` or ``none``).

``wandb`` logs the config, the hypervolume curve (one step per evaluation), the Pareto front as a
``wandb.Table`` and the run's figures; offline by default (files under ``<run dir>/wandb``,
``wandb sync`` them later), online when ``WANDB_API_KEY`` is set (``mode: auto``). ``csv`` writes
``history.csv`` (one row per evaluation) into the run dir.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hwgpt.errors import InvalidInput
from hwgpt.tracking import wandb_mode


class Tracker:
    """No tracking (``logger=none``); the base of the others."""

    def __init__(self, cfg: Mapping[str, Any], run_dir: Path, config: dict[str, Any]) -> None:
        self.cfg, self.run_dir, self.config = cfg, Path(run_dir), config

    def log_results(self, results: dict[str, Any], figures: Mapping[str, Path]) -> None:
        """Record a finished run."""


class CsvTracker(Tracker):
    """``history.csv``: evaluation number, arch id and JSON, objectives, hypervolume so far."""

    def log_results(self, results: dict[str, Any], figures: Mapping[str, Path]) -> None:
        save_dir = Path(self.cfg.get("save_dir") or self.run_dir)
        save_dir.mkdir(parents=True, exist_ok=True)
        names = results["objectives"]
        with open(save_dir / "history.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["n_evals", "arch", *names, "hypervolume"])
            for e, (n, hv) in zip(results["history"], results["hypervolume_curve"], strict=True):
                w.writerow([n, json.dumps(e["arch"], sort_keys=True), *(e["objectives"][k] for k in names), hv])


class WandbTracker(Tracker):
    """Weights & Biases, offline unless a key is set; side files stay in the run dir."""

    def log_results(self, results: dict[str, Any], figures: Mapping[str, Path]) -> None:
        import wandb

        save_dir = Path(self.cfg.get("save_dir") or self.run_dir)
        save_dir.mkdir(parents=True, exist_ok=True)
        for var, sub in (("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config"), ("WANDB_DATA_DIR", "data")):
            os.environ.setdefault(var, str(save_dir / "wandb" / sub))
        run = wandb.init(
            project=self.cfg.get("project", "hwgpt"), mode=wandb_mode(self.cfg.get("mode", "auto")),
            dir=str(save_dir), config=self.config, job_type="search", reinit="create_new",
            name=f"{results['optimizer']}-{results['scale']}-seed{results['seed']}",
        )
        try:
            for n, hv in results["hypervolume_curve"]:
                run.log({"n_evals": n, "hypervolume": hv})
            names = results["objectives"]
            table = wandb.Table(columns=["arch", *names])
            for e in results["pareto_front"]:
                table.add_data(json.dumps(e["arch"], sort_keys=True), *(e["objectives"][k] for k in names))
            run.log({"pareto_front": table, **{k: wandb.Image(str(p)) for k, p in figures.items()}})
            run.summary.update({"hypervolume": results["hypervolume"],
                                "hypervolume_median": results["hypervolume_median"]})
        finally:
            run.finish()


TRACKERS: dict[str, type[Tracker]] = {"none": Tracker, "csv": CsvTracker, "wandb": WandbTracker}


def make_tracker(cfg: Mapping[str, Any] | None, run_dir: Path, config: dict[str, Any]) -> Tracker:
    """The tracker named by ``cfg.name`` (a conf/logger node); ``None`` means no tracking."""
    name = "none" if cfg is None else cfg.get("name", "none")
    if name not in TRACKERS:
        raise InvalidInput(f"logger.name={name!r}; allowed: {sorted(TRACKERS)}")
    if name == "wandb":
        wandb_mode(cfg.get("mode", "auto"))  # a bad mode fails before the search, not after
    return TRACKERS[name](cfg or {}, run_dir, config)
