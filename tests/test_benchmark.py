"""hwgpt.Benchmark: the API of ../shared/API.md on surrogates fitted to synthetic data in tmp dirs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import hwgpt
from hwgpt import cost
from hwgpt.surrogates.fit import FitSettings, fit_all
from hwgpt.surrogates.synthetic import synthetic_observations

API_REPORT_KEYS = {"n_archs_train", "n_archs_calibration", "n_archs_test", "coverage", "kendall_tau", "r2",
                   "device", "created", "versions"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two devices: "cpu" (latency, energy, perplexity) and "gpu" (latency only)."""
    space = hwgpt.SearchSpace.from_name("tiny")
    root = tmp_path_factory.mktemp("bench_artifacts")
    df = synthetic_observations(space, n_archs=60, repeats=4, seed=0, device="cpu",
                                metrics=("latency", "energy", "perplexity"))
    fit_all(df, space, "cpu", FitSettings.fast(), out_dir=root)
    gpu = synthetic_observations(space, n_archs=60, repeats=4, seed=1, device="gpu", metrics=("latency",))
    gpu["value"] /= 10
    fit_all(gpu, space, "gpu", FitSettings.fast(), out_dir=root)
    return root


@pytest.fixture(scope="module")
def bench(root: Path) -> hwgpt.Benchmark:
    return hwgpt.Benchmark(scale="tiny", device="cpu", artifacts_dir=root)


def test_discovery(bench: hwgpt.Benchmark, root: Path) -> None:
    assert bench.devices == ["cpu", "gpu"]
    assert bench.metrics == ["energy", "latency", "perplexity", "flops", "params"]
    gpu = hwgpt.Benchmark("tiny", "gpu", artifacts_dir=root)
    assert gpu.metrics == ["latency", "perplexity", "flops", "params"]  # perplexity is device-independent
    assert hwgpt.Benchmark("tiny", artifacts_dir=root).device == "cpu"  # the device with most surrogates


def test_single_and_batched_queries_agree(bench: hwgpt.Benchmark) -> None:
    space = bench.space
    arch = space.sample(0)
    one = bench.query(arch)
    assert set(one) == set(bench.metrics) and all(isinstance(v, (int, float)) for v in one.values())
    assert one["flops"] == cost.flops(arch, space) and one["params"] == cost.params(arch, space)
    archs = [arch, *space.sample_unique(20, seed=5)]
    many = bench.query(archs, metrics=["latency", "perplexity", "params"])
    assert all(isinstance(v, np.ndarray) and v.shape == (21,) for v in many.values())
    assert many["latency"][0] == pytest.approx(one["latency"])
    assert many["params"][3] == cost.params(archs[3], space)
    assert bench.query([], metrics=["latency"])["latency"].shape == (0,)


def test_objectives_from_different_devices(bench: hwgpt.Benchmark) -> None:
    arch = bench.space.sample(1)
    out = bench.query(arch, metrics=["perplexity", "latency", "latency@gpu"])
    assert out["latency@gpu"] < out["latency"] / 3
    assert bench.query(arch, ["latency"], devices={"latency": "gpu"})["latency"] == out["latency@gpu"]
    assert bench.interval(arch, "latency@gpu", 0.5)[1] < out["latency"]


def test_interval_and_observations(bench: hwgpt.Benchmark) -> None:
    arch = bench.space.sample(2)
    med = bench.query(arch, ["latency"])["latency"]
    lo9, hi9 = bench.interval(arch, "latency", coverage=0.9)
    lo5, hi5 = bench.interval(arch, "latency", coverage=0.5)
    assert lo9 <= lo5 <= med <= hi5 <= hi9
    a, b = bench.sample_observation(arch, "latency", seed=3), bench.sample_observation(arch, "latency", seed=3)
    assert a == b and a > 0
    draws = bench.sample_observations([arch] * 4000, "latency", seed=np.arange(4000))
    assert np.mean((draws >= lo9) & (draws <= hi9)) == pytest.approx(0.9, abs=0.02)
    assert np.median(draws) == pytest.approx(med, rel=0.05)
    ppl = bench.query(arch, ["perplexity"])["perplexity"]
    assert bench.sample_observation(arch, "perplexity") == pytest.approx(ppl)  # deterministic metric


