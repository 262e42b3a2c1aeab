"""Issue 21: nothing lost, whatever kills a command (profile.py, the fit, train.py).

Fast tests simulate a full disk in-process (SQLite's own "database or disk is full", forced with
``PRAGMA max_page_count``; ``ENOSPC`` from a surrogate write) and check the one clear line, the
kept data and the resume. Slow tests SIGKILL the real commands at random points, then resume and
compare with an uninterrupted run. The fit's SIGKILL test is in tests/surrogates/test_fit_atomic.py.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from hwgpt.errors import cli_main
from hwgpt.profiling.runner import arch_set
from hwgpt.profiling.store import Store
from hwgpt.search_space import SearchSpace

ROOT = Path(__file__).resolve().parents[1]
TINY = SearchSpace.from_name("tiny")


def _profile_cfg(tmp: Path, store: Path, *overrides: str) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("profile", overrides=[f"store={store}", "progress=false", *overrides],
                      return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = cfg.hydra.runtime.output_dir = str(tmp / "run")
    HydraConfig.instance().set_config(cfg)
    GlobalHydra.instance().clear()
    return cfg


def _complete(store: Path, metric: str) -> dict[str, int]:
    """arch_id -> observations of ``metric``, for the archs marked complete (read-only)."""
    with Store(store, readonly=True) as s:
        done = s._query("SELECT arch_id FROM completed WHERE metric=?", (metric,))["arch_id"]
        obs = s.observations(metric=metric)
    counts = obs.groupby("arch_id").size().to_dict()
    return {a: counts.get(a, 0) for a in done}


def test_profile_disk_full_ends_with_one_line_keeps_the_store_and_resumes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from hwgpt.profiling import runner

    store = tmp_path / "s.sqlite"
    real = Store.write_arch
    writes = []

    def write_arch(self: Store, **kw: Any) -> bool:
        writes.append(kw["arch"].id)
        if len(writes) == 3:  # the disk fills up: no new page can be allocated from here on
            pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
            self._conn.execute(f"PRAGMA max_page_count = {pages}")
        return real(self, **kw)

    monkeypatch.setattr(Store, "write_arch", write_arch)
    cfg = _profile_cfg(tmp_path, store, "metric=cost", "n_archs=200")
    with pytest.raises(SystemExit) as e:
        cli_main(runner.run, cfg, what="profile.py")
    assert e.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "disk or quota full" in lines[0] and "rerun the same command" in lines[0], lines
    assert "Traceback" not in lines[0]
    with sqlite3.connect(store) as c:  # intact: SQLite's own check, and nothing partial
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = _complete(store, "flops")
    assert 2 <= len(kept) < 202 and set(kept.values()) == {1}
    monkeypatch.setattr(Store, "write_arch", real)
    summary = runner.run(_profile_cfg(tmp_path, store, "metric=cost", "n_archs=200"))  # space again: resume
    assert summary["n_already"] == len(kept) and summary["n_complete"] == 202
    after = _complete(store, "flops")
    assert set(after) == {a.id for a in arch_set(TINY, 200, 0)} and set(after.values()) == {1}


def test_fit_disk_full_keeps_the_previous_surrogate(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from hwgpt.surrogates import artifacts
    from hwgpt.surrogates.fit import FitSettings, fit_all
    from hwgpt.surrogates.synthetic import synthetic_observations

    frame = synthetic_observations(TINY, n_archs=30, repeats=2, metrics=("memory",), device="d")
    fit_all(frame, TINY, "d", FitSettings.fast(), out_dir=tmp_path)
    before = artifacts.read_meta("tiny", "d", "memory", tmp_path)["report"]["created"]
    real = artifacts._write
    n = []

    def write(path: Path, data: bytes) -> None:
        n.append(path)
        if len(n) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(artifacts, "_write", write)
    with pytest.raises(SystemExit) as e:
        cli_main(lambda _: fit_all(frame, TINY, "d", FitSettings.fast(seed=1), out_dir=tmp_path), None,
                 what="python -m hwgpt.surrogates.fit")
    assert e.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]  # tqdm's bar is on stderr too
    assert len(lines) == 1 and "No space left on device" in lines[0] and "previous surrogate" in lines[0], lines
    assert not list((tmp_path / "tiny").glob(".d.*"))  # the failed save removed its staging directory
    monkeypatch.setattr(artifacts, "_write", real)
    artifacts.verify_dir(artifacts.device_dir(tmp_path, "tiny", "d"))
    artifacts.load("tiny", "d", "memory", tmp_path)
    assert artifacts.read_meta("tiny", "d", "memory", tmp_path)["report"]["created"] == before


# ------------------------------------------------------------------------------ real SIGKILLs
def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "PROJECT_ROOT": str(tmp), "HWGPT_HOME": str(tmp / "home"), "WANDB_MODE": "disabled",
            "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _profile_cmd(store: Path, run_dir: Path) -> list[str]:
    return [sys.executable, str(ROOT / "profile.py"), "metric=latency", "n_archs=24", "repeats=3", "seq_len=16",
            "metric.warmup=1", "metric.interleave=2", f"store={store}", "progress=false", f"hydra.run.dir={run_dir}"]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_profile_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    ref, killed = tmp_path / "ref.sqlite", tmp_path / "killed.sqlite"
    t0 = time.perf_counter()
    subprocess.run(_profile_cmd(ref, tmp_path / "r0"), check=True, env=_env(tmp_path), cwd=tmp_path,
                   capture_output=True)
    full = time.perf_counter() - t0
    rng = random.Random(21)
    for i in range(4):
        p = subprocess.Popen(_profile_cmd(killed, tmp_path / f"k{i}"), env=_env(tmp_path), cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 0.7) * full)
        p.send_signal(signal.SIGKILL)
        p.wait()
        if killed.exists():
            with sqlite3.connect(killed) as c:
                assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert set(_complete(killed, "latency").values()) <= {3}  # complete archs: all their repeats
    subprocess.run(_profile_cmd(killed, tmp_path / "resume"), check=True, env=_env(tmp_path), cwd=tmp_path,
                   capture_output=True)
    a, b = _complete(ref, "latency"), _complete(killed, "latency")
    assert a == b and len(a) == 26 and set(a.values()) == {3}  # same archs, no duplicates, nothing partial
    with Store(killed, readonly=True) as s:
        assert len(s.observations()) == 26 * 3


def _train_cmd(tmp: Path, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), "scale=tiny", "logger=none", "evaluate=false",
            "trainer.max_steps=8", "callbacks.checkpoint.every_n_train_steps=1",
            f"hydra.run.dir={run_dir}", *extra]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_train_sigkill_then_resume_from_last_ckpt(tmp_path: Path) -> None:
    """A SIGKILLed training leaves a last.ckpt that loads safely; resuming from it reaches max_steps."""
    from hwgpt.training.run import load_checkpoint

    run_dir = tmp_path / "run"
    p = subprocess.Popen(_train_cmd(tmp_path, run_dir), env=_env(tmp_path), cwd=tmp_path,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = run_dir / "checkpoints" / "last.ckpt"
    t0 = time.time()
    while time.time() - t0 < 600 and p.poll() is None and not last.exists():
        time.sleep(0.2)
    time.sleep(1.0)
    p.send_signal(signal.SIGKILL)
    p.wait()
    if not last.exists():
        pytest.skip("the training finished or failed before writing a checkpoint")
    step = load_checkpoint(last)["global_step"]  # weights_only: a plain, complete checkpoint
    assert 1 <= step <= 8
    res = subprocess.run(_train_cmd(tmp_path, tmp_path / "resumed", f"ckpt_path={last}"), env=_env(tmp_path),
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "resumed" / "supernet.safetensors").is_file()
