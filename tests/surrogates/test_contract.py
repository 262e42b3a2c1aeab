"""Every surrogate kind: the same interface, shapes, monotone quantiles, pickle and artifact round trips."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import hwgpt
from hwgpt.surrogates import artifacts
from hwgpt.surrogates.features import build_features
from hwgpt.surrogates.surrogate import Surrogate


@pytest.mark.parametrize("metric", ["latency", "memory", "perplexity"])  # quantile x2, point
def test_surrogate_contract(artifacts_dir: Path, space: hwgpt.SearchSpace, device: str, metric: str) -> None:
    s = artifacts.load("tiny", device, metric, artifacts_dir)
    assert isinstance(s, Surrogate)
    X = build_features(space.sample_unique(30, seed=11), space, s.spec)
    med, q = s.median(X), s.quantiles(X)
    assert med.shape == (30,) and q.shape == (30, len(s.levels)) and np.all(np.diff(q, axis=1) >= 0)
    for level in s.coverage_levels:
        lo, hi = s.interval(X, level)
        assert np.all(lo <= hi)
    draws = s.sample(X, np.random.default_rng(0))
    assert draws.shape == (30,) and np.all(np.isfinite(draws))
    again = pickle.loads(pickle.dumps(s))
    np.testing.assert_allclose(again.quantiles(X), q)
    assert artifacts.load_shared("tiny", device, metric, artifacts_dir) is artifacts.load_shared(
        "tiny", device, metric, artifacts_dir)


def test_benchmark_pickles(artifacts_dir: Path, space: hwgpt.SearchSpace) -> None:
    bench = hwgpt.Benchmark("tiny", artifacts_dir=artifacts_dir)
    arch = space.sample(0)
    before = bench.query(arch)
    after = pickle.loads(pickle.dumps(bench)).query(arch)
    assert after == pytest.approx(before)
