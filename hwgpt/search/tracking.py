"""Experiment tracking of a search run, chosen by conf/logger (``wandb``, ``csv`` or ``none``).

A tracker is started before the search (:meth:`Tracker.start`), sees every counted evaluation as it
happens (:meth:`Tracker.on_evaluation`, the runner's per-evaluation callback) and records the finished
(or interrupted) run (:meth:`Tracker.log_results`).

``wandb`` logs one history row per evaluation while the search runs, so a live dashboard shows
progress: ``evaluation`` (1-based), the raw objectives (``objectives/<name>``), ``hypervolume`` (of the
normalised observations so far, updated incrementally: recomputed only when an evaluation enters the
front, and at most every ``logger.hypervolume_every``-th evaluation; in between the last value is
logged), ``simulated_seconds``/``simulated_hours`` (cumulative) and ``rounds``. The runs of one Hydra
multirun share a ``group`` (the sweep directory's name, or ``logger.group``) and carry optimizer,
scale, objectives, devices and seed in their config (``search.*``) and tags; the summary holds the
final hypervolumes; the Pareto front is a ``wandb.Table`` (key ``pareto_front_table``) next to the
figures (``plots/<name>``). Offline by default (files under ``<run dir>/wandb``, ``wandb sync`` them
later), online when ``WANDB_API_KEY`` is set (``mode: auto``); W&B's own console output is silenced
unless ``logger.verbose=true``. ``wandb_run.json`` in the run dir names the run (project, group, id,
mode, directory) for :mod:`hwgpt.search.report`.

``csv`` writes ``history.csv`` (one row per evaluation) into the run dir.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwgpt.errors import InvalidInput
from hwgpt.search.hypervolume import hypervolume
from hwgpt.tracking import wandb_mode

log = logging.getLogger(__name__)


class IncrementalHypervolume:
    """Hypervolume of a growing set of normalised, minimised points, without recomputing from scratch.

    A point that leaves the reference box or is weakly dominated by the front changes nothing; one that
    enters the front marks the hypervolume stale, and it is recomputed (on the front only) at the next
    :meth:`add` whose count is a multiple of ``every`` (1: every time the front changes).
    """

    def __init__(self, reference_point: Sequence[float], every: int = 1) -> None:
        self.ref = np.asarray(reference_point, dtype=np.float64)
        self.every = max(1, int(every))
        self.front = np.zeros((0, len(self.ref)))
        self.value = 0.0
        self.n = 0
        self.recomputed = 0
        self._stale = False

    def add(self, y: np.ndarray) -> float:
        """Add one point; returns the hypervolume so far (as of the last recomputation)."""
        y = np.asarray(y, dtype=np.float64)
        self.n += 1
        if (y < self.ref).all() and not (self.front <= y).all(axis=1).any():
            self.front = np.vstack([self.front[~(y <= self.front).all(axis=1)], y])
            self._stale = True
        if self._stale and self.n % self.every == 0:
            self.value = hypervolume(self.front, self.ref)
            self.recomputed += 1
            self._stale = False
        return self.value


class Tracker:
    """No tracking (``logger=none``); the base of the others."""

    def __init__(self, cfg: Mapping[str, Any], run_dir: Path, config: dict[str, Any]) -> None:
        self.cfg, self.run_dir, self.config = cfg, Path(run_dir), config

    def start(self, names: Sequence[str], normalization: Any, reference_point: float | Sequence[float],
              devices: Mapping[str, str | None] | None = None) -> None:
        """Called once before the search with the objectives, what normalises them and their devices."""

    def on_evaluation(self, record: dict[str, Any]) -> None:
        """Called after each counted evaluation with the runner's record (``index``, ``objectives``...)."""

    def log_results(self, results: dict[str, Any], figures: Mapping[str, Path]) -> None:
        """Record a finished (or interrupted: ``results["complete"]`` false) run."""


