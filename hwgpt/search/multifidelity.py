"""The benchmark as a Syne Tune blackbox, run by Syne Tune's simulator backend (``optimizer=moasha``).

Syne Tune simulates tuning on tabulated or surrogate benchmarks with a
:class:`~syne_tune.blackbox_repository.Blackbox` (objectives of a configuration at every
fidelity, including a cumulative ``elapsed_time`` column) and
:class:`~syne_tune.blackbox_repository.simulated_tabular_backend.UserBlackboxBackend`, a
:class:`~syne_tune.backend.simulator_backend.SimulatorBackend` that replays those results on a
simulated clock; :class:`~syne_tune.backend.simulator_backend.simulator_callback.SimulatorCallback`
makes the :class:`~syne_tune.Tuner` advance that clock instead of sleeping. No process is started
per evaluation, and any Syne Tune scheduler (single- or multi-fidelity) runs unchanged.

Fidelity: ``rounds`` in ``1..simulation.repeats`` (10 by default), the share of the measurement
protocol done so far (:mod:`hwgpt.search.problem`): ``r`` timed forwards per hardware metric (the
observation is their median) and ``r / R`` of the perplexity windows. More rounds cost more
simulated time (:meth:`hwgpt.Benchmark.simulated_seconds` at ``r`` rounds, cumulative, so a trial
stopped at a rung has paid for the rounds it got) and are less noisy. Every result the scheduler
sees is the normalised, minimised objective vector (as the ask/tell searchers are told).

The run's history has one entry per trial, at the last rung it reached: its raw objectives, the
simulated seconds it took and its ``rounds``. ``n_evals`` counts trials; compare multi-fidelity
runs with others by simulated time (``python -m hwgpt.search.report``).
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig
from syne_tune.backend.trial_status import Status
from syne_tune.blackbox_repository.blackbox import Blackbox, ObjectiveFunctionResult
from syne_tune.config_space import Categorical, randint
from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA as _SyneTuneMOASHA
from syne_tune.stopping_criterion import StoppingCriterion
from syne_tune.tuner_callback import TunerCallback
from syne_tune.tuning_status import TuningStatus

from hwgpt.errors import InvalidInput
from hwgpt.search.objectives import Normalization
from hwgpt.search.problem import SurrogateProblem
from hwgpt.search.state import SearchState
from hwgpt.search_space import Arch

log = logging.getLogger(__name__)

FIDELITY = "rounds"
LOOK_AHEAD = 64
"""Configurations a trial's blackbox call computes ahead (:meth:`HWGPTBlackbox._look_ahead`), at first; later
as many as the trials so far, up to :data:`LOOK_AHEAD_MAX`."""
LOOK_AHEAD_MAX = 512
"""The largest look-ahead batch. A batch has a fixed cost (~2 ms on the tiny surrogates: the surrogates'
predictor calls, one simulated-seconds call per fidelity, numpy's per-call costs), so larger batches cost less
per trial (7,000 trials: 0.092 ms per trial at 64, 0.078 at 256, 0.068 at 512, 0.067 at 1,024); growing with the
run keeps the guesses a run never evaluates (the batch it ends in) below the trials it did."""
ELAPSED = "elapsed_time"


def metric_names(problem: SurrogateProblem) -> list[str]:
    """Result keys of the objectives (``objective_<j>``: objective names may hold ``@``)."""
    return [f"objective_{j}" for j in range(len(problem.names))]


class HWGPTBlackbox(Blackbox):
    """:class:`SurrogateProblem` as a Syne Tune blackbox with fidelity ``rounds``.

    Args:
        problem: The black box (its ``protocol.repeats`` is the largest fidelity).
        normalization: Objective normalisation (the results hold normalised, minimised values).

    Attributes:
        raw: ``{evaluation index: [(raw objectives, simulated seconds) at 1..R rounds]}`` of every trial.
        archs: The arch of each trial, by evaluation index; each call of the objective function is a new trial.
    """

    def __init__(self, problem: SurrogateProblem, normalization: Normalization) -> None:
        R = problem.max_rounds
        super().__init__(configuration_space=problem.space.to_syne_tune(),
                         fidelity_space={FIDELITY: randint(1, R)},
                         objectives_names=[*metric_names(problem), ELAPSED])
        self.problem, self.normalization = problem, normalization
        self.raw: dict[int, list[tuple[dict[str, float], float]]] = {}
        self.archs: list[Arch] = []
        self._keys = tuple(self.configuration_space)  # a configuration's values in this order key _decoded
        self._rounds = list(range(1, R + 1))
        self.seconds_spent = 0.0  # wall time of the benchmark queries
        self._guessed: set[Arch] = set()  # archs whose surrogate rows were computed ahead (see _look_ahead)
        # the guessed configurations (their values in the config space's key order) -> their decoded archs
        self._decoded: dict[tuple, Arch] = {}
        # {evaluation index: (arch, every fidelity's (raw, seconds), the result rows)} of the guessed trials,
        # answered ahead in one batch (see _answer_ahead)
        self._answers: dict[int, tuple[Arch, list[tuple[dict[str, float], float]], np.ndarray]] = {}
        self._hits = -1  # hits since the last look-ahead (-1: none yet); a look-ahead without any: stop guessing
        self.scheduler: Any = None  # the scheduler, whose draws between configurations _look_ahead replays
        self.guesses = [0, 0]  # (trials whose arch was computed ahead, trials)

    def _look_ahead(self, current: Arch | None = None) -> None:
        """Compute the next :data:`LOOK_AHEAD` or more trials that a random searcher drawing from numpy's global
        generator would start (Syne Tune's random searcher, MOASHA's) ahead, in one batch: every fidelity of
        each (:meth:`SurrogateProblem.prefetch_rounds`; with budgets, the surrogate rows only). Values never
        depend on how they were computed, so a wrong guess only wastes the batch. The generator's state is
        restored: the run's sequence of configurations is unchanged. ``current``: the arch of the trial being
        evaluated (the miss that called this), computed in the same batch at its index rather than alone
        (one arch through the surrogates costs ~0.5 ms, about a batch of 64 through numpy's per-call cost)."""
        # MOASHA's on_trial_add draws a bracket per trial, np.random.choice(len(brackets), p=...): one
        # random_sample of numpy's global generator (what the replay below consumes for it)
        brackets = isinstance(self.scheduler, _SyneTuneMOASHA) and bool(getattr(self.scheduler, "brackets", None))
        cs = self.configuration_space
        # Syne Tune's uniform categorical draws ``np.random.choice(len(categories), size=1)`` per key, in
        # order: the same numbers as one ``randint`` over every key's count (masked rejection per value),
        # ~15x cheaper (tests/search/test_moasha_lookahead.py checks the configurations and the state)
        uniform = all(type(v) is Categorical and type(v.get_sampler()) is Categorical._Uniform for v in cs.values())
        cats = [list(v.categories) for v in cs.values()] if uniform else []
        counts = np.array([len(c) for c in cats])
        state = np.random.get_state()
        try:
            configs = []
            for _ in range(min(LOOK_AHEAD_MAX, max(LOOK_AHEAD, len(self.archs)))):
                if uniform:
                    idx = np.random.randint(0, counts).tolist()
                    configs.append({k: c[i] for k, c, i in zip(cs, cats, idx, strict=True)})
                else:
                    configs.append({k: v.sample() if hasattr(v, "sample") else v for k, v in cs.items()})
                if brackets:
                    np.random.random_sample()
        finally:
            np.random.set_state(state)
        archs = []
        for c in configs:
            try:
                archs.append(self.problem.space.from_config(c))
            except InvalidInput:  # not this space's sampler after all: no guess
                return
        self._guessed = set(archs)
        self._decoded = {tuple(c[k] for k in cs): a for c, a in zip(configs, archs, strict=True)}
        self._answers = {}
        batch = archs if current is None else [current, *archs]
        if getattr(self.problem, "constraints", None) is None and hasattr(self.problem, "prefetch_rounds"):
            # every fidelity of each guessed trial, at the index it gets if the guesses hold (the current
            # trial takes len(self.archs)); a trial that differs is computed when it comes
            start = len(self.archs) + (current is None)
            self.problem.prefetch_rounds(batch, start=start)
            if hasattr(self.problem, "observe_rounds"):
                self._answer_ahead(batch, start)
        else:
            self.problem.prefetch(batch)

    def _answer_ahead(self, archs: list[Arch], start: int) -> None:
        """The answers of the guessed trials (``archs[k]`` as evaluation ``start + k``), ahead: their observations
        (:meth:`SurrogateProblem.observe_rounds`, which depend on the arch and index only) and result rows,
        normalised in one call for the whole batch. A trial answers from here if it is the guessed arch at the
        guessed index (:meth:`_objective_function`); the values are the same bits as one trial at a time
        (elementwise ``(v - lo) / (hi - lo)``, seconds copied). A normalisation error (a non-finite value) is
        left to the trial that meets it, as without the look-ahead."""
        if not archs:
            return
        observed = [self.problem.observe_rounds(a, start + k) for k, a in enumerate(archs)]
        try:
            rows = self._result_rows(observed)
        except InvalidInput:
            return
        self._answers = {start + k: (a, obs, rows[k]) for k, (a, obs) in enumerate(zip(archs, observed, strict=True))}

    def _result_rows(self, observed: list[list[tuple[dict[str, float], float]]]) -> np.ndarray:
        """``(trials, rounds, objectives + seconds)``: each trial's every-fidelity observations as result rows,
        normalised in one call (elementwise ``(v - lo) / (hi - lo)``: the same bits for one trial or many),
        the simulated seconds copied."""
        ys = self.normalization({n: [[raw[n] for raw, _ in obs] for obs in observed] for n in observed[0][0][0]})
        secs = np.array([[t for _, t in obs] for obs in observed], dtype=np.float64)
        return np.concatenate([ys, secs[:, :, None]], axis=-1)

    @property
    def fidelity_values(self) -> np.ndarray:
        return np.arange(1, self.problem.max_rounds + 1)

    def _objective_function(self, configuration: dict[str, Any], fidelity: dict | None = None,
                            seed: int | None = None) -> ObjectiveFunctionResult:
        import time

        t0 = time.perf_counter()
        arch = self._decoded.get(tuple(map(configuration.get, self._keys)))
        if arch is None:  # (not a guessed configuration: decoded and validated now)
            arch = self.problem.space.from_config(configuration)
        self.guesses[1] += 1
        if arch in self._guessed:
            self.guesses[0] += 1
            self._hits += 1
        elif self._hits != 0:  # a miss (or the first trial): the next ones, from where the generator is now
            self._hits = 0
            self._look_ahead(arch)
        index = len(self.archs)
        self.archs.append(arch)
        answer = self._answers.pop(index, None)
        if answer is not None and answer[0] is arch:  # the guessed trial at its guessed index: answered ahead
            self.raw[index], out = answer[1], answer[2]
        else:
            self.raw[index], out = self._answer(arch, index)
        self.seconds_spent += time.perf_counter() - t0
        if fidelity is not None:
            return dict(zip(self.objectives_names, out[int(fidelity[FIDELITY]) - 1].tolist(), strict=True))
        return out

    def _answer(self, arch: Arch, index: int) -> tuple[list[tuple[dict[str, float], float]], np.ndarray]:
        """``(every fidelity's (raw objectives, simulated seconds), the result rows)`` of trial ``index``."""
        observed, rows = [], []
        cons = getattr(self.problem, "constraints", None)  # budgets: infeasible results rank last
        if cons is None and hasattr(self.problem, "observe_rounds"):  # every fidelity at once, the same values
            observed = self.problem.observe_rounds(arch, index)
            return observed, self._result_rows([observed])[0]
        for r in self._rounds:
            raw, secs = self.problem.observe(arch, index, r)
            y = self.normalization(raw).tolist()
            if cons is not None:
                from hwgpt.search.constraints import told_metrics
                from hwgpt.search.problem import observation_seed

                raw = {**raw, **cons.observe(arch, observation_seed(self.problem.seed, index), r, self.problem.noise)}
                y = told_metrics(y, cons.slack(raw), "moasha")
            observed.append((raw, secs))
            rows.append([*y, secs])
        return observed, np.asarray(rows, dtype=np.float64)


class _Recorder(TunerCallback):
    """One history entry per trial, at the last rung it reached (stopped or completed)."""

    def __init__(self, on_finish: Any = None) -> None:
        self.on_finish = on_finish  # called with (history index, trial id, rounds, elapsed)
        self.last: dict[int, dict[str, Any]] = {}
        self.finished: list[tuple[int, int, float]] = []  # (trial id, rounds, elapsed)
        self._done: set[int] = set()
        self.total_seconds = 0.0

    def _finish(self, trial_id: int) -> None:
        if trial_id in self._done or trial_id not in self.last:
            return
        self._done.add(trial_id)
        res = self.last[trial_id]
        self.finished.append((trial_id, int(res[FIDELITY]), float(res[ELAPSED])))
        self.total_seconds += float(res[ELAPSED])
        if self.on_finish is not None:
            self.on_finish(len(self.finished) - 1, *self.finished[-1])

    def on_trial_result(self, trial: Any, status: str, result: dict[str, Any], decision: str) -> None:
        self.last[trial.trial_id] = dict(result)
        if decision == "STOP" or str(decision).lower() == "stop":
            self._finish(trial.trial_id)

    def on_trial_complete(self, trial: Any, result: dict[str, Any]) -> None:
        self.last[trial.trial_id] = dict(result)
        self._finish(trial.trial_id)


class _CountingStatus(TuningStatus):
    """Syne Tune's TuningStatus with ``num_trials_failed`` kept as a count: the Tuner asks for it on every
    loop, and Syne Tune 0.16 answers with a scan of every trial's status (quadratic in the trials)."""

    def __init__(self, metric_names: list[str]) -> None:
        super().__init__(metric_names=metric_names)
        self._failed = 0

    def update(self, trial_status_dict: Any, new_results: Any) -> None:
        for trial_id, (_, status) in trial_status_dict.items():
            old = self.last_trial_status_seen.get(trial_id)
            self._failed += int(status == Status.failed) - int(old == Status.failed)
        super().update(trial_status_dict, new_results)

    @property
    def num_trials_failed(self) -> int:
        return self._failed


def _quiet_logger() -> Any:
    """Syne Tune's TunerLogger prints banners to stdout; route errors/warnings to logging, drop the rest."""
    from syne_tune.tuner_logger import TunerLogger

    class Quiet(TunerLogger):
        def __getattribute__(self, name: str) -> Any:
            if name == "print_error":
                return lambda message, *a, **k: log.error("syne tune: %s", message)
            if name == "print_warning":
                return lambda message, *a, **k: log.warning("syne tune: %s", message)
            if name.startswith("print_"):
                return lambda *a, **k: None
            return super().__getattribute__(name)

    return Quiet()


class _Budget(StoppingCriterion):
    """Stop after ``n_evals`` finished trials or ``budget_seconds`` of simulated time."""

    def __init__(self, recorder: _Recorder, n_evals: int, budget_seconds: float | None) -> None:
        super().__init__()
        self.recorder, self.n_evals, self.budget_seconds = recorder, n_evals, budget_seconds

    def __call__(self, status: Any) -> bool:
        if len(self.recorder.finished) >= self.n_evals:
            return True
        return self.budget_seconds is not None and self.recorder.total_seconds >= self.budget_seconds


def check_scheduler(cfg: DictConfig, problem: SurrogateProblem) -> None:
    """Fidelity settings of the scheduler against ``1..simulation.repeats``, before any work."""
    node = cfg.optimizer.scheduler
    R = problem.max_rounds
    grace = node.get("grace_period", 1)
    if isinstance(grace, bool) or not isinstance(grace, int) or not 1 <= grace <= R:
        raise InvalidInput(f"optimizer.scheduler.grace_period (the lowest fidelity, in rounds) must be an integer "
                           f"in [1, {R}] (simulation.repeats), got {grace!r}")
    eta = node.get("reduction_factor", 3)
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or eta <= 1:
        raise InvalidInput(f"optimizer.scheduler.reduction_factor must be a number > 1, got {eta!r}")
    if R < 2:
        raise InvalidInput(f"a multi-fidelity optimizer needs simulation.repeats >= 2 (fidelities 1..repeats), got {R}")


@contextmanager
def _syne_tune_folder(path: Path):  # noqa: ANN202
    """Syne Tune writes its experiment files under $SYNETUNE_FOLDER (default ~/syne-tune): the run dir."""
    old = os.environ.get("SYNETUNE_FOLDER")
    os.environ["SYNETUNE_FOLDER"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SYNETUNE_FOLDER", None)
        else:
            os.environ["SYNETUNE_FOLDER"] = old


YOUNG_COLLECTION = 10_000
"""Allocations between two collections of the youngest generation while the simulator runs (Python's default: 700)."""


@contextmanager
def _fewer_collections():  # noqa: ANN202
    """Python's cyclic garbage collector, less often, while the simulated tuning runs (restored after).

    A simulated trial allocates thousands of small containers that live for the whole run (Syne Tune's
    trial and result records, the observations, the look-ahead's batches) and few reference cycles. With the
    default thresholds the young collections keep re-examining them and trigger full collections of the
    whole heap (torch, XGBoost, Syne Tune): ~0.5 s of a 6 s run of 7,000 trials on the tiny surrogates,
    most of it charged to whichever call allocated (the benchmark's share: ~0.02 ms per trial). At
    :data:`YOUNG_COLLECTION` it is ~0.1 s. Collection never changes a value: the run is the same.
    """
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], YOUNG_COLLECTION), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def optimize_multifidelity(problem: SurrogateProblem, normalization: Normalization, cfg: DictConfig, n_evals: int,
                           budget_seconds: float | None, run_dir: Path, callbacks: Any = ()) -> Any:
    """Run ``cfg.optimizer.scheduler`` on the simulator backend; returns a :class:`~hwgpt.search.state.SearchState`.

    ``callbacks`` are called as in :func:`hwgpt.search.runner.optimize`, once per trial when it finishes
    (stopped at a rung or completed), with the record of its history entry.
    """
    import time

    from syne_tune import Tuner
    from syne_tune.backend.simulator_backend.simulator_backend import SimulatorConfig
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.blackbox_repository.simulated_tabular_backend import UserBlackboxBackend


    blackbox = HWGPTBlackbox(problem, normalization)
    backend = UserBlackboxBackend(blackbox=blackbox, elapsed_time_attr=ELAPSED, tuner_sleep_time=0.0,
                                  simulator_config=SimulatorConfig(0.0, 0.0, 0.0, 0.0, 0.0))
    scheduler = instantiate(cfg.optimizer.scheduler)(
        config_space=problem.space.to_syne_tune(), metrics=metric_names(problem), do_minimize=True,
        time_attr=FIDELITY, max_t=problem.max_rounds, random_seed=cfg.seed,
    )
    blackbox.scheduler = scheduler

    def on_finish(index: int, trial_id: int, r: int, elapsed: float) -> None:
        if index >= n_evals:
            return
        raw, _ = blackbox.raw[trial_id][r - 1]
        record = {"index": index, "arch": blackbox.archs[trial_id].to_dict(),
                  "objectives": {k: float(raw[k]) for k in problem.names}, "simulated_seconds": float(elapsed),
                  "rounds": r, "replayed": False}
        if getattr(problem, "constraints", None) is not None:
            cons = problem.constraints
            record["constraints"], record["feasible"] = cons.values(raw), cons.feasible(raw)
        for callback in callbacks:
            callback(record)

    recorder = _Recorder(on_finish if callbacks else None)
    state = SearchState()

    class EventTuner(Tuner):
        """Syne Tune's Tuner with an event-driven clock: instead of sleeping (the simulator advances by
        real time plus ``tuner_sleep_time`` per sleep, so a simulated hour would take a real one or
        thousands of loops), jump to the next simulated event."""

        def _stop_condition(self) -> bool:  # Syne Tune counts the failed trials by a scan of all trials per loop
            if not isinstance(self.tuning_status, _CountingStatus):
                self.tuning_status = _CountingStatus(metric_names=self.scheduler.metric_names())
            return super()._stop_condition()

        def _sleep(self) -> None:
            heap = self.trial_backend._simulator_state.event_heap  # noqa: SLF001 - no public accessor
            if heap:
                self.trial_backend.time_keeper.advance_to(heap[0][0])
            for callback in self.callbacks:
                callback.on_tuning_sleep(0.0)

    start = time.perf_counter()
    with _syne_tune_folder(run_dir / "syne_tune"):
        tuner = EventTuner(trial_backend=backend, scheduler=scheduler, stop_criterion=_Budget(recorder, n_evals,
                      budget_seconds), n_workers=1, sleep_time=0.0, callbacks=[SimulatorCallback(), recorder],
                      tuner_name=f"{cfg.optimizer.name}-seed{cfg.seed}", save_tuner=False,
                      print_update_interval=1e9, results_update_interval=1e9,
                      output_logger=_quiet_logger())
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), _fewer_collections():  # Syne Tune prints a summary at the end
                tuner.run()
        except KeyboardInterrupt:
            state.stopped_by = "interrupted"
        log.debug("syne tune output:\n%s", out.getvalue())
    for trial_id, r, elapsed in recorder.finished[:n_evals]:
        raw, _ = blackbox.raw[trial_id][r - 1]
        state.archs.append(blackbox.archs[trial_id])
        state.observed.append(raw)
        state.seconds.append(elapsed)
        state.rounds.append(r)
    if state.stopped_by != "interrupted":
        state.stopped_by = "n_evals" if len(state.archs) >= n_evals else "simulated_budget"
    total = time.perf_counter() - start
    state.timing = {"benchmark_s": blackbox.seconds_spent, "optimizer_s": total - blackbox.seconds_spent,
                    "total_s": total}
    log.info("%s: %d trials on the simulator backend, rounds reached %s; %d of %d archs computed ahead",
             cfg.optimizer.name, len(state.archs),
             np.bincount(state.rounds, minlength=problem.max_rounds + 1)[1:].tolist() if state.rounds else [],
             *blackbox.guesses)
    return state