def test_draws_are_independent_and_keyed(bench: hwgpt.Benchmark) -> None:
    """Different archs, metrics, devices and seeds give independent draws; the same key the same draw."""
    from scipy.stats import spearmanr

    a, b = bench.space.sample_unique(2, seed=11)
    seeds = np.arange(3000)
    la = bench.sample_observations([a] * 3000, "latency", seed=seeds)
    lb = bench.sample_observations([b] * 3000, "latency", seed=seeds)
    ea = bench.sample_observations([a] * 3000, "energy", seed=seeds)
    ga = bench.sample_observations([a] * 3000, "latency@gpu", seed=seeds)
    for other in (lb, ea, ga):
        assert abs(spearmanr(la, other)[0]) < 0.08  # |rho| of independent samples: ~N(0, 1/sqrt(3000))
    # keyed: single, batched, any order, a fresh object, another Benchmark (fresh cache): the same draw
    single = [bench.sample_observation(a, "latency", seed=int(s)) for s in seeds[:50]]
    assert np.array_equal(la[:50], single)
    fresh = hwgpt.Benchmark("tiny", "cpu", artifacts_dir=bench.artifacts_dir)
    copy = hwgpt.Arch.from_dict(a.to_dict())
    assert fresh.sample_observation(copy, "latency", seed=7) == la[7]
    mixed = bench.sample_observations([b, a, b], "latency", seed=np.array([5, 6, 7]))
    assert mixed[1] == la[6] and mixed[2] == lb[7]