class CsvTracker(Tracker):
    """``history.csv``: evaluation number, arch id and JSON, objectives, hypervolume so far."""

    def log_results(self, results: dict[str, Any], figures: Mapping[str, Path]) -> None:
        save_dir = Path(self.cfg.get("save_dir") or self.run_dir)
        save_dir.mkdir(parents=True, exist_ok=True)
        names = results["objectives"]
        with open(save_dir / "history.csv", "w", newline="") as f:
            w = csv.writer(f)
            budgets = list(results.get("constraints") or {})  # budgets: observed values, feasibility, P(feasible)
            extra = [*budgets, "feasible", "p_feasible"] if budgets else []
            w.writerow(["n_evals", "arch", *names, *extra, "hypervolume"])
            for e, (n, hv) in zip(results["history"], results["hypervolume_curve"], strict=True):
                more = [*(e["constraints"][c] for c in budgets), e["feasible"], e["p_feasible"]] if budgets else []
                w.writerow([n, json.dumps(e["arch"], sort_keys=True), *(e["objectives"][k] for k in names), *more, hv])


def sweep_group(cfg: Mapping[str, Any]) -> str | None:
    """The W&B group of a run: ``logger.group`` if set, else the sweep directory's name in a Hydra
    multirun (every job of one ``-m`` command shares it), else None."""
    if cfg.get("group"):
        return str(cfg["group"])
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized():
            hc = HydraConfig.get()
            if hc.mode == RunMode.MULTIRUN:
                return Path(str(hc.sweep.dir)).name
    except (ImportError, ValueError, AttributeError):
        pass
    return None


