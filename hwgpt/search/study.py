"""The paper's optimizer comparison as one command: ``python search.py -m +experiment=study_2obj``.

A study is a Hydra experiment config (conf/experiment/study_*.yaml) that sweeps optimizers x seeds on
one problem with a budget in simulated hours, runs the jobs in parallel (conf/hydra/launcher/parallel.yaml,
Hydra's joblib launcher), writes every run into a fixed directory (``outputs/study/<name>/<optimizer>-seed<s>``)
and ends with the comparison report (:mod:`hwgpt.search.report`) of that directory.

Resumable: with ``skip_finished: true`` (set by the study configs) a job whose run dir already holds a
complete ``results.json`` for the same problem, optimizer, seed and budget returns it at once
(:func:`finished`); one that holds a partial one (an interrupted run, ``complete: false``), or only the
journal ``history.jsonl`` of a run killed mid-way (SIGKILL, OOM), resumes it where the optimizer supports
resuming, and starts over otherwise (MOASHA). Rerunning the command after Ctrl-C or SIGKILL therefore
redoes only what is missing, and the report counts every run once.

:class:`SweepReport` is the Hydra callback that ends every multirun of ``search.py`` (conf/hydra/default.yaml):
it says where the sweep went and how to compare its runs, and with ``report: true`` (the studies) writes
the report itself.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

STUDY_KEYS = ("optimizer", "seed", "noise")


def _budget(cfg: DictConfig) -> dict[str, Any]:
    hours = OmegaConf.select(cfg, "budget.simulated_hours", default=None)
    return {"simulated_hours": None if hours is None else float(hours),
            "n_evals": int(cfg.budget.get("max_evals", 100_000)) if hours is not None else int(cfg.n_evals)}


def finished(cfg: DictConfig) -> dict[str, Any] | None:
    """The results of this job's run if its run dir already holds them complete, else None.

    ``cfg.paths.output_dir`` is the job's run dir. Complete means ``complete: true`` and the same
    optimizer, seed, noise, objectives, scale and budget as ``cfg``; a run dir holding a different run
    is left to the search (which overwrites it, with a warning here). A partial run (``complete: false``)
    of an optimizer that can resume sets ``cfg.resume = true`` so that the search continues it.
    """
    path = Path(cfg.paths.output_dir) / "results.json"
    if not path.is_file():
        _resume_from_journal(cfg)
        return None
    try:
        prev = json.loads(path.read_text())
    except json.JSONDecodeError:
        log.warning("%s is not valid JSON (a run killed while writing?); running it again", path)
        return None
    now = {"optimizer": cfg.optimizer.name, "seed": cfg.seed, "noise": cfg.noise}
    same = all(prev.get(k) == now[k] for k in STUDY_KEYS)
    same = same and prev.get("scale") == OmegaConf.select(cfg, "scale.name", default=prev.get("scale"))
    same = same and [o.partition("@")[0] for o in prev.get("objectives", [])] == \
        [str(o).partition("@")[0] for o in cfg.objectives]
    prev_budget = prev.get("budget") or {}
    same = same and prev_budget.get("simulated_hours") == _budget(cfg)["simulated_hours"]
    if not _budget(cfg)["simulated_hours"]:
        same = same and prev_budget.get("n_evals") == _budget(cfg)["n_evals"]
    if not same:
        log.warning("%s holds a different run (%s, seed %s, budget %s); it will be overwritten", path,
                    prev.get("optimizer"), prev.get("seed"), prev_budget)
        return None
    if prev.get("complete", True):
        log.info("%s, seed %s: finished earlier (%d evaluations, hypervolume %.4f), kept: %s", now["optimizer"],
                 now["seed"], prev.get("n_evals", 0), prev.get("hypervolume", float("nan")), path)
        return prev
    if "scheduler" not in cfg.optimizer:  # multi-fidelity runs cannot resume: they start over
        log.info("%s, seed %s: resuming the interrupted run in %s (%d evaluations kept)", now["optimizer"],
                 now["seed"], path.parent, prev.get("n_evals", 0))
        with open_dict(cfg):
            cfg.resume = True
    return None


def _resume_from_journal(cfg: DictConfig) -> None:
    """No results.json, but the journal of a run killed mid-way (``history.jsonl``, SIGKILL/OOM): resume it."""
    journal = Path(cfg.paths.output_dir) / "history.jsonl"
    if "scheduler" in cfg.optimizer or not journal.is_file():
        return
    try:
        with journal.open() as f:
            header, n = json.loads(f.readline() or "{}"), sum(1 for _ in f)
    except (OSError, json.JSONDecodeError):
        return
    if n and header.get("optimizer") == cfg.optimizer.name and header.get("seed") == cfg.seed:
        log.info("%s, seed %s: resuming the run killed after %d evaluations (%s)", cfg.optimizer.name, cfg.seed, n,
                 journal)
        with open_dict(cfg):
            cfg.resume = True


def sweep_dir_of(config: DictConfig) -> Path:
    return Path(str(config.hydra.sweep.dir))


class SweepReport(Callback):
    """Ends a multirun of ``search.py``: where it went, the report (``report: true``) or the command for it.

    Args:
        report: Write the comparison report of the sweep dir (report.md/.csv/.png) when the jobs end.
    """

    def __init__(self, report: bool = False) -> None:
        self.report = bool(report)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("task_name") not in ("search", "study"):
            return
        done = len(list(sweep_dir_of(config).glob("*/results.json")))
        log.info("sweep into %s%s", sweep_dir_of(config),
                 f" ({done} runs there already; finished ones are kept)" if done and config.get("skip_finished")
                 else "")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("task_name") not in ("search", "study"):
            return
        root = sweep_dir_of(config)
        n = len(list(root.rglob("results.json")))
        log.info("sweep done: %d runs in %s", n, root)
        if not n:
            return
        if self.report:
            from hwgpt.search.report import report, to_markdown

            try:
                table = report(root)
            except Exception:  # noqa: BLE001 - the runs are kept; the report can be rerun by hand
                log.exception("the report of %s failed; rerun it with: python -m hwgpt.search.report %s", root, root)
                return
            log.info("comparison (mean ± s.e. over seeds):\n%s", to_markdown(table))
            log.info("report: %s (and report*.png, fronts*.png beside it)", root / "report.md")
            log.info("W&B Report of this study: python -m hwgpt.search.report %s --wandb", root)
        else:
            log.info("compare the runs: python -m hwgpt.search.report %s   (add --wandb for a W&B Report)", root)
