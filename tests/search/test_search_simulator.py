"""The search as a simulator: simulated time, budgets, fidelity, duplicates, interruption and resume, MOASHA."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from search_helpers import FAKE, ROOT, SMALL

from hwgpt.errors import Interrupted
from hwgpt.search import run
from hwgpt.search.objectives import parse_objectives
from hwgpt.search.problem import SurrogateProblem
from hwgpt.search.results import validate_results


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, k: int) -> None:
    real = SurrogateProblem.observe

    def observe(self, arch, index, rounds=None):  # noqa: ANN001, ANN202
        if index == k:
            raise KeyboardInterrupt
        return real(self, arch, index, rounds)

    monkeypatch.setattr(SurrogateProblem, "observe", observe)


def test_simulated_seconds_recorded_per_evaluation(search_cfg) -> None:
    res = run(search_cfg("n_evals=12", "objectives=[perplexity,latency,energy]"))
    validate_results(res)
    per = [e["simulated_seconds"] for e in res["history"]]
    cum = [e["cumulative_simulated_seconds"] for e in res["history"]]
    assert all(s > 0 for s in per) and np.allclose(np.cumsum(per), cum)
    assert res["simulated_seconds"] == pytest.approx(cum[-1])
    assert {e["rounds"] for e in res["history"]} == {10} and res["complete"] and res["stopped_by"] == "n_evals"
    assert res["protocol"]["repeats"] == 10 and res["hypervolume_max"] == pytest.approx(1.1**3)


def test_simulated_hours_budget_stops_the_run(search_cfg) -> None:
    probe = run(search_cfg("n_evals=5"))
    hours = 3 * probe["simulated_seconds"] / 5 / 3600  # about 3 evaluations' worth
    res = run(search_cfg(f"budget.simulated_hours={hours}"))
    assert res["stopped_by"] == "simulated_budget"
    spent = res["simulated_seconds"]
    assert spent >= hours * 3600 > spent - res["history"][-1]["simulated_seconds"]


@pytest.mark.parametrize(("overrides", "match"), [
    (["budget.simulated_hours=0"], "budget.simulated_hours must be a positive number"),
    (["budget.simulated_hours=-2"], "budget.simulated_hours must be a positive number"),
    (["resume=true"], "no run to resume in .*hydra.run.dir"),
    (["optimizer=moasha", "optimizer.scheduler.grace_period=0"], r"grace_period .* in \[1, 10\]"),
    (["optimizer=moasha", "optimizer.scheduler.grace_period=11"], r"grace_period .* in \[1, 10\]"),
    (["simulation.repeats=0"], "repeats must be >= 1"),
    (["+simulation.tokens=5"], "simulation: unknown keys"),
    (["duplicates=skip"], "duplicates must be one of"),
])
def test_bad_simulation_input_fails_before_any_work(overrides, match, search_cfg, tmp_path: Path, monkeypatch) -> None:
    import hwgpt.search.runner as runner

    monkeypatch.setattr(runner, "optimize", lambda *a, **k: pytest.fail("search started"))
    monkeypatch.setattr(SurrogateProblem, "normalization", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ValueError, match=match):
        run(search_cfg(*overrides, run_dir=tmp_path / "bad"))
    assert not (tmp_path / "bad" / "results.json").exists()


@pytest.mark.parametrize("name", ["rs", "ls", "nsga2", "morea"])
def test_interrupt_writes_partial_results_and_resume_continues_exactly(
    name: str, search_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = run(search_cfg(f"optimizer={name}", "n_evals=14", *SMALL[name], run_dir=tmp_path / "full"))
    with monkeypatch.context() as m:
        _interrupt_at(m, 6)
        with pytest.raises(Interrupted, match=r"6 evaluations kept in .*results.json.*resume=true"):
            run(search_cfg(f"optimizer={name}", "n_evals=14", *SMALL[name], run_dir=tmp_path / "cut"))
    partial = json.loads((tmp_path / "cut" / "results.json").read_text())
    assert partial["complete"] is False and partial["n_evals"] == 6 and partial["stopped_by"] == "interrupted"
    assert partial["history"] == full["history"][:6]
    assert (tmp_path / "cut" / "pareto_front.png").is_file() and (tmp_path / "cut" / "hypervolume.png").is_file()
    resumed = run(search_cfg(f"optimizer={name}", "n_evals=14", *SMALL[name], "resume=true", run_dir=tmp_path / "cut"))
    assert resumed["complete"] and resumed["history"] == full["history"]
    assert resumed["hypervolume"] == pytest.approx(full["hypervolume"])


def test_resume_refuses_another_problem(search_cfg, tmp_path: Path) -> None:
    run(search_cfg("n_evals=4", run_dir=tmp_path / "r"))
    with pytest.raises(ValueError, match=r"differs from this command in seed \(run: 0, now: 1\)"):
        run(search_cfg("n_evals=8", "seed=1", "resume=true", run_dir=tmp_path / "r"))


def test_sigterm_ends_search_py_with_one_line_and_results(tmp_path: Path) -> None:
    """The real command: SIGTERM mid-run -> exit 130, one line naming results.json, results marked incomplete."""
    out = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "search.py"), f"benchmark._target_={FAKE}", "logger=none", "progress=false",
           "n_evals=100000", "normalization.n_archs=100", f"hydra.run.dir={out}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    deadline = time.time() + 120
    log = out / "search.log"
    while time.time() < deadline and not (log.exists() and "search: rs on tiny" in log.read_text()):
        time.sleep(0.2)
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, stderr[-2000:]
    lines = [ln for ln in (stdout + stderr).splitlines() if "interrupted" in ln]
    assert len(lines) == 1 and "results.json" in lines[0] and "resume=true" in lines[0]
    assert "Traceback" not in stdout + stderr
    res = json.loads((out / "results.json").read_text())
    assert res["complete"] is False and res["n_evals"] > 0


def test_duplicates_are_reused_not_counted(search_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    """An optimizer that keeps proposing one architecture: answered from the history, then stopped."""
    from syne_tune.optimizer.schedulers.searchers.random_searcher import MultiObjectiveRandomSearcher

    import hwgpt.search.runner as runner

    monkeypatch.setattr(runner, "MAX_CONSECUTIVE_DUPLICATES", 5)
    fixed = None

    def suggest(self, **kw):  # noqa: ANN001, ANN202
        nonlocal fixed
        fixed = fixed or {k: v.sample(random_state=np.random.RandomState(0)) if hasattr(v, "sample") else v
                          for k, v in self.config_space.items()}
        return dict(fixed)

    monkeypatch.setattr(MultiObjectiveRandomSearcher, "suggest", suggest)
    res = run(search_cfg("n_evals=10"))
    assert res["n_evals"] == 1 and res["n_duplicates"] == 5 and res["stopped_by"] == "duplicates"
    again = run(search_cfg("n_evals=3", "duplicates=remeasure"))
    assert again["n_evals"] == 3 and len({json.dumps(e["objectives"]) for e in again["history"]}) == 3


def test_random_search_ahead_equals_one_at_a_time(tmp_path: Path) -> None:
    """rs computes its evaluations ahead in batches (draws, simulated seconds): the run is the same,
    bit for bit, as asking and evaluating one at a time (shipped tiny surrogates)."""
    from syne_tune.optimizer.schedulers.searchers.random_searcher import MultiObjectiveRandomSearcher

    from hwgpt.benchmark import Benchmark
    from hwgpt.search.runner import optimize, seeded

    runs = []
    for prefetch in (0, 64):
        problem = SurrogateProblem(Benchmark, "tiny", parse_objectives(["perplexity", "latency", "energy"], "cpu"),
                                   "cpu", True, 3)
        norm = problem.normalization(100, 0)
        problem.prepare()
        with seeded(3, 1):
            searcher = MultiObjectiveRandomSearcher(config_space=problem.space.to_syne_tune(), random_seed=3)
            runs.append(optimize(problem, norm, searcher, 150, 3, False, prefetch=prefetch))
    (a, b) = runs
    assert len(a.archs) == 150 and (a.archs, a.observed, a.seconds) == (b.archs, b.observed, b.seconds)


def test_fidelity_noise_and_cost(fake) -> None:
    objectives = parse_objectives(["perplexity", "latency"], "cpu")
    p = SurrogateProblem(fake, "tiny", objectives, "cpu", noise=True, seed=3)
    a, b = p.space.sample_unique(2, seed=5)
    full, full_s = p.observe(a, 0)
    low, low_s = p.observe(a, 0, rounds=1)
    assert low_s < full_s and p.seconds(a, 3) < p.seconds(a, 9)
    assert full["perplexity"] == pytest.approx(fake("tiny", "cpu").median(a, "perplexity"))  # exact at full fidelity
    assert low["perplexity"] != full["perplexity"]
    lat = [p.observe(a, i, rounds=1)[0]["latency"] for i in range(300)]
    lat10 = [p.observe(a, i)[0]["latency"] for i in range(300)]
    assert np.std(np.log(lat10)) < 0.6 * np.std(np.log(lat))
    # the windows' difficulty is shared: at the same rounds both archs move by nearly the same factor
    def shift(problem: SurrogateProblem, x) -> float:  # noqa: ANN001
        return float(np.log(problem.observe(x, 0, rounds=2)[0]["perplexity"] / problem.observe(x, 0)[0]["perplexity"]))

    archs = p.space.sample_unique(40, seed=6)
    across_archs = np.std([shift(p, x) for x in archs])
    across_runs = np.std([shift(SurrogateProblem(fake, "tiny", objectives, "cpu", seed=s), a) for s in range(40)])
    assert across_archs < 0.4 * across_runs
    with pytest.raises(ValueError, match=r"fidelity \(rounds\) must be an integer in \[1, 10\]"):
        p.observe(a, 0, rounds=11)


def test_moasha_runs_on_the_simulator_backend(search_cfg, tmp_path: Path) -> None:
    res = run(search_cfg("optimizer=moasha", "n_evals=30", run_dir=tmp_path / "m"))
    validate_results(res)
    rounds = [e["rounds"] for e in res["history"]]
    assert res["n_evals"] == 30 and set(rounds) <= {1, 3, 9, 10} and 1 in rounds and max(rounds) == 10
    per = np.array([e["simulated_seconds"] for e in res["history"]])
    assert np.all(per > 0) and res["simulated_seconds"] == pytest.approx(per.sum())
    low = [s for s, r in zip(per, rounds, strict=True) if r == 1]
    high = [s for s, r in zip(per, rounds, strict=True) if r == 10]
    assert np.median(low) < np.median(high)  # a trial stopped early paid for fewer rounds
    again = run(search_cfg("optimizer=moasha", "n_evals=30", run_dir=tmp_path / "m2"))
    assert again["history"] == res["history"]  # seeded
    budget = run(search_cfg("optimizer=moasha", f"budget.simulated_hours={res['simulated_seconds'] / 2 / 3600}",
                            run_dir=tmp_path / "m3"))
    assert budget["stopped_by"] == "simulated_budget" and budget["n_evals"] < 30


def test_mutations_change_the_architecture(search_cfg) -> None:
    """morea and ls mutate active choices only and avoid repeats; NSGA-II's duplicate elimination also
    removes every architecture suggested before (issue 19: pymoo alone re-proposed earlier generations')."""
    for name in ("morea", "ls"):
        res = run(search_cfg(f"optimizer={name}", "n_evals=40", *SMALL[name], "duplicates=remeasure"))
        assert len({json.dumps(e["arch"], sort_keys=True) for e in res["history"]}) == 40, name
    res = run(search_cfg("optimizer=nsga2", "n_evals=40", *SMALL["nsga2"]))
    assert len({json.dumps(e["arch"], sort_keys=True) for e in res["history"]}) == 40
    assert res["n_duplicates"] == 0  # with a population of 4, pymoo alone re-proposed some


def test_plots_units_staircases_and_no_lines_for_three_objectives(search_cfg, monkeypatch) -> None:
    from matplotlib.figure import Figure

    from hwgpt.search.plots import label

    figs: list[Figure] = []
    real = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (figs.append(self), real(self, *a, **k))[1])
    run(search_cfg("n_evals=20", "objectives=[perplexity,latency,energy]"))
    front, hv = figs
    for ax in front.axes:
        assert not ax.lines and "[" in ax.get_xlabel() and "[" in ax.get_ylabel()
    assert "seed 0" in front._suptitle.get_text()
    assert any("attainable maximum" in t.get_text() for ax in hv.axes for t in ax.get_legend().get_texts())
    assert hv.axes[0].get_xlabel() == "evaluations" and hv.axes[1].get_xlabel().startswith("simulated time [")
    figs.clear()
    run(search_cfg("n_evals=20"))
    front2 = figs[0]
    assert len(front2.axes[0].lines) == 1  # the 2-D front's staircase
    assert front2.axes[0].lines[0].get_drawstyle() == "steps-post"
    assert label({"devices": {"latency": "cpu"}}, "latency") == "latency on cpu [ms per forward]"


@pytest.mark.parametrize("optimizer", ["nsga2", "ls", "morea"])
def test_optimizers_that_read_the_scale_run_without_scale_given(optimizer, search_cfg) -> None:
    """``python search.py optimizer=nsga2`` names no scale: the device's default is resolved before the optimizer
    config (which interpolates ${scale.name}) is read (it failed with "Interpolation key 'scale.name' not found")."""
    res = run(search_cfg(f"optimizer={optimizer}", "n_evals=6", scale=False))
    assert res["scale"] == "tiny" and len(res["history"]) == 6