def search_info(config: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a search run in W&B (config ``search.*`` and tags)."""
    def pick(path: str) -> Any:
        node: Any = config
        for k in path.split("."):
            node = node.get(k) if isinstance(node, Mapping) else None
        return node

    return {"optimizer": pick("optimizer.name"), "scale": pick("scale.name"), "device": pick("device.name"),
            "objectives": list(pick("objectives") or []), "devices": dict(pick("devices") or {}),
            "seed": pick("seed")}


class WandbTracker(Tracker):
    """Weights & Biases, offline unless a key is set; side files stay in the run dir."""

    def __init__(self, cfg: Mapping[str, Any], run_dir: Path, config: dict[str, Any]) -> None:
        super().__init__(cfg, run_dir, config)
        self.run: Any = None
        self.hv: IncrementalHypervolume | None = None
        self.normalization: Any = None
        self.names: list[str] = []
        self.seconds = 0.0
        self.logged = 0

    def start(self, names: Sequence[str], normalization: Any, reference_point: float | Sequence[float],
              devices: Mapping[str, str | None] | None = None) -> None:
        import wandb

        save_dir = Path(self.cfg.get("save_dir") or self.run_dir)
        save_dir.mkdir(parents=True, exist_ok=True)
        for var, sub in (("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config"), ("WANDB_DATA_DIR", "data")):
            os.environ.setdefault(var, str(save_dir / "wandb" / sub))
        verbose = bool(self.cfg.get("verbose", False))
        info = search_info(self.config)
        info.update(objectives=list(names))
        if devices is not None:
            info.update(devices={k: v for k, v in devices.items() if v})
        ref = np.broadcast_to(np.asarray(reference_point, dtype=np.float64), (len(names),))
        self.names, self.normalization = list(names), normalization
        self.hv = IncrementalHypervolume(ref, int(self.cfg.get("hypervolume_every", 1) or 1))
        group = sweep_group(self.cfg)
        tags = [t for t in (info["optimizer"], info["scale"], info["device"], *names,
                            *(f"{k}@{v}" for k, v in info["devices"].items()),
                            None if info["seed"] is None else f"seed{info['seed']}") if t]
        mode = wandb_mode(self.cfg.get("mode", "auto"))
        self.run = wandb.init(
            project=self.cfg.get("project", "hwgpt"), entity=self.cfg.get("entity") or None, mode=mode,
            dir=str(save_dir), config={**self.config, "search": info}, job_type="search", reinit="create_new",
            group=group, tags=tags[:64],
            name=f"{info['optimizer']}-{info['scale']}-seed{info['seed']}",
            settings=wandb.Settings(silent=not verbose, console="auto" if verbose else "off",
                                    show_info=verbose, show_warnings=verbose),
        )
        self.run.define_metric("evaluation")
        for key in ("hypervolume", "simulated_hours", "simulated_seconds", "rounds", "objectives/*"):
            self.run.define_metric(key, step_metric="evaluation")
        (self.run_dir / "wandb_run.json").write_text(json.dumps({
            "project": self.run.project, "entity": self.run.entity or None, "group": group, "id": self.run.id,
            "name": self.run.name, "mode": mode, "dir": str(Path(self.run.dir).parent),
            "url": getattr(self.run, "url", None) if mode == "online" else None,
        }, indent=1))

    def on_evaluation(self, record: dict[str, Any]) -> None:
        if self.run is None or self.hv is None:
            return
        raw = record["objectives"]
        feasible = record.get("feasible", True)  # budgets: only observed-feasible points enter the live hypervolume
        hv = self.hv.add(self.normalization({k: raw[k] for k in self.names})) if feasible else self.hv.value
        self.seconds += float(record.get("simulated_seconds", 0.0))
        row = {"evaluation": int(record["index"]) + 1, "hypervolume": hv, "simulated_seconds": self.seconds,
               "simulated_hours": self.seconds / 3600.0, **{f"objectives/{k}": float(raw[k]) for k in self.names}}
        if record.get("rounds") is not None:
            row["rounds"] = int(record["rounds"])
        if "constraints" in record:
            row["feasible"] = int(feasible)
            row.update({f"constraints/{k}": float(v) for k, v in record["constraints"].items()})
        self.run.log(row)
        self.logged += 1

    def log_results(self, results: dict[str, Any], figures: Mapping[str, Path]) -> None:
        import wandb

        if self.run is None:  # not started (a caller that skipped start): open the run now
            from hwgpt.search.objectives import Normalization, parse_objectives

            objs = parse_objectives(results["objectives"], None, {})
            norm = Normalization(objs, {k: tuple(v) for k, v in results["normalization"].items()})
            self.start(results["objectives"], norm, results["reference_point"], results.get("devices"))
        run = self.run
        try:
            if self.logged == 0:  # no live rows (e.g. an optimizer path without callbacks): the curve now
                for e, (n, hv) in zip(results["history"], results["hypervolume_curve"], strict=True):
                    run.log({"evaluation": n, "hypervolume": hv,
                             "simulated_hours": e.get("cumulative_simulated_seconds", 0.0) / 3600.0})
            names = results["objectives"]
            budgets = list(results.get("constraints") or {})
            extra = [*(f"constraints/{c}" for c in budgets), "p_feasible"] if budgets else []
            table = wandb.Table(columns=["arch", *names, *extra])
            for e in results["pareto_front"]:
                table.add_data(json.dumps(e["arch"], sort_keys=True), *(e["objectives"][k] for k in names),
                               *([*(e["constraints"][c] for c in budgets), e["p_feasible"]] if budgets else []))
            run.log({"pareto_front_table": table, **{f"plots/{k}": wandb.Image(str(p)) for k, p in figures.items()}})
            run.summary.update({
                "hypervolume": results["hypervolume"], "hypervolume_median": results["hypervolume_median"],
                "hypervolume_max": results.get("hypervolume_max"), "n_evals": results["n_evals"],
                "simulated_hours": results["simulated_seconds"] / 3600.0, "complete": results.get("complete", True),
                "optimizer_s": results.get("timing", {}).get("optimizer_s"),
                **({"constraints": results["constraints"], "feasible_found": results["feasible_found"],
                    "n_feasible_final": results["n_feasible_final"],
                    "hypervolume_unconstrained": results["hypervolume_unconstrained"]} if budgets else {}),
            })
        finally:
            run.finish(exit_code=0 if results.get("complete", True) else 1)
            self.run = None

    def __del__(self) -> None:  # a search that raised: close the run so its files are complete
        if getattr(self, "run", None) is not None:
            try:
                self.run.finish(exit_code=1)
            except Exception:  # noqa: BLE001 - best effort at interpreter teardown
                pass


TRACKERS: dict[str, type[Tracker]] = {"none": Tracker, "csv": CsvTracker, "wandb": WandbTracker}


def make_tracker(cfg: Mapping[str, Any] | None, run_dir: Path, config: dict[str, Any]) -> Tracker:
    """The tracker named by ``cfg.name`` (a conf/logger node); ``None`` means no tracking."""
    name = "none" if cfg is None else cfg.get("name", "none")
    if name not in TRACKERS:
        raise InvalidInput(f"logger.name={name!r}; allowed: {sorted(TRACKERS)}")
    if name == "wandb":
        wandb_mode(cfg.get("mode", "auto"))  # a bad mode fails before the search, not after
        every = cfg.get("hypervolume_every", 1)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise InvalidInput(f"logger.hypervolume_every must be a positive int, got {every!r}")
    return TRACKERS[name](cfg or {}, run_dir, config)
