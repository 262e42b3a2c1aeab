"""Syne Tune's simulator backend running a scheduler on the benchmark (``optimizer=moasha``).

Syne Tune simulates tuning on tabulated or surrogate benchmarks with a
:class:`~syne_tune.blackbox_repository.Blackbox` (objectives of a configuration at every
fidelity, including a cumulative ``elapsed_time`` column; ours: :class:`hwgpt.search.blackbox.HWGPTBlackbox`,
fidelity ``rounds`` of the measurement protocol) and
:class:`~syne_tune.blackbox_repository.simulated_tabular_backend.UserBlackboxBackend`, a
:class:`~syne_tune.backend.simulator_backend.SimulatorBackend` that replays those results on a
simulated clock; :class:`~syne_tune.backend.simulator_backend.simulator_callback.SimulatorCallback`
makes the :class:`~syne_tune.Tuner` advance that clock instead of sleeping. No process is started
per evaluation, and any Syne Tune scheduler (single- or multi-fidelity) runs unchanged.

The run's history has one entry per trial, at the last rung it reached: its raw objectives, the
simulated seconds it took and its ``rounds``. ``n_evals`` counts trials; compare multi-fidelity
runs with others by simulated time (``python -m hwgpt.search.report``).
"""

from __future__ import annotations

import contextlib
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
from syne_tune.stopping_criterion import StoppingCriterion
from syne_tune.tuner_callback import TunerCallback
from syne_tune.tuning_status import TuningStatus

from hwgpt.errors import InvalidInput
from hwgpt.search.blackbox import ELAPSED, FIDELITY, HWGPTBlackbox, metric_names
from hwgpt.search.objectives import Normalization
from hwgpt.search.problem import SurrogateProblem
from hwgpt.search.state import SearchState

log = logging.getLogger(__name__)

__all__ = ["HWGPTBlackbox", "check_scheduler", "optimize_multifidelity"]


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
            with contextlib.redirect_stdout(out):  # Syne Tune prints a summary at the end
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
