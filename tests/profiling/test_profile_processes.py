"""Real processes: SIGKILL at random moments never leaves a partial architecture; two writers never duplicate."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwgpt.profiling.store import Store

ROOT = Path(__file__).resolve().parents[2]

WRITER = r"""
import sys
import hwgpt
from hwgpt.profiling.store import Observation, Settings, Store
store = Store(sys.argv[1], create=True)
key = store.register_device("cpu", "cpu", {"test": True})
store.start_run("kill", key, {})
space = hwgpt.SearchSpace.from_name("tiny")
s = Settings(1, 64, "float32", 1)
for a in space.sample_unique(400, seed=0):
    if a.id in store.completed("tiny", "cpu", "latency"):
        continue
    obs = [Observation("latency", 0.1 * r, "s", r) for r in range(400)]
    store.write_arch(arch=a, scale="tiny", device="cpu", settings=s, observations=obs, run_id="kill", device_key=key)
"""


def _consistent(path: Path) -> int:
    """Assert every architecture is complete or absent; return the number complete."""
    with sqlite3.connect(path) as c:
        partial = c.execute(
            "SELECT o.arch_id, COUNT(*), c.n_obs FROM observations o LEFT JOIN completed c USING "
            "(arch_id, scale, device, metric, batch, seq_len, dtype, threads) GROUP BY o.arch_id, o.metric "
            "HAVING c.n_obs IS NULL OR COUNT(*) != c.n_obs"
        ).fetchall()
        assert partial == []
        dup = c.execute("SELECT arch_id, repeat, COUNT(*) FROM observations GROUP BY arch_id, metric, repeat "
                        "HAVING COUNT(*) > 1").fetchall()
        assert dup == []
        return c.execute("SELECT COUNT(*) FROM completed").fetchone()[0]


def _wait_for(path: Path, n: int, timeout: float = 30.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if path.exists() and _consistent(path) >= n:
                return
        except sqlite3.OperationalError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"store {path} never reached {n} complete architectures")


def test_sigkill_never_leaves_partial_architecture(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    done = 0
    for i in range(2):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        _wait_for(path, done + 2)
        time.sleep(0.017 * i)  # land at different moments of a transaction
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        now = _consistent(path)
        assert now >= done + 2
        done = now
    assert len(Store(path).observations()) == 400 * done


def _profile(store: Path, tmp_path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path)}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "profile.py"), "scale=tiny", "metric=latency", "n_archs=10", "repeats=2",
         "metric.warmup=1", "metric.interleave=1", "seq_len=32", f"store={store}", "progress=false", *extra],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def test_two_concurrent_profilers_no_duplicates(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    procs = [_profile(store, tmp_path), _profile(store, tmp_path)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    assert _consistent(store) == 12
    df = Store(store).observations(metric="latency")
    assert len(df) == 24 and df.groupby("arch_id").size().eq(2).all()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_profiler_killed_then_resumed(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    p = _profile(store, tmp_path, "n_archs=40")
    _wait_for(store, 3, timeout=60)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    first = _consistent(store)
    assert 3 <= first < 42
    p = _profile(store, tmp_path, "n_archs=40")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err[-2000:]
    assert _consistent(store) == 42
    assert len(Store(store).observations()) == 84
