"""``python -m hwgpt.surrogates.fit``: run(cfg) through Hydra compose on a small real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

import hwgpt
from hwgpt.profiling.store import Observation, Settings, Store
from hwgpt.surrogates.fit import FitSettings, run
from hwgpt.surrogates.synthetic import synthetic_observations

CONF = Path(__file__).resolve().parents[2] / "conf"


def _store(path: Path, space: hwgpt.SearchSpace) -> Path:
    """A store with 40 archs: latency (4 repeats, some flagged contended) and memory, via the Store API."""
    df = synthetic_observations(space, n_archs=40, repeats=4, metrics=("latency", "memory"), device="cpu")
    with Store(path, create=True) as store:
        key = store.register_device("cpu", "cpu", {"cpu_model": "test-cpu", "logical_cpus": 2})
        store.start_run("r0", key, {"test": True})
        for _, rows in df.groupby("arch_id", sort=False):
            arch = hwgpt.Arch.from_dict(json.loads(rows["arch"].iloc[0]))
            obs = [Observation(r.metric, r.value, r.unit, int(r.repeat), ("contended",) if r.repeat == 3 else ())
                   for r in rows.itertuples()]
            store.write_arch(arch=arch, scale="tiny", device="cpu", settings=Settings(1, 256, "float32", 1),
                             observations=obs, run_id="r0", device_key=key)
    return path


def _cfg(tmp_path: Path, *overrides: str) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("fit", overrides=[f"out_dir={tmp_path / 'art'}", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
        fast = FitSettings.fast()
        cfg.boost.max_depth, cfg.boost.max_rounds = fast.quantile.boost.max_depth, fast.quantile.boost.max_rounds
        cfg.boost.learning_rate = fast.quantile.boost.learning_rate
    return cfg


def test_fit_command_end_to_end(tmp_path: Path) -> None:
    space = hwgpt.SearchSpace.from_name("tiny")
    store = _store(tmp_path / "store.sqlite", space)
    reports, results = run(_cfg(tmp_path, f"store={store}", "scale=tiny", "device=cpu"))
    assert set(reports) == {"latency", "memory"}
    rep = reports["latency"]
    assert rep["device"]["cpu_model"] == "test-cpu" and len(rep["store_sha256"]) == 64
    assert rep["settings"]["dropped"] == {"flagged contended": 40}
    assert rep["settings"]["measurement"] == {"batch": 1, "seq_len": 256, "dtype": "float32", "threads": 1}
    assert json.loads((tmp_path / "run" / "reports.json").read_text())["memory"]["n_archs_test"] == 8
    plots = {p.name for p in (tmp_path / "run" / "plots").iterdir()}
    assert {"tiny_cpu_latency_qq.png", "tiny_cpu_latency_calibration.png"} <= plots
    bench = hwgpt.Benchmark("tiny", "cpu", artifacts_dir=tmp_path / "art")
    assert bench.metrics == ["latency", "memory", "flops", "params"]
    assert bench.report("latency")["store_sha256"] == rep["store_sha256"]


def test_fit_command_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist.*profile.py"):
        run(_cfg(tmp_path, f"store={tmp_path / 'none.sqlite'}"))
    store = _store(tmp_path / "store.sqlite", hwgpt.SearchSpace.from_name("tiny"))
    with pytest.raises(ValueError, match=r"energy.*profile.py scale=tiny device=cpu metric=energy"):
        run(_cfg(tmp_path, f"store={store}", "metrics=[energy]"))


def test_config_instantiates() -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("fit", overrides=["scale=s", "device=h100"])
    settings = instantiate(cfg.settings, _convert_="all")
    assert isinstance(settings, FitSettings) and settings.point.boost.max_depth == [3, 5]
    assert cfg.device.name == "h100" and cfg.scale.name == "s"
    GlobalHydra.instance().clear()
