"""Atomic fits: a save killed at any step leaves the previous surrogate loadable and verified.

``artifacts.save`` builds the new generation of ``<root>/<scale>/<device>`` in a staging directory
and swaps it in one step; these tests kill it (an exception standing in for SIGKILL) after every
write, at the swap and between the two renames of the non-atomic fallback, then load. A slow test
SIGKILLs ``python -m hwgpt.surrogates.fit`` at random points.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hwgpt
from hwgpt.errors import InvalidInput
from hwgpt.surrogates import artifacts
from hwgpt.surrogates.fit import FitSettings, fit_all

DEVICE = "synthetic-cpu"  # the device of the conftest frame
REPO = Path(__file__).resolve().parents[2]


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing on the way catches it."""


@pytest.fixture()
def root(artifacts_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "art"
    shutil.copytree(artifacts_dir, out)
    return out


def _created(root: Path, metric: str) -> str:
    return artifacts.read_meta("tiny", DEVICE, metric, root)["report"]["created"]


def _refit(root: Path, metric: str, stamp: str) -> hwgpt.surrogates.surrogate.Surrogate:
    """The loaded surrogate with new metadata: a 'new fit' without the fitting time."""
    s = artifacts.load("tiny", DEVICE, metric, root)
    s.meta["report"]["created"] = stamp
    return s


def _intact(root: Path, created: dict[str, str]) -> None:
    """Every metric loads, the directory matches its manifest, and each is the generation given."""
    d = artifacts.device_dir(root, "tiny", DEVICE)
    artifacts.verify_dir(d)
    assert artifacts.available(root)["tiny"][DEVICE] == sorted(created)
    for metric, stamp in created.items():
        artifacts.load("tiny", DEVICE, metric, root)
        assert _created(root, metric) == stamp


def _n_writes(root: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    calls = []
    real = artifacts._write
    monkeypatch.setattr(artifacts, "_write", lambda p, d: (calls.append(p), real(p, d))[1])
    artifacts.save(_refit(root, "latency", "count"), root)
    monkeypatch.setattr(artifacts, "_write", real)
    return len(calls)


def test_a_save_killed_after_any_write_keeps_the_previous_generation(root: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    n = _n_writes(root, monkeypatch)
    assert n >= 4  # model files, metadata, manifest
    before = {m: _created(root, m) for m in ("latency", "memory", "perplexity")}
    real = artifacts._write
    for k in range(n):
        calls = iter(range(n + 1))

        def write(path: Path, data: bytes, k: int = k, calls=calls) -> None:  # noqa: ANN001
            if next(calls) == k:
                real(path, data[: len(data) // 2])  # half a file, then the kill
                raise Killed
            real(path, data)

        monkeypatch.setattr(artifacts, "_write", write)
        with pytest.raises(Killed):
            artifacts.save(_refit(root, "latency", f"killed-{k}"), root)
        monkeypatch.setattr(artifacts, "_write", real)
        _intact(root, before)
    assert list(root.joinpath("tiny").glob(f".{DEVICE}.gen-*"))  # what the kills left ...
    artifacts.save(_refit(root, "latency", "after"), root)
    assert not list(root.joinpath("tiny").glob(f".{DEVICE}.*"))  # ... the next save removes
    _intact(root, {**before, "latency": "after"})


def test_a_save_killed_at_the_switch_keeps_the_previous_generation(root: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    before = {m: _created(root, m) for m in ("latency", "memory", "perplexity")}

    def killed(*_: object) -> bool:
        raise Killed

    monkeypatch.setattr(artifacts, "_exchange", killed)
    with pytest.raises(Killed):
        artifacts.save(_refit(root, "memory", "new"), root)
    _intact(root, before)


def test_killed_between_the_two_renames_of_the_fallback(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an atomic exchange: a kill after parking the old directory leaves it readable."""
    before = {m: _created(root, m) for m in ("latency", "memory", "perplexity")}
    monkeypatch.setattr(artifacts, "_exchange", lambda a, b: False)
    real_rename = os.rename

    def rename(src: object, dst: object) -> None:
        if str(src).endswith(DEVICE) and not str(src).startswith("."):
            real_rename(src, dst)  # the old generation is parked aside ...
            raise Killed  # ... and the process dies before the new one moves in
        real_rename(src, dst)

    monkeypatch.setattr(artifacts.os, "rename", rename)
    with pytest.raises(Killed):
        artifacts.save(_refit(root, "latency", "new"), root)
    monkeypatch.setattr(artifacts.os, "rename", real_rename)
    assert not (root / "tiny" / DEVICE).exists() and (root / "tiny" / f".{DEVICE}.previous").is_dir()
    _intact(root, before)  # read from the parked generation
    artifacts.save(_refit(root, "latency", "after"), root)  # restores it first, then switches
    assert (root / "tiny" / DEVICE).is_dir() and not list(root.joinpath("tiny").glob(f".{DEVICE}.*"))
    _intact(root, {**before, "latency": "after"})


def test_fallback_switch_without_kill(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifacts, "_exchange", lambda a, b: False)
    before = {m: _created(root, m) for m in ("latency", "memory", "perplexity")}
    artifacts.save(_refit(root, "perplexity", "fallback"), root)
    _intact(root, {**before, "perplexity": "fallback"})


def test_a_tampered_file_of_another_metric_is_not_blessed_by_a_refit(root: Path) -> None:
    f = root / "tiny" / DEVICE / "memory.median.ubj"
    f.write_bytes(f.read_bytes() + b"\0")
    artifacts.save(_refit(root, "latency", "new"), root)
    artifacts.load("tiny", DEVICE, "latency", root)
    with pytest.raises(artifacts.ArtifactIntegrityError, match="memory.median.ubj was changed"):
        artifacts.load("tiny", DEVICE, "memory", root)


def test_the_fit_writes_to_hwgpt_home_by_default_never_the_package(frame, space, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWGPT_HOME", str(tmp_path / "home"))
    fit_all(frame, space, DEVICE, FitSettings.fast(), metrics=["memory"])
    assert (tmp_path / "home" / "surrogates" / "tiny" / DEVICE / "memory.meta.json").is_file()
    assert not Path(str(artifacts.package_root())).joinpath("tiny", DEVICE).exists()
    assert "memory" in hwgpt.Benchmark("tiny", DEVICE).metrics  # found there without options
    with pytest.raises(InvalidInput, match="not both"):
        fit_all(frame, space, DEVICE, FitSettings.fast(), metrics=["memory"], out_dir=tmp_path, into_package=True)


# ------------------------------------------------------------------------------ real SIGKILLs
def _store(path: Path) -> Path:
    """40 archs of latency and memory on ``cpu`` (4 repeats), written through the Store API."""
    from hwgpt.profiling.store import Observation, Settings, Store
    from hwgpt.surrogates.synthetic import synthetic_observations

    df = synthetic_observations(hwgpt.SearchSpace.from_name("tiny"), n_archs=40, repeats=4,
                                metrics=("latency", "memory"), device="cpu")
    with Store(path, create=True) as store:
        key = store.register_device("cpu", "cpu", {"cpu_model": "test-cpu"})
        store.start_run("r0", key, {})
        for _, rows in df.groupby("arch_id", sort=False):
            arch = hwgpt.Arch.from_dict(json.loads(rows["arch"].iloc[0]))
            obs = [Observation(r.metric, r.value, r.unit, int(r.repeat), ()) for r in rows.itertuples()]
            store.write_arch(arch=arch, scale="tiny", device="cpu", settings=Settings(1, 256, "float32", 1),
                             observations=obs, run_id="r0", device_key=key)
    return path


FAST = ["boost.max_depth=[3]", "boost.max_rounds=30", "boost.learning_rate=0.3", "settings.quantile.folds=2",
        "settings.point.mlp.max_iter=50", "plots=false"]


def _fit_cmd(store: Path, out: Path, run_dir: Path, seed: int) -> list[str]:
    return [sys.executable, "-m", "hwgpt.surrogates.fit", "scale=tiny", "device=cpu", f"store={store}",
            f"out_dir={out}", f"settings.seed={seed}", f"hydra.run.dir={run_dir}", *FAST]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_of_the_fit_command_at_random_points_keeps_a_loadable_surrogate(tmp_path: Path) -> None:
    store, out = _store(tmp_path / "store.sqlite"), tmp_path / "art"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    subprocess.run(_fit_cmd(store, out, tmp_path / "run0", 0), check=True, env=env, capture_output=True, cwd=tmp_path)
    full = time.perf_counter() - t0
    first = {m: artifacts.read_meta("tiny", "cpu", m, out)["report"]["created"] for m in ("latency", "memory")}
    rng = random.Random(0)
    for i in range(1, 6):
        p = subprocess.Popen(_fit_cmd(store, out, tmp_path / f"run{i}", i), env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0) * full)
        p.send_signal(signal.SIGKILL)
        p.wait()
        d = artifacts.device_dir(out, "tiny", "cpu")
        artifacts.verify_dir(d)
        for m in ("latency", "memory"):
            s = artifacts.load("tiny", "cpu", m, out)  # the previous or the new generation, never a mix
            assert s.meta["report"]["settings"]["fit"]["seed"] in range(i + 1)
        assert json.loads((d / "manifest.json").read_text())["files"]
    assert first  # the first, finished fit wrote both metrics