def test_repeats_aggregate_draws(bench: hwgpt.Benchmark) -> None:
    """An observation over r repeats is the median of r draws: less noisy, single == batched."""
    arch = bench.space.sample(4)
    seeds = np.arange(2000)
    one = bench.sample_observations([arch] * 2000, "latency", seed=seeds)
    ten = bench.sample_observations([arch] * 2000, "latency", seed=seeds, repeats=10)
    assert np.std(np.log(ten)) < 0.6 * np.std(np.log(one))
    assert ten[3] == bench.sample_observation(arch, "latency", seed=3, repeats=10)
    even = bench.sample_observations([arch], "latency", seed=5, repeats=4)[0]
    draws = sorted(bench._table("latency").value(bench._table("latency").lookup(arch), u) for u in
                   sorted(hwgpt.benchmark.keyed_uniform(5, int(arch.id, 16), bench._table("latency").stream, r)
                          for r in range(4)))
    assert even == pytest.approx(0.5 * (draws[1] + draws[2]))
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        bench.sample_observation(arch, "latency", repeats=0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        bench.sample_observation(arch, "latency", seed=-1)


def test_cached_quantiles_equal_the_surrogate(bench: hwgpt.Benchmark) -> None:
    """The compiled trees reproduce XGBoost's predictions bit for bit, one row or a batch."""
    from hwgpt.fast_predict import compile_surrogate
    from hwgpt.surrogates.features import arch_arrays, features

    archs = bench.space.sample_unique(200, seed=3)
    for metric in ("latency", "energy", "perplexity"):
        s = bench.surrogate(metric)
        X = features(arch_arrays(archs, bench.space), bench.space, s.spec)
        Q, med = compile_surrogate(s)(X)
        np.testing.assert_array_equal(Q, s.quantiles(X))
        np.testing.assert_array_equal(med, s._median(X))
        np.testing.assert_array_equal(np.concatenate([compile_surrogate(s)(X[i:i + 1])[0] for i in range(9)]), Q[:9])
    meds = bench.query(archs, ["latency"])["latency"]
    np.testing.assert_array_equal([bench.median(a, "latency") for a in archs], meds)


def test_simulated_seconds_formula(bench: hwgpt.Benchmark) -> None:
    arch = bench.space.sample(6)
    lat = bench.query(arch, ["latency"])["latency"]
    gpu = bench.query(arch, ["latency@gpu"])["latency@gpu"]
    p = hwgpt.benchmark.MeasurementProtocol(repeats=10, warmup=1, perplexity_windows=5, overhead_seconds=2.0)
    spec = bench.surrogate("latency").spec
    got = bench.simulated_seconds(arch, ["perplexity", "latency", "energy"], p)
    expected = 2.0 + (1 + 10 * 2) * lat + 5 * bench.space.block_size / (spec.batch * spec.seq_len) * lat
    assert got == pytest.approx(expected, rel=1e-6)
    two = bench.simulated_seconds(arch, ["latency", "latency@gpu"], p)
    assert two == pytest.approx(2.0 + 11 * lat + 11 * gpu, rel=1e-6)
    assert bench.simulated_seconds(arch, ["params", "flops"], p) == 2.0
    assert bench.simulated_seconds(arch, ["latency"], p, repeats=1) < bench.simulated_seconds(arch, ["latency"], p)
    low = bench.simulated_seconds(arch, ["perplexity"], p, repeats=2)  # a fifth of the windows
    assert low == pytest.approx(2.0 + 0.2 * 5 * bench.space.block_size / (spec.batch * spec.seq_len) * lat)
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        hwgpt.benchmark.MeasurementProtocol(repeats=0)


def test_batched_draws_and_seconds_are_bit_identical(bench: hwgpt.Benchmark) -> None:
    """Draws and simulated seconds computed ahead in one batch equal those computed one at a time."""
    fresh = hwgpt.Benchmark("tiny", "cpu", artifacts_dir=bench.artifacts_dir)
    archs = bench.space.sample_unique(40, seed=21)
    seeds = np.arange(1000, 1040, dtype=np.uint64)
    metrics, p = ["perplexity", "latency", "latency@gpu", "energy"], hwgpt.benchmark.MeasurementProtocol()
    fresh.prefetch(archs, ["latency", "energy", "latency@gpu"])
    for repeats in (1, 4, 5):
        fresh.prefetch_draws(archs, "latency", seeds, repeats)
        assert len(fresh._table("latency").pending) == 40
        pairs = list(zip(archs, seeds.tolist(), strict=True))
        ahead = [fresh.sample_observation(a, "latency", seed=s, repeats=repeats) for a, s in pairs]
        assert not fresh._table("latency").pending  # every one was read from the batch
        alone = [bench.sample_observation(a, "latency", seed=s, repeats=repeats) for a, s in pairs]
        assert ahead == alone
    many = fresh.simulated_seconds(archs, metrics, p, repeats=3)
    assert many.tolist() == [bench.simulated_seconds(a, metrics, p, repeats=3) for a in archs]
    assert fresh.simulated_seconds(archs, ["params"], p).tolist() == [0.0] * 40
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        fresh.prefetch_draws(archs, "latency", -seeds.astype(np.int64) - 1)


def test_report(bench: hwgpt.Benchmark) -> None:
    rep = bench.report("latency")
    assert API_REPORT_KEYS <= set(rep) and set(rep["coverage"]) >= {"0.5", "0.8", "0.9", "0.95"}
    json.dumps(rep)
    assert bench.report("flops")["model"] == "exact"


def test_errors(bench: hwgpt.Benchmark, root: Path, tmp_path: Path) -> None:
    arch = bench.space.sample(0)
    with pytest.raises(ValueError, match="unknown metric 'lat'.*allowed"):
        bench.query(arch, ["lat"])
    with pytest.raises(ValueError, match=r"memory.*profile\.py.*hwgpt\.surrogates\.fit"):
        bench.query(arch, ["memory"])
    with pytest.raises(ValueError, match=r"device 'h100'.*'cpu'.*profile\.py"):
        hwgpt.Benchmark("tiny", device="h100", artifacts_dir=root)
    with pytest.raises(ValueError, match="unknown scale"):
        hwgpt.Benchmark("xl", artifacts_dir=root)
    with pytest.raises(ValueError, match="allowed"):
        bench.interval(arch, "latency", coverage=0.85)
    with pytest.raises(ValueError, match="not in scale 'tiny'"):
        bench.query(hwgpt.SearchSpace.from_name("s").sample(0))
    with pytest.raises(ValueError, match="not in scale 'tiny'"):
        bench.query([arch, hwgpt.SearchSpace.from_name("s").sample(0)])
    with pytest.raises(ValueError, match="exact"):
        bench.interval(arch, "flops")
    with pytest.raises(ValueError, match="not queried"):
        bench.query(arch, ["latency"], devices={"energy": "gpu"})
    empty = hwgpt.Benchmark("tiny", artifacts_dir=tmp_path)  # nothing fitted: exact metrics still work
    assert empty.devices == [] and empty.metrics == ["flops", "params"]
    assert empty.query(arch)["params"] == cost.params(arch, bench.space)
    with pytest.raises(ValueError, match="profile.py"):
        empty.query(arch, ["latency"])


def test_corrupt_artifact_error_names_the_file(root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (copy / "tiny" / "cpu" / "energy.meta.json").write_text("{")
    b = hwgpt.Benchmark("tiny", "cpu", artifacts_dir=copy)
    assert b.query(b.space.sample(0), ["latency"])  # other surrogates unaffected (lazy loading)
    with pytest.raises(ValueError, match=r"energy\.meta\.json"):
        b.query(b.space.sample(0), ["energy"])


def test_live_evaluator_measures_on_this_machine(tmp_path: Path) -> None:
    import torch

    from hwgpt.checkpoint import save_supernet
    from hwgpt.profiling.quality import synthetic_data

    torch.manual_seed(0)
    ckpt = save_supernet(hwgpt.SuperGPT(hwgpt.SearchSpace.from_name("tiny")), tmp_path / "tiny.safetensors",
                         tokenizer="synthetic8192", dtype=torch.float32)
    live = hwgpt.Benchmark("tiny", "cpu", evaluator="live", repeats=2, seq_len=32, checkpoint=ckpt,
                           windows=2, quality_batch_size=2, data=synthetic_data)
    assert live.devices == ["cpu"] and "latency" in live.metrics
    small, large = live.space.smallest(), live.space.largest()
    out = live.query([small, large], metrics=["latency", "memory", "perplexity", "params"])
    assert out["memory"][0] < out["memory"][1] and out["params"][0] == cost.params(small, live.space)
    assert np.all(out["latency"] > 0) and np.all(out["perplexity"] > 1)
    assert isinstance(live.query(small, ["memory"])["memory"], float)
    with pytest.raises(ValueError, match="live"):
        live.interval(small, "latency")
    with pytest.raises(ValueError, match="unknown device"):
        hwgpt.Benchmark("tiny", "nope", evaluator="live")
    with pytest.raises(ValueError, match="unknown evaluator"):
        hwgpt.Benchmark("tiny", evaluator="table")
