"""A multi-objective search run: ``run(cfg)`` behind ``python search.py``.

Syne Tune in-process: the optimizer is a Syne Tune searcher under ``SingleFidelityScheduler``,
driven by ``AskTellScheduler`` (no process per evaluation). Each evaluation decodes the config
(:meth:`hwgpt.SearchSpace.from_config`), asks the benchmark (a noisy observation by default,
medians with ``noise=false``) and tells the scheduler the min-max-normalised, minimised
objectives (see :mod:`hwgpt.search.objectives`). Every check on the config runs before any work.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError
from tqdm.auto import tqdm

from hwgpt.search.objectives import Normalization, parse_objectives
from hwgpt.search.plots import plot_hypervolume, plot_pareto_front
from hwgpt.search.problem import SurrogateProblem
from hwgpt.search.results import build_results, write_results
from hwgpt.search.tracking import make_tracker
from hwgpt.search_space import Arch

log = logging.getLogger(__name__)


@contextmanager
def seeded(seed: int, threads: int | None = None) -> Iterator[None]:
    """Seed Python's, numpy's and torch's global generators (Syne Tune 0.16 samples from numpy's
    global one and ignores ``random_seed`` there) and set torch's thread count; restore all after."""
    import torch

    states = random.getstate(), np.random.get_state(), torch.get_rng_state(), torch.get_num_threads()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        torch.set_num_threads(states[3])


def optimize(
    problem: SurrogateProblem, normalization: Normalization, searcher: Any, n_evals: int,
    seed: int = 0, progress: bool = True,
) -> tuple[list[Arch], list[dict[str, float]], dict[str, float]]:
    """The ask/tell loop.

    Returns:
        The evaluated archs, their raw observed objectives, and wall times: ``benchmark_s``
        (benchmark queries), ``optimizer_s`` (suggest + update) and ``total_s``.
    """
    from syne_tune.optimizer.schedulers.ask_tell_scheduler import AskTellScheduler
    from syne_tune.optimizer.schedulers.single_fidelity_scheduler import SingleFidelityScheduler

    space = problem.space
    scheduler = AskTellScheduler(SingleFidelityScheduler(
        space.to_syne_tune(), metrics=problem.names, do_minimize=True, searcher=searcher, random_seed=seed,
    ))
    archs: list[Arch] = []
    observed: list[dict[str, float]] = []
    t_bench = t_opt = 0.0
    start = time.perf_counter()
    for i in tqdm(range(n_evals), desc="search", disable=not progress, leave=False):
        t0 = time.perf_counter()
        trial = scheduler.ask()
        t1 = time.perf_counter()
        arch = space.from_config(trial.config)
        raw = problem.evaluate(arch, i)
        t2 = time.perf_counter()
        scheduler.tell(trial, dict(zip(problem.names, normalization(raw).tolist(), strict=True)))
        t_opt += (t1 - t0) + (time.perf_counter() - t2)
        t_bench += t2 - t1
        archs.append(arch)
        observed.append(raw)
    return archs, observed, {"benchmark_s": t_bench, "optimizer_s": t_opt, "total_s": time.perf_counter() - start}


def _check(cfg: DictConfig) -> None:
    """Config errors that need no benchmark, with what is allowed."""
    n = cfg.n_evals
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n_evals must be a positive int, got {n!r}")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int):
        raise ValueError(f"seed must be an int, got {cfg.seed!r}")
    if not isinstance(cfg.noise, bool):
        raise ValueError(f"noise must be true or false, got {cfg.noise!r}")
    ref = cfg.reference_point
    if isinstance(ref, bool) or not isinstance(ref, (int, float)) or ref <= 0:
        raise ValueError(f"reference_point must be a positive number (normalised units), got {ref!r}")
    if "searcher" not in cfg.optimizer:
        raise ValueError(f"optimizer config {cfg.optimizer.get('name')!r} has no 'searcher' node")


def _plain(cfg: DictConfig) -> dict[str, Any]:
    """The config as a dict for trackers (unresolved where an interpolation needs a Hydra app)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except InterpolationResolutionError:
        return OmegaConf.to_container(cfg, resolve=False)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run one search and write ``results.json``, ``pareto_front.png`` and ``hypervolume.png`` into the run dir.

    Args:
        cfg: The composed conf/search.yaml.

    Returns:
        The results dict (see :mod:`hwgpt.search.results`).
    """
    _check(cfg)
    name = cfg.optimizer.name
    objectives = parse_objectives(list(cfg.objectives), cfg.device.name, dict(cfg.get("devices") or {}))
    if cfg.optimizer.get("multi_objective", True) and len(objectives) < 2:
        raise ValueError(
            f"optimizer {name!r} is multi-objective: needs at least 2 objectives, got {list(cfg.objectives)}"
        )
    problem = SurrogateProblem(
        instantiate(cfg.benchmark), cfg.scale.name, objectives, cfg.device.name, cfg.noise, cfg.seed
    )
    run_dir = Path(cfg.paths.output_dir)
    tracker = make_tracker(cfg.get("logger"), run_dir, _plain(cfg))
    normalization = problem.normalization(cfg.normalization.n_archs, cfg.normalization.seed)
    log.info("search: %s on %s, objectives %s, devices %s, %d evaluations, seed %d",
             name, cfg.scale.name, problem.names, problem.devices, cfg.n_evals, cfg.seed)
    with seeded(cfg.seed, cfg.get("threads")):
        searcher = instantiate(cfg.optimizer.searcher)(config_space=problem.space.to_syne_tune(), random_seed=cfg.seed)
        archs, observed, timing = optimize(
            problem, normalization, searcher, cfg.n_evals, cfg.seed, cfg.get("progress", True)
        )
    results = build_results(
        optimizer=name, scale=cfg.scale.name, names=problem.names, devices=problem.devices, seed=cfg.seed,
        archs=archs, observed=observed, medians=problem.medians(archs), normalization=normalization,
        reference_point=cfg.reference_point, noise=cfg.noise, timing=timing,
    )
    path = write_results(results, run_dir)
    figures = {
        "pareto_front": plot_pareto_front(results, run_dir / "pareto_front.png"),
        "hypervolume": plot_hypervolume(results, run_dir / "hypervolume.png"),
    }
    tracker.log_results(results, figures)
    log.info("%s: hypervolume %.4f (medians %.4f) after %d evaluations (benchmark %.2f ms/eval, optimizer %.2f s); %s",
             name, results["hypervolume"], results["hypervolume_median"], cfg.n_evals,
             1e3 * timing["benchmark_s"] / cfg.n_evals, timing["optimizer_s"], path)
    return results
