"""A multi-objective search run: ``run(cfg)`` behind ``python search.py``.

Syne Tune in-process: the optimizer is a Syne Tune searcher under ``SingleFidelityScheduler``,
driven by ``AskTellScheduler`` (no process per evaluation). Each evaluation decodes the config
(:meth:`hwgpt.SearchSpace.from_config`), asks the benchmark (a simulated measurement at full
fidelity, see :mod:`hwgpt.search.problem`; medians with ``noise=false``) and tells the scheduler
the min-max-normalised, minimised objectives (see :mod:`hwgpt.search.objectives`). Multi-fidelity
schedulers (``optimizer=moasha``) run on Syne Tune's simulator backend instead
(:mod:`hwgpt.search.multifidelity`). Every check on the config runs before any work.

Budgets: ``n_evals`` evaluations, or ``budget.simulated_hours`` of simulated measuring time
(then ``budget.max_evals`` caps the evaluations). Duplicates (an architecture the run has already
evaluated, in canonical form) are answered from the history and not counted
(``duplicates=reuse``; ``remeasure`` evaluates them again, as a new noisy measurement).

Interruption: Ctrl-C or SIGTERM (``search.py`` turns SIGTERM into Ctrl-C) stops the loop, writes
``results.json`` with the history so far (``complete: false``) and the plots, and ends with one
line saying where they are. ``resume=true`` (with ``hydra.run.dir=<that run dir>``) replays the
history to the optimizer (its suggestions are answered from the history, no benchmark calls) and
continues; the draws are keyed by evaluation index, so a resumed run equals an uninterrupted one
for optimizers that are deterministic given their seed (rs, ls, nsga2, morea; BO refits its GPs).

Crash safety (docs/guide/search-safety.md): every counted evaluation is appended to the run's
journal ``history.jsonl`` as it is made (:mod:`hwgpt.search.journal`), so a SIGKILL, an OOM kill
or a full disk loses at most the evaluation being written, and ``resume=true`` continues from the
journal (or from results.json, whichever holds more). The run directory is locked by the run that
owns it (:mod:`hwgpt.search.rundir`); a second run given the same directory refuses.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError
from tqdm.auto import tqdm

from hwgpt.errors import Interrupted, InvalidInput
from hwgpt.search import constraints as budgets
from hwgpt.search.collector import search_collections
from hwgpt.search.config import (  # noqa: F401 - MAX_EVALS, DUPLICATES: where docs and callers found them
    DUPLICATES,
    MAX_EVALS,
    budget_seconds,
    check_config,
    max_evals,
    parse_devices,
    protocol,
    resolve_config,
    resolve_scale,
)
from hwgpt.search.journal import JOURNAL_NAME, Journal
from hwgpt.search.objectives import HARDWARE_METRICS, Normalization, parse_objectives
from hwgpt.search.plots import forward_settings, plot_hypervolume, plot_pareto_front
from hwgpt.search.problem import SurrogateProblem, observation_seed
from hwgpt.search.results import build_results, write_results
from hwgpt.search.resume import check_no_shrink, journal_header, load_history, set_aside
from hwgpt.search.rundir import RunDirLock, check_run_dir
from hwgpt.search.state import SearchState, seeded
from hwgpt.search.tracking import make_tracker
from hwgpt.search_space import Arch

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_DUPLICATES = 1000


def optimize(
    problem: SurrogateProblem, normalization: Normalization, searcher: Any, n_evals: int,
    seed: int = 0, progress: bool = True, *, budget_seconds: float | None = None,
    duplicates: str = "reuse", replay: SearchState | None = None, prefetch: int = 0,
    callbacks: Sequence[Callable[[dict[str, Any]], None]] = (),
) -> SearchState:
    """The ask/tell loop; Ctrl-C ends it cleanly (``stopped_by="interrupted"``).

    Args:
        problem: The black box.
        normalization: Objective normalisation (what the searcher is told).
        searcher: A Syne Tune searcher.
        n_evals: Counted evaluations to reach (including replayed ones).
        seed: The scheduler's seed.
        progress: Show a progress bar.
        budget_seconds: Stop once the simulated seconds reach this (None: no time budget).
        duplicates: ``reuse`` (answer from the history, not counted) or ``remeasure``.
        replay: History to replay first (resume): suggestions are answered from it, in order.
        prefetch: For searchers whose suggestions do not depend on the results (random search): ask
            this many trials ahead and fill the benchmark's cache for them in one batch (the same
            suggestions, in the same order, as asking one at a time). A searcher with an
            ``upcoming(n) -> list[config]`` method (the configs it will suggest next, not consumed:
            nsga2 the rest of a generation, morea and ls the rest of a batch) is asked one at a time
            instead, and the evaluations of up to ``prefetch`` upcoming configs are computed in one
            batch; the values never depend on the guess (a suggestion that differs from it, or lands
            at another index, is computed when it comes).
        callbacks: Called after each counted evaluation (not after a duplicate answered from the
            history), in order, with one record ``{"index": i, "arch": arch.to_dict(), "objectives":
            {metric: raw float}, "simulated_seconds": s, "rounds": r, "replayed": bool}`` (``replayed``:
            the evaluation came from ``replay``, a resumed run's history, and was not measured again).
            Other parts of the runner may add keys (e.g. ``feasible``); a callback must ignore keys it
            does not know. The journal (:mod:`hwgpt.search.journal`) and experiment trackers use this
            hook; a callback that raises ends the search with that error (the history so far is kept
            by the journal), so a callback should be cheap and not raise on purpose.
    """
    from syne_tune.optimizer.schedulers.ask_tell_scheduler import AskTellScheduler
    from syne_tune.optimizer.schedulers.single_fidelity_scheduler import SingleFidelityScheduler

    space = problem.space
    cons = getattr(problem, "constraints", None)  # budgets (hwgpt.search.constraints), set by run()
    scheduler = AskTellScheduler(SingleFidelityScheduler(
        space.to_syne_tune(), metrics=problem.names, do_minimize=True, searcher=searcher, random_seed=seed,
    ))
    state = SearchState()
    seen: dict[Arch, int] = {}
    replay = replay or SearchState()
    mismatched = streak = 0
    ahead: deque[Any] = deque()
    upcoming = getattr(searcher, "upcoming", None) if prefetch > 0 else None
    guess: deque[tuple[dict[str, Any], Arch]] = deque()  # (config, arch) the searcher will suggest next
    t_bench = t_opt = 0.0
    start = time.perf_counter()
    bar = tqdm(total=n_evals, desc="search", disable=not progress, leave=False)
    try:
        while len(state.archs) < n_evals:
            if budget_seconds is not None and state.simulated_seconds >= budget_seconds:
                state.stopped_by = "simulated_budget"
                break
            t0 = time.perf_counter()
            if upcoming is not None:  # the searcher says what it will suggest next: evaluate that ahead
                if not guess and len(state.archs) >= len(replay.archs):
                    guess.extend((c, space.from_config(c)) for c in upcoming(min(prefetch, n_evals - len(state.archs))))
                    tp = time.perf_counter()
                    if guess:
                        problem.prefetch([a for _, a in guess], start=len(state.archs))
                    t_bench += time.perf_counter() - tp
                    t0 += time.perf_counter() - tp  # (counted as benchmark time, not optimizer time)
                trial = scheduler.ask()
                config, arch = guess.popleft() if guess else (None, None)
                if config != trial.config:  # a wrong guess: what was computed ahead is not used
                    arch = space.from_config(trial.config)
                    guess.clear()
            elif prefetch > 0:
                if not ahead:
                    n_ahead = min(prefetch, n_evals - len(state.archs))
                    ahead.extend((t, space.from_config(t.config)) for t in (scheduler.ask() for _ in range(n_ahead)))
                    tp = time.perf_counter()
                    problem.prefetch([a for _, a in ahead], start=len(state.archs))
                    t_bench += time.perf_counter() - tp
                    t0 += time.perf_counter() - tp  # (counted as benchmark time, not optimizer time)
                trial, arch = ahead.popleft()
            else:
                trial = scheduler.ask()
                arch = space.from_config(trial.config)  # decoding counts as the optimizer's
            t1 = time.perf_counter()
            i = len(state.archs)
            dup = seen.get(arch) if duplicates == "reuse" else None
            if dup is not None:
                raw = state.observed[dup]
                state.n_duplicates += 1
                streak += 1
                guess.clear()  # the guessed suggestions land one index earlier than computed: compute again
                if streak >= MAX_CONSECUTIVE_DUPLICATES:
                    log.warning("the optimizer suggested %d evaluated architectures in a row; stopping", streak)
                    state.stopped_by = "duplicates"
                    break
            elif i < len(replay.archs):
                replayed = True
                if arch != replay.archs[i]:
                    mismatched += 1
                    arch = replay.archs[i]
                    trial.config = space.to_config(arch)
                raw, secs, r = replay.observed[i], replay.seconds[i], replay.rounds[i]
            else:
                replayed = False
                raw, secs = problem.observe(arch, i)
                r = problem.max_rounds
                if cons is not None:  # the budgets' metrics, measured with the same keyed draws
                    raw = {**raw, **cons.observe(arch, observation_seed(problem.seed, i), r, problem.noise)}
            t2 = time.perf_counter()
            if cons is not None and hasattr(searcher, "observe_constraints"):
                searcher.observe_constraints(trial.config, cons.slack(raw))
            scheduler.tell(trial, dict(zip(problem.names, normalization(raw).tolist(), strict=True)))
            t_opt += (t1 - t0) + (time.perf_counter() - t2)
            t_bench += t2 - t1
            if dup is None:
                streak = 0
                seen.setdefault(arch, i)
                state.archs.append(arch)
                state.observed.append(raw)
                state.seconds.append(float(secs))
                state.rounds.append(r)
                bar.update(1)
                if callbacks:
                    record = {"index": i, "arch": arch.to_dict(),
                              "objectives": {k: float(raw[k]) for k in problem.names},
                              "simulated_seconds": float(secs), "rounds": r, "replayed": replayed}
                    if cons is not None:
                        record["constraints"], record["feasible"] = cons.values(raw), cons.feasible(raw)
                    for callback in callbacks:
                        callback(record)
    except KeyboardInterrupt:
        state.stopped_by = "interrupted"
    finally:
        bar.close()
    if mismatched:
        log.warning("resume: %d of %d replayed suggestions differed from the history (the optimizer is not "
                    "deterministic given its seed); the history was told instead", mismatched, len(replay.archs))
    state.timing = {"benchmark_s": t_bench, "optimizer_s": t_opt, "total_s": time.perf_counter() - start}
    return state


# ------------------------------------------------------------------------------------------- config
def _plain(cfg: DictConfig) -> dict[str, Any]:
    """The config as a dict for trackers (unresolved where an interpolation needs a Hydra app)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except InterpolationResolutionError:
        return OmegaConf.to_container(cfg, resolve=False)


# ---------------------------------------------------------------------------------------------- run
def run(cfg: DictConfig, callbacks: Sequence[Callable[[dict[str, Any]], None]] = ()) -> dict[str, Any]:
    """Run one search and write ``results.json``, ``pareto_front.png`` and ``hypervolume.png`` into the run dir.

    The run dir is locked for the run (a second run there refuses) and the history is journaled
    into ``history.jsonl`` as it goes (see docs/guide/search-safety.md).

    Args:
        cfg: The composed conf/search.yaml.
        callbacks: Called with one record per counted evaluation (see :func:`optimize`).

    Returns:
        The results dict (see :mod:`hwgpt.search.results`).

    Raises:
        hwgpt.errors.Interrupted: Ctrl-C/SIGTERM, after writing the partial results and plots.
        hwgpt.search.rundir.RunDirError: the run dir cannot be written (read-only, disk full).
    """
    resolve_scale(cfg)  # first: the optimizer configs interpolate ${scale.name}
    resolve_config(cfg)
    run_dir = check_run_dir(cfg)
    with ExitStack() as resources:  # the run dir's lock, the journal
        return _run(cfg, callbacks, run_dir, resources)


def _run(cfg: DictConfig, callbacks: Sequence[Callable[[dict[str, Any]], None]], run_dir: Path,
         resources: ExitStack) -> dict[str, Any]:
    """:func:`run` in its locked run dir (``resources`` closes the journal)."""
    scale = resolve_scale(cfg)
    if cfg.get("skip_finished", False):  # a study rerun: finished runs are kept (hwgpt.search.study)
        from hwgpt.search.study import finished

        if (done := finished(cfg)) is not None:
            return done
    check_config(cfg)
    name = cfg.optimizer.name
    objectives = parse_objectives(list(cfg.objectives), cfg.device.name, parse_devices(cfg.get("devices")))
    constraints = budgets.parse_constraints(cfg.get("constraints"), cfg.device.name)
    if cfg.optimizer.get("multi_objective", True) and len(objectives) < 2:
        budgets.check_optimizer(name, len(objectives), constraints)  # single objective: only under budgets
    try:
        problem = SurrogateProblem(
            instantiate(cfg.benchmark), scale, objectives, cfg.device.name, cfg.noise, cfg.seed, protocol(cfg),
        )
    except InvalidInput:  # the run's device (default cpu) may lack this scale; fine if nothing is measured on it
        if any(x.device == cfg.device.name for x in [*objectives, *constraints] if x.metric in HARDWARE_METRICS):
            raise
        log.info("device %s has no surrogates at scale %s and answers no objective or budget; using the "
                 "benchmark's default device for simulated time", cfg.device.name, scale)
        problem = SurrogateProblem(instantiate(cfg.benchmark), scale, objectives, None, cfg.noise, cfg.seed,
                                   protocol(cfg))
    problem.constraints = cons = budgets.ConstraintSet(
        constraints, problem, cfg.get("feasibility_probability", 0.9)) if constraints else None
    seconds_budget = budget_seconds(cfg)
    n_evals = cfg.budget.get("max_evals", 100_000) if seconds_budget is not None else cfg.n_evals
    multi_fidelity = "scheduler" in cfg.optimizer
    if multi_fidelity:
        from hwgpt.search.multifidelity import check_scheduler

        check_scheduler(cfg, problem)
        if cfg.get("resume", False):
            raise InvalidInput(f"resume=true is not supported for multi-fidelity optimizer {name!r}; "
                               "it is for rs, ls, nsga2, morea and the BO optimizers")
    header = journal_header(cfg, problem)
    history, previous, journaled = None, None, None
    if cfg.get("resume", False) and not run_dir.is_dir():
        load_history(run_dir, header)  # raises: no run to resume (before the run dir is created)
    tracker = make_tracker(cfg.get("logger"), run_dir, _plain(cfg))
    resources.enter_context(RunDirLock(run_dir))  # before the first write (trackers write from start())
    if cfg.get("resume", False):
        history, previous, journaled = load_history(run_dir, header)
        check_no_shrink(history, n_evals, seconds_budget)
    else:
        set_aside(run_dir)
    normalization = problem.normalization(cfg.normalization.n_archs, cfg.normalization.seed)
    header["normalization"] = normalization.to_dict()
    if history is not None:  # the searcher was told objectives normalised with these bounds
        for prev in (journaled.header if journaled is not None else None, previous):
            if prev is not None and prev.get("normalization") not in (None, header["normalization"]):
                raise InvalidInput(f"resume=true: the run in {run_dir} normalised objectives with bounds "
                                   f"{prev['normalization']}, this command with {header['normalization']} "
                                   "(normalization.n_archs/seed or the benchmark differ)")
    tracker.start(problem.names, normalization, cfg.reference_point, problem.devices)  # live: one row per evaluation
    callbacks = [*callbacks, tracker.on_evaluation]
    what = f"{seconds_budget / 3600:g} simulated hours" if seconds_budget else f"{n_evals} evaluations"
    log.info("search: %s on %s, objectives %s, devices %s, %s, seed %d", name, scale, problem.names,
             problem.devices, what, cfg.seed)
    setup_s = problem.prepare()
    journal = Journal(run_dir / JOURNAL_NAME, header, journaled)  # appends to a resumed run's journal
    resources.callback(journal.close)
    callbacks = [journal, *callbacks]  # first: the history is kept even if a tracker fails
    replay = SearchState.from_results(history) if history else None
    if replay is not None:
        log.info("resume: replaying %d evaluations from %s", len(replay.archs), run_dir)
    with seeded(cfg.seed, cfg.get("threads")), search_collections():
        if multi_fidelity:
            from hwgpt.search.multifidelity import optimize_multifidelity

            state = optimize_multifidelity(problem, normalization, cfg, n_evals, seconds_budget, run_dir,
                                           callbacks=callbacks)
        else:
            searcher = instantiate(cfg.optimizer.searcher)(config_space=problem.space.to_syne_tune(),
                                                           random_seed=cfg.seed)
            budgets.attach(searcher, name, cons)
            state = optimize(problem, normalization, searcher, n_evals, cfg.seed, cfg.get("progress", True),
                             budget_seconds=seconds_budget, duplicates=cfg.get("duplicates", "reuse"),
                             replay=replay, prefetch=int(cfg.optimizer.get("prefetch", 0) or 0),
                             callbacks=callbacks)
    journal.close()  # flushed and fsync-ed before results.json
    state.timing["setup_s"] = setup_s
    if replay is not None and previous is not None:
        for k in ("benchmark_s", "optimizer_s", "total_s", "setup_s"):
            state.timing[k] += float(previous.get("timing", {}).get(k, 0.0))
    complete = state.stopped_by != "interrupted"
    results = build_results(
        optimizer=name, scale=scale, names=problem.names, devices=problem.devices, seed=cfg.seed,
        archs=state.archs, observed=state.observed, medians=problem.medians(state.archs),
        normalization=normalization, reference_point=cfg.reference_point, noise=cfg.noise, timing=state.timing,
        seconds=state.seconds, rounds=state.rounds, complete=complete, stopped_by=state.stopped_by,
        n_duplicates=state.n_duplicates,
        extra={"protocol": problem.protocol.to_dict(), "forward": forward_settings(problem),
               "budget": {"n_evals": n_evals, "simulated_hours": None if seconds_budget is None
                          else seconds_budget / 3600.0}},
    )
    if cons is not None:  # feasible front and hypervolumes, probabilities, per-evaluation feasibility
        results = budgets.apply_to_results(results, cons, state.archs, state.observed, normalization)
    path = write_results(results, run_dir)
    figures = {}
    if state.archs:
        figures = {
            "pareto_front": plot_pareto_front(results, run_dir / "pareto_front.png"),
            "hypervolume": plot_hypervolume(results, run_dir / "hypervolume.png"),
        }
    tracker.log_results(results, figures)
    if not complete:
        raise Interrupted(
            f"{len(state.archs)} evaluations kept in {path} (complete: false) with the plots in {run_dir}; "
            f"continue with the same command plus resume=true hydra.run.dir={run_dir}"
        )
    n = max(1, len(state.archs))
    if results["hypervolume"] > results["hypervolume_max"]:
        log.warning("hypervolume %.4f exceeds the attainable %.4f: noisy observations fell below the "
                    "normalisation's lower bounds (medians); compare runs by hypervolume_median (%.4f)",
                    results["hypervolume"], results["hypervolume_max"], results["hypervolume_median"])
    log.info("%s: hypervolume %.4f (medians %.4f, attainable %.4f) after %d evaluations, %.2f simulated hours "
             "(benchmark %.3f ms/eval, optimizer %.3f ms/eval, surrogates loaded once in %.2f s); %s",
             name, results["hypervolume"], results["hypervolume_median"], results["hypervolume_max"],
             len(state.archs), results["simulated_seconds"] / 3600, 1e3 * state.timing["benchmark_s"] / n,
             1e3 * state.timing["optimizer_s"] / n, state.timing["setup_s"], path)
    return results
