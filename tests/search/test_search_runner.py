"""run(cfg) through Hydra compose: outputs, loggers, errors before any work, 3 objectives on 2 devices."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from search_helpers import CONF, SMALL

from hwgpt.search import run
from hwgpt.search.results import validate_results


def test_default_run_writes_results_and_plots(search_cfg, tmp_path: Path) -> None:
    res = run(search_cfg("n_evals=15", run_dir=tmp_path / "r"))
    on_disk = json.loads((tmp_path / "r" / "results.json").read_text())
    validate_results(on_disk)
    assert on_disk == json.loads(json.dumps(res))
    assert res["optimizer"] == "rs" and res["objectives"] == ["perplexity", "latency"]
    assert res["devices"] == {"latency": "cpu"} and res["reference_point"] == [1.1, 1.1]
    assert 0 < res["hypervolume"] == res["hypervolume_curve"][-1][1] <= 1.1**2 + 0.1
    assert 1 <= len(res["pareto_front"]) <= 15
    for name in ("pareto_front.png", "hypervolume.png"):
        assert (tmp_path / "r" / name).stat().st_size > 1000


@pytest.mark.parametrize("optimizer", ["ls", "nsga2"])
def test_three_objectives_on_two_devices_and_medians(optimizer: str, search_cfg, tmp_path: Path) -> None:
    small = SMALL[optimizer]
    res = run(search_cfg("objectives=[perplexity,latency,energy]", "devices={latency:rtx2080}", "noise=false",
                         "n_evals=10", f"optimizer={optimizer}", *small))
    assert res["devices"] == {"latency": "rtx2080", "energy": "cpu"} and res["noise"] is False
    assert res["hypervolume"] == pytest.approx(res["hypervolume_median"])  # medians: nothing to be lucky about


def test_csv_logger_writes_history(search_cfg, tmp_path: Path) -> None:
    run(search_cfg("logger=csv", "n_evals=6", run_dir=tmp_path / "c"))
    rows = list(csv.DictReader(open(tmp_path / "c" / "history.csv")))
    assert len(rows) == 6 and set(rows[0]) == {"n_evals", "arch", "perplexity", "latency", "hypervolume"}


def test_wandb_logger_offline_in_run_dir(search_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "w"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for var in ("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var))
    run(search_cfg("logger=wandb", "n_evals=5", run_dir=tmp_path / "r"))
    runs = list((tmp_path / "r" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["n_evals=0"], "n_evals must be a positive int"),
        (["n_evals=-3"], "n_evals must be a positive int"),
        (["objectives=[perplexity]"], "optimizer 'rs' is multi-objective: needs at least 2 objectives"),
        (["device=h100"], r"unknown device 'h100'.*devices with surrogates: \['cpu', 'rtx2080'\]"),
        (["objectives=[perplexity,energy]", "device=rtx2080"], "no energy surrogate for device 'rtx2080'"),
        (["objectives=[perplexity,watts]"], "unknown objective metric 'watts'"),
        (["reference_point=0"], "reference_point must be a positive number"),
        (["logger.mode=sometimes", "logger=wandb"], "logger.mode='sometimes'"),
    ],
)
def test_bad_input_fails_before_any_work(overrides, match, search_cfg, tmp_path: Path, monkeypatch) -> None:
    import hwgpt.search.runner as runner

    monkeypatch.setattr(runner, "optimize", lambda *a, **k: pytest.fail("search started"))
    with pytest.raises(ValueError, match=match):
        run(search_cfg(*overrides, run_dir=tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()


def test_unknown_optimizer_lists_options() -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        with pytest.raises(ConfigCompositionException, match="Could not find 'optimizer/simplex'") as e:
            compose("search", overrides=["optimizer=simplex"])
    assert "nsga2" in str(e.value) and "ehvi" in str(e.value)
    GlobalHydra.instance().clear()


@pytest.fixture(scope="module")
def fitted_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real surrogates (quick fit settings) of synthetic observations, in a temporary artifact root."""
    from hwgpt.search_space import SearchSpace
    from hwgpt.surrogates.boosting import BoostSettings
    from hwgpt.surrogates.fit import FitSettings, fit_all
    from hwgpt.surrogates.mlp import MLPSettings
    from hwgpt.surrogates.predictor import PointSettings
    from hwgpt.surrogates.quantile import QuantileSettings
    from hwgpt.surrogates.synthetic import synthetic_observations

    space = SearchSpace.from_name("tiny")
    boost = BoostSettings(max_depth=[3], learning_rate=0.2, max_rounds=40, early_stopping_rounds=10, nthread=1)
    settings = FitSettings(quantile=QuantileSettings(boost=boost),
                           point=PointSettings(boost=boost, mlp=MLPSettings(hidden=[8], max_iter=100)))
    frame = synthetic_observations(space, n_archs=80, repeats=4, seed=0, device="cpu",
                                   metrics=("latency", "perplexity"))
    root = tmp_path_factory.mktemp("artifacts")
    fit_all(frame, space, "cpu", settings, out_dir=root)
    return root


def test_on_the_real_benchmark_class(search_cfg, fitted_artifacts: Path, tmp_path: Path) -> None:
    """hwgpt.Benchmark on surrogates fitted here (synthetic data): the interface the search relies on."""
    res = run(search_cfg("benchmark._target_=hwgpt.benchmark.Benchmark", f"benchmark.artifacts_dir={fitted_artifacts}",
                         "n_evals=12", "optimizer=nsga2", "optimizer.searcher.population_size=4"))
    validate_results(res)
    assert res["devices"] == {"latency": "cpu"} and res["hypervolume"] > 0
    lat = [e["objectives"]["latency"] for e in res["history"]]
    assert len(set(lat)) == len(lat)  # noisy draws
    with pytest.raises(ValueError, match=r"unknown device 'h100' for scale 'tiny'.*with surrogates: \['cpu'\]"):
        run(search_cfg("benchmark._target_=hwgpt.benchmark.Benchmark", f"benchmark.artifacts_dir={fitted_artifacts}",
                       "device=h100", "scale=tiny"))
    with pytest.raises(ValueError, match=r"unknown device 'h100' for scale 's'"):  # a paper device: its S scale
        run(search_cfg("benchmark._target_=hwgpt.benchmark.Benchmark", f"benchmark.artifacts_dir={fitted_artifacts}",
                       "device=h100"))
    with pytest.raises(ValueError, match="no energy surrogate for device 'cpu'"):
        run(search_cfg("benchmark._target_=hwgpt.benchmark.Benchmark", f"benchmark.artifacts_dir={fitted_artifacts}",
                       "objectives=[perplexity,energy]"))


def test_shipped_benchmark_integration(search_cfg, tmp_path: Path) -> None:
    """On the shipped surrogates (skipped where none ship)."""
    try:
        import hwgpt

        bench = hwgpt.Benchmark(scale="tiny")
        assert {"perplexity", "latency"} <= set(bench.metrics)
    except Exception as e:  # no benchmark module or no shipped surrogates yet
        pytest.skip(f"no shipped tiny surrogates: {type(e).__name__}: {e}")
    res = run(search_cfg("benchmark._target_=hwgpt.benchmark.Benchmark", f"device={bench.device}", "n_evals=10",
                         "normalization.n_archs=2000"))
    validate_results(res)
    assert res["timing"]["benchmark_s"] > 0  # speed is bench/bench_search.py's job: no absolute time in a test
