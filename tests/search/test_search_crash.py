"""``python search.py`` SIGKILLed mid-run (the shipped tiny surrogates), then resumed: nothing journaled is lost
and the resumed run equals an uninterrupted one, bit for bit (archs, objectives, simulated seconds)."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwgpt.search.journal import JOURNAL_NAME, read_journal

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("arch", "objectives", "simulated_seconds", "rounds")


def _cmd(run_dir: Path, *args: str) -> list[str]:
    return [sys.executable, str(ROOT / "search.py"), "logger=none", "progress=false", "normalization.n_archs=300",
            *args, f"hydra.run.dir={run_dir}"]


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "PROJECT_ROOT": str(tmp), "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "1"}


def _entries(run_dir: Path) -> int:
    try:
        return max(0, (run_dir / JOURNAL_NAME).read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def kill_after(cmd: list[str], run_dir: Path, k: int, env: dict[str, str], timeout: float = 600) -> int:
    """Start ``cmd``, SIGKILL it once its journal holds at least ``k`` evaluations; returns the count seen then."""
    p = subprocess.Popen(cmd, cwd=run_dir.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while (seen := _entries(run_dir)) < k:
            if p.poll() is not None:
                pytest.fail(f"the search ended (status {p.returncode}) before {k} evaluations: "
                            f"{p.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the search did not reach the kill point in time")
            time.sleep(0.005)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
        p.stderr.close()
    assert p.returncode == -signal.SIGKILL
    return seen


def _history(run_dir: Path) -> list[dict]:
    res = json.loads((run_dir / "results.json").read_text())
    assert res["complete"]
    return [{k: e[k] for k in KEYS} for e in res["history"]]


def _finish(cmd: list[str], tmp: Path, env: dict[str, str]) -> None:
    out = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]


def crash_and_resume(tmp: Path, args: list[str], kill_points: list[int]) -> dict[str, list[int]]:
    """Run uninterrupted; then kill a run at each of ``kill_points`` in turn (resuming in between), finish it
    with resume=true, and compare. Returns what the journal held at each kill."""
    env = _env(tmp)
    _finish(_cmd(tmp / "full", *args), tmp, env)
    full = _history(tmp / "full")
    cut = tmp / "cut"
    seen, kept = [], []
    for n, k in enumerate(kill_points):
        seen.append(kill_after(_cmd(cut, *args, *(["resume=true"] if n else [])), cut, k, env))
        journal = read_journal(cut / JOURNAL_NAME)
        assert journal is not None
        kept.append(len(journal.entries))
        assert kept[-1] >= seen[-1]  # nothing that was in the file when it was killed is lost
        assert [{k: e[k] for k in KEYS} for e in journal.entries] == full[: kept[-1]]
    _finish(_cmd(cut, *args, "resume=true"), tmp, env)
    assert _history(cut) == full
    lines = [json.loads(x) for x in (cut / JOURNAL_NAME).read_text().splitlines()[1:]]
    assert [e["index"] for e in lines] == list(range(len(full)))  # no duplicated or missing line
    return {"seen": seen, "kept": kept}


@pytest.mark.timeout(600)
def test_sigkilled_search_resumes_identically_fast(search_cfg, tmp_path: Path) -> None:
    """One SIGKILLed subprocess; the resume and the uninterrupted run in this process (the same config)."""
    from hwgpt.search import run

    args = ["optimizer=rs", "n_evals=150"]
    real = ["benchmark._target_=hwgpt.benchmark.Benchmark", "normalization.n_archs=300", *args]
    cut = tmp_path / "cut"
    seen = kill_after(_cmd(cut, *args), cut, 40, _env(tmp_path))
    kept = len(read_journal(cut / JOURNAL_NAME).entries)
    assert kept >= seen >= 40 and not (cut / "results.json").exists()
    full = run(search_cfg(*real, run_dir=tmp_path / "full"))
    resumed = run(search_cfg(*real, "resume=true", run_dir=cut))
    assert resumed["history"] == full["history"] and resumed["n_evals"] == 150
    lines = [json.loads(x) for x in (cut / JOURNAL_NAME).read_text().splitlines()[1:]]
    assert [e["index"] for e in lines] == list(range(150))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_sigkilled_search_resumes_identically_subprocesses(tmp_path: Path) -> None:
    crash_and_resume(tmp_path, ["optimizer=rs", "n_evals=150"], [40])


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("optimizer", ["rs", "nsga2"])
def test_sigkilled_search_at_3000_resumes_identically(optimizer: str, tmp_path: Path) -> None:
    rng = random.Random(21)
    points = sorted(rng.sample(range(50, 2950), 3))
    out = crash_and_resume(tmp_path, [f"optimizer={optimizer}", "n_evals=3000"], points)
    logging.getLogger(__name__).warning("%s: kill points %s, journal entries seen at the kill %s, kept %s",
                                        optimizer, points, out["seen"], out["kept"])
