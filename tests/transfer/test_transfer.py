"""Transfer surrogates on synthetic devices: accuracy, CV+ coverage, artifacts, design, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau
from transfer_helpers import DEVICES

import hwgpt
from hwgpt.surrogates import artifacts, transfer, userdirs
from hwgpt.surrogates.features import build_features
from hwgpt.surrogates.fit import FitSettings, fit_metric


@pytest.fixture(scope="module")
def sources(multi_device: pd.DataFrame, space: hwgpt.SearchSpace) -> dict:
    """Quantile surrogates of the four source devices, as shipped ones would be."""
    return {d: fit_metric(multi_device, space, "latency", d, FitSettings.fast()).surrogate for d in DEVICES}


def _split(frame: pd.DataFrame, k: int) -> tuple[pd.DataFrame, list[str]]:
    new = frame[frame["device"] == "dev_new"]
    ids = list(dict.fromkeys(new["arch_id"]))
    return new[new["arch_id"].isin(ids[:k])], ids[200:]


def _evaluate(sur, frame: pd.DataFrame, test_ids: list[str], pool: list, space) -> dict[str, float]:
    archs = {a.id: a for a in pool}
    X = build_features([archs[a] for a in test_ids], space, sur.spec)
    te = frame[(frame["device"] == "dev_new") & frame["arch_id"].isin(test_ids)]
    med = te.groupby("arch_id")["value"].median().reindex(test_ids).to_numpy()
    pred = sur.median(X)
    lo, hi = sur.interval(X, 0.9)
    rep = te.set_index("arch_id").loc[test_ids]
    idx = {a: i for i, a in enumerate(test_ids)}
    j = rep.index.map(idx).to_numpy()
    obs = rep["value"].to_numpy()
    return {"tau": kendalltau(pred, med).statistic, "mre": float(np.median(np.abs(pred / med - 1))),
            "cover_medians": float(np.mean((med >= lo) & (med <= hi))),
            "cover_obs": float(np.mean((obs >= lo[j]) & (obs <= hi[j])))}


@pytest.mark.parametrize("method", ["scale_shift", "embedding", "auto"])
def test_transfer_from_20_archs_ranks_and_covers(multi_device, space, pool, sources, method) -> None:
    train, test_ids = _split(multi_device, 20)
    res = transfer.fit_transfer(train, space, "latency", "dev_new", sources, transfer.TransferSettings(method=method))
    ev = _evaluate(res.surrogate, multi_device, test_ids, pool, space)
    assert ev["tau"] > 0.85
    assert ev["mre"] < 0.06
    assert ev["cover_medians"] >= 0.85
    assert 0.8 <= ev["cover_obs"] <= 0.99
    assert res.report["method"] == (method if method != "auto" else res.report["method"])
    assert set(res.report["sources"]) <= set(DEVICES)


def test_transfer_beats_scratch_at_few_archs(multi_device, space, pool, sources) -> None:
    train, test_ids = _split(multi_device, 10)
    t = transfer.fit_transfer(train, space, "latency", "dev_new", sources)
    s = transfer.fit_transfer(train, space, "latency", "dev_new", sources, transfer.TransferSettings(method="scratch"))
    et, es = (_evaluate(r.surrogate, multi_device, test_ids, pool, space) for r in (t, s))
    assert et["mre"] < es["mre"]
    assert s.report["sources"] == []


def test_cv_plus_coverage_with_many_archs(multi_device, space, pool, sources) -> None:
    train, test_ids = _split(multi_device, 150)
    res = transfer.fit_transfer(train, space, "latency", "dev_new", sources)
    ev = _evaluate(res.surrogate, multi_device, test_ids, pool, space)
    assert 0.85 <= ev["cover_obs"] <= 0.95
    assert 0.85 <= res.report["coverage"]["0.9"] <= 0.96  # cross-validated estimate agrees
    q = res.surrogate.quantiles(build_features(pool[:50], space, res.surrogate.spec))
    assert np.all(np.diff(q, axis=1) >= 0)


def test_no_sources_falls_back_to_scratch(multi_device, space) -> None:
    train, _ = _split(multi_device, 12)
    res = transfer.fit_transfer(train, space, "latency", "dev_new", {})
    assert res.report["method"] == "scratch" and "from scratch" in res.report["note"]


def test_too_few_archs_names_the_minimum(multi_device, space, sources) -> None:
    train, _ = _split(multi_device, 3)
    with pytest.raises(transfer.TooFewArchsError, match=r"at least 4 complete archs.*has 3.*n_archs=4"):
        transfer.fit_transfer(train, space, "latency", "dev_new", sources)
    with pytest.raises(ValueError, match="hardware metrics"):
        transfer.fit_transfer(train, space, "perplexity", "dev_new", sources)
    with pytest.raises(ValueError, match="allowed"):
        transfer.TransferSettings(method="magic")


def test_artifact_round_trip_and_benchmark_lookup(multi_device, space, pool, sources, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWGPT_HOME", str(tmp_path / "home"))
    train, _ = _split(multi_device, 20)
    res = transfer.fit_transfer(train, space, "latency", "dev_new", sources)
    artifacts.save(res.surrogate, userdirs.user_root())
    assert userdirs.user_available() == {"tiny": {"dev_new": ["latency"]}}
    assert "dev_new" in artifacts.available()["tiny"] and "cpu" in artifacts.available()["tiny"]
    loaded = artifacts.load("tiny", "dev_new", "latency")
    X = build_features(pool[:30], space, loaded.spec)
    np.testing.assert_allclose(loaded.median(X), res.surrogate.median(X))
    np.testing.assert_allclose(loaded.quantiles(X), res.surrogate.quantiles(X))
    bench = hwgpt.Benchmark("tiny", device="dev_new")
    lo, hi = bench.interval(pool[0], "latency", 0.9)
    assert lo < bench.query(pool[0], ["latency"])["latency"] < hi
    assert bench.report("latency")["model"].startswith("transfer-")
    assert bench.query(pool[0], ["perplexity"])["perplexity"] > 0  # device-independent ones from the shipped cpu
    monkeypatch.setenv("HWGPT_HOME", str(tmp_path / "elsewhere"))
    with pytest.raises(ValueError, match="no surrogate"):
        hwgpt.Benchmark("tiny", device="dev_new")


def test_design_spreads_cost_and_is_seeded(space) -> None:
    archs = transfer.design(space, 20, seed=0)
    assert len(archs) == 22 and len({a.id for a in archs}) == 22
    assert archs[0] == space.smallest() and archs[1] == space.largest()
    assert [a.id for a in transfer.design(space, 20, seed=0)] == [a.id for a in archs]
    assert [a.id for a in transfer.design(space, 20, seed=1)] != [a.id for a in archs]
    pool = np.sort([hwgpt.cost.flops(a, space) for a in space.sample_unique(4000, seed=0)])
    pos = np.sort([np.searchsorted(pool, hwgpt.cost.flops(a, space)) / len(pool) for a in archs[2:]])
    # one arch per equal-probability FLOPs stratum of the sampler: the j-th lies in the j-th twentieth
    assert np.max(np.abs(pos - (np.arange(20) + 0.5) / 20)) <= 1 / 20 + 1e-9
    assert {a.n_layer for a in archs} == set(space.n_layer) and {a.embed_dim for a in archs} == set(space.embed_dim)


def test_device_argv_rewrites_unknown_names() -> None:
    argv = ["profile.py", "scale=tiny", "device=my_laptop", "fit=true"]
    assert userdirs.device_argv(argv) == ["profile.py", "scale=tiny", "device=local", "device.name=my_laptop",
                                          "fit=true"]
    assert userdirs.device_argv(["x", "device=cpu"]) == ["x", "device=cpu"]
    assert userdirs.device_argv(["x", "device=local"]) == ["x", "device=local"]
    with pytest.raises(ValueError, match="invalid device name"):
        userdirs.device_argv(["x", "device=a/b"])
