"""The study as one command: experiment configs, bad input, resumable reruns, the report without duplicates."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from search_helpers import CONF, FAKE, OPTIMIZERS, ROOT

from hwgpt.search import run
from hwgpt.search.report import main as report_main
from hwgpt.search.study import finished

STUDIES = ("study_2obj", "study_3obj")


def _search(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROJECT_ROOT": str(cwd), "WANDB_MODE": "disabled"}
    return subprocess.run([sys.executable, str(ROOT / "search.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("name", STUDIES)
def test_study_configs_sweep_every_optimizer_over_5_seeds_in_parallel(name: str) -> None:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("search", overrides=[f"+experiment={name}"], return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
    params = cfg.hydra.sweeper.params
    assert sorted(params.optimizer.split(",")) == OPTIMIZERS  # all 8 optimizers
    assert params.seed.split(",") == ["0", "1", "2", "3", "4"]
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 2
    assert cfg.budget.simulated_hours > 0 and cfg.skip_finished is True and cfg.scale.name == "s"
    assert cfg.hydra.sweep.subdir == "rs-seed0"  # <optimizer>-seed<s>: one fixed dir per run, reruns find it
    assert cfg.hydra.callbacks.sweep_report.report is True
    if name == "study_2obj":
        assert list(cfg.objectives) == ["perplexity", "energy"] and cfg.device.name == "a100"
    else:
        assert list(cfg.objectives) == ["perplexity", "latency", "energy"]
        assert dict(cfg.devices) == {"latency": "rtx2080", "energy": "a6000"}


@pytest.mark.timeout(120)
def test_unknown_experiment_and_optimizer_list_those_that_exist(tmp_path: Path) -> None:
    p = _search("-m", "+experiment=study_4obj", cwd=tmp_path)
    assert p.returncode != 0 and "study_2obj" in p.stderr and "study_3obj" in p.stderr
    p = _search("optimizer=nsga3", cwd=tmp_path)
    assert p.returncode != 0 and "nsga2" in p.stderr and "moasha" in p.stderr and "ehvi" in p.stderr
    assert not (tmp_path / "outputs" / "study").exists()


def _study_run(search_cfg, root: Path, opt: str, seed: int) -> dict:
    over = ["optimizer.searcher.num_init_random=3"] if opt == "ls" else []
    cfg = search_cfg(f"optimizer={opt}", f"seed={seed}", "budget.simulated_hours=0.003", "+skip_finished=true",
                     *over, run_dir=root / f"{opt}-seed{seed}")
    return run(cfg)


@pytest.mark.timeout(240)
def test_interrupted_study_rerun_keeps_finished_runs_and_reports_each_once(search_cfg, tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "study"
    jobs = [(o, s) for o in ("rs", "ls") for s in (0, 1)]
    first = {j: _study_run(search_cfg, root, *j) for j in jobs}
    assert all(r["complete"] for r in first.values())
    # the interruption: ls seed 1 was stopped half-way by Ctrl-C (partial results)
    path = root / "ls-seed1" / "results.json"
    partial = json.loads(path.read_text())
    half = partial["n_evals"] // 2
    partial.update(complete=False, stopped_by="interrupted", n_evals=half, history=partial["history"][:half],
                   hypervolume_curve=partial["hypervolume_curve"][:half],
                   hypervolume_median_curve=partial["hypervolume_median_curve"][:half])
    path.write_text(json.dumps(partial))
    (root / "rs-seed1" / "results.json").unlink()
    (root / "rs-seed1" / "history.jsonl").unlink(missing_ok=True)  # killed before its first evaluation
    # ls seed 0 was SIGKILLed mid-way: no results.json, only the first half of its journal
    journal = root / "ls-seed0" / "history.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[: 1 + half]))
    (root / "ls-seed0" / "results.json").unlink()
    kept = {j: (root / f"{j[0]}-seed{j[1]}" / "results.json").stat().st_mtime_ns for j in [("rs", 0)]}

    caplog.set_level(logging.INFO, logger="hwgpt.search.study")
    second = {j: _study_run(search_cfg, root, *j) for j in jobs}
    assert "ls, seed 1: resuming the interrupted run" in caplog.text
    assert f"ls, seed 0: resuming the run killed after {half} evaluations" in caplog.text
    for j, mtime in kept.items():  # finished runs returned as they were, not redone
        assert (root / f"{j[0]}-seed{j[1]}" / "results.json").stat().st_mtime_ns == mtime
        assert second[j]["history"] == first[j]["history"]
    resumed = second[("ls", 1)]
    assert resumed["complete"] and resumed["n_evals"] > half
    assert resumed["history"][:half] == partial["history"]  # continued, not restarted
    assert second[("rs", 1)]["complete"]
    killed = second[("ls", 0)]
    assert killed["complete"] and killed["history"][:half] == first[("ls", 0)]["history"][:half]

    shutil.copytree(root / "rs-seed0", root / "rs-seed0-copy")  # the same run found twice
    report_main([str(root)])
    table = pd.read_csv(root / "report.csv").set_index("optimizer")
    assert table.loc["rs", "seeds"] == 2 and table.loc["ls", "seeds"] == 2 and len(table) == 2


def test_finished_ignores_a_different_run_in_the_dir(search_cfg, tmp_path: Path) -> None:
    root = tmp_path / "study"
    _study_run(search_cfg, root, "rs", 0)
    cfg = search_cfg("optimizer=rs", "seed=0", "budget.simulated_hours=0.01", run_dir=root / "rs-seed0")
    assert finished(cfg) is None  # another budget: not this job's run
    cfg = search_cfg("optimizer=rs", "seed=0", "budget.simulated_hours=0.003", run_dir=root / "rs-seed0")
    assert finished(cfg)["optimizer"] == "rs"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_study_command_end_to_end_with_the_joblib_launcher(tmp_path: Path) -> None:
    """``python search.py -m +experiment=study_2obj`` (shrunk: fake benchmark, 2 optimizers x 2 seeds), twice."""
    args = ["-m", "+experiment=study_2obj", "scale=tiny", "device=cpu", "objectives=[perplexity,latency]",
            f"benchmark._target_={FAKE}", "optimizer=rs,nsga2", "seed=0,1", "budget.simulated_hours=0.003",
            "normalization.n_archs=200", "logger=none"]
    p = _search(*args, cwd=tmp_path)
    root = tmp_path / "outputs" / "study" / "s_a100_energy"
    assert p.returncode == 0, p.stderr[-3000:]
    assert sorted(d.name for d in root.iterdir() if d.is_dir()) == ["nsga2-seed0", "nsga2-seed1", "rs-seed0",
                                                                     "rs-seed1"]
    assert (root / "report.md").is_file() and "python -m hwgpt.search.report" in p.stderr + p.stdout
    mtimes = {f: f.stat().st_mtime_ns for f in root.glob("*/results.json")}
    p = _search(*args, cwd=tmp_path)
    assert p.returncode == 0 and "finished earlier" in p.stderr + p.stdout
    assert {f: f.stat().st_mtime_ns for f in root.glob("*/results.json")} == mtimes


# ------------------------------------------------------------------------------------ plots of the report
def test_time_axis_units_follow_the_range() -> None:
    from hwgpt.search.plots import time_unit

    assert time_unit(36.0) == ("seconds", 1.0)
    assert time_unit(1800.0) == ("minutes", 60.0)
    assert time_unit(20 * 3600.0) == ("hours", 3600.0)


def test_units_name_the_forward_and_titles_the_device() -> None:
    from hwgpt.search.plots import _title, label

    r = {"devices": {"energy": "a100"}, "forward": {"energy": {"batch": 8, "seq_len": 1024}},
         "optimizer": "nsga2", "scale": "s", "seed": 3}
    assert label(r, "energy") == "energy on a100 [J per forward, 8 × 1024 tokens]"
    assert label({**r, "forward": {}}, "energy") == "energy on a100 [J per forward]"  # older results: no batch
    assert _title(r, "x").startswith("nsga2, s on a100, seed 3")


def test_comparison_zooms_onto_the_band_and_counts_seeds(tmp_path: Path, monkeypatch) -> None:
    import numpy as np
    from matplotlib.figure import Figure

    from hwgpt.search.plots import plot_comparison

    figs: list[Figure] = []
    real = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (figs.append(self), real(self, *a, **k))[1])
    x = np.linspace(0, 3600, 50)
    rise = lambda top: top * (1 - np.exp(-x / 300))  # noqa: E731 - from 0 to ~top
    curves = {"nsga2": (x, rise(0.90), np.full(50, 0.004)), "rs": (x, rise(0.87), np.full(50, 0.004))}
    plot_comparison(curves, tmp_path / "c.png", hv_max=1.21, seeds={"nsga2": 5, "rs": 5}, noisy=curves, seconds=True)
    (fig,) = figs
    medians, observed = fig.axes
    lo, hi = medians.get_ylim()
    assert 0.5 < lo < 0.87 and 0.9 < hi < 1.0  # the band where they differ, not 0..1.21
    assert (hi - lo) < 0.5
    labels = [t.get_text() for t in medians.get_legend().get_texts()]
    assert "nsga2 (5 seeds)" in labels and any("attainable maximum 1.210" in t for t in labels)
    assert medians.get_xlabel() == "simulated time [minutes]"  # an hour of seconds reads as minutes
    assert "noise-free" in medians.get_ylabel() and "noisy" in observed.get_ylabel()
