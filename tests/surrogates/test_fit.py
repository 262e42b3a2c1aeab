"""fit_metric on synthetic observations: calibrated, monotone, validated, with clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hwgpt import SearchSpace
from hwgpt.surrogates import data
from hwgpt.surrogates.features import build_features
from hwgpt.surrogates.fit import fit_all, fit_metric
from hwgpt.surrogates.synthetic import synthetic_observations

REPORT_KEYS = {"n_archs_train", "n_archs_calibration", "n_archs_test", "coverage", "interval_width", "pinball",
               "kendall_tau", "r2", "ks", "model", "device", "created", "versions", "store_sha256", "settings"}

DEVICE = "synthetic-cpu"  # the device of the conftest frame


@pytest.fixture(scope="module")
def latency_fit(fast, frame: pd.DataFrame, space: SearchSpace):
    return fit_metric(frame, space, "latency", DEVICE, fast(), device_identity={"id": DEVICE, "cpu": "x"})


def test_report_shape_and_quality(latency_fit) -> None:
    rep = latency_fit.report
    assert REPORT_KEYS <= set(rep)
    assert rep["n_archs_train"] + rep["n_archs_calibration"] + rep["n_archs_test"] == 150
    assert rep["n_archs_test"] == 30 and rep["model"] == "xgboost-quantile"
    assert set(rep["coverage"]) >= {"0.5", "0.8", "0.9", "0.95"}
    for level, cov in rep["coverage"].items():  # 30 test archs x 6 observations
        assert abs(cov - float(level)) < 0.1, (level, cov)
    widths = [rep["interval_width"][k] for k in ("0.5", "0.8", "0.9", "0.95")]
    assert widths == sorted(widths)
    assert rep["kendall_tau"] > 0.85 and rep["r2"] > 0.9 and rep["ks"] < 0.15
    assert rep["device"] == {"id": DEVICE, "cpu": "x"}


def test_quantiles_never_cross_and_sampling_is_seeded(latency_fit, space: SearchSpace) -> None:
    s = latency_fit.surrogate
    X = build_features(space.sample_unique(500, seed=7), space, s.spec)
    q = s.quantiles(X)
    assert np.all(np.diff(q, axis=1) >= 0)
    lo, hi = s.interval(X, 0.9)
    med = s.median(X)
    assert np.all(lo <= med) and np.all(med <= hi)
    a, b = s.sample(X, np.random.default_rng(3)), s.sample(X, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="allowed"):
        s.interval(X, 0.85)


def test_splits_are_disjoint(latency_fit) -> None:
    sp = latency_fit.surrogate.meta["splits"]
    assert not (set(sp["train"]) & set(sp["calibration"])) and not (set(sp["test"]) & set(sp["train"]) | (
        set(sp["test"]) & set(sp["calibration"])))


def test_point_predictor_records_its_choice(fast, frame: pd.DataFrame, space: SearchSpace) -> None:
    res = fit_metric(frame, space, "perplexity", DEVICE, fast())
    meta = res.surrogate.meta
    assert meta["model"] in ("xgboost", "mlp") and meta["selection"]["chosen"] == meta["model"]
    assert set(meta["selection"]["kendall_tau"]) == {"xgboost", "mlp"} and "Kendall" in meta["selection"]["reason"]
    assert res.report["kendall_tau"] > 0.8 and res.report["ks"] is None
    X = build_features([space.sample(0)], space, res.surrogate.spec)
    rng = np.random.default_rng(0)
    assert res.surrogate.sample(X, rng)[0] == res.surrogate.median(X)[0]  # deterministic metric


def test_bad_input(fast, frame: pd.DataFrame, space: SearchSpace, tmp_path) -> None:
    with pytest.raises(ValueError, match="exact"):
        fit_metric(frame, space, "flops", DEVICE)
    with pytest.raises(ValueError, match="no 'latency' observations.*synthetic-cpu"):
        fit_metric(frame, space, "latency", "h100")
    few = synthetic_observations(space, n_archs=4, repeats=2, metrics=("latency",), device=DEVICE)
    with pytest.raises(ValueError, match="at least 5"):
        fit_metric(few, space, "latency", DEVICE, fast())
    with pytest.raises(ValueError, match="synthetic"):
        fit_all(few, space, DEVICE, fast(), into_package=True)  # never into the shipped package directory
    with pytest.raises(ValueError, match="profile.py"):
        fit_all(few, space, DEVICE, fast(), metrics=["energy"], out_dir=tmp_path)


def test_select_drops_flagged_rows_and_minor_settings(space: SearchSpace) -> None:
    df = synthetic_observations(space, n_archs=10, repeats=4, metrics=("latency",), device="d")
    other = df.iloc[:4].copy()
    other["batch"] = 8
    df.loc[df["repeat"] == 0, "flags"] = "contended"
    sel = data.select(pd.concat([df, other]), space, "d", "latency")
    assert len(sel.frame) == 30 and set(sel.frame["batch"]) == {1}
    assert sel.dropped == {"flagged contended": 10, "other settings": 4} and not sel.kept_flagged
    df["flags"] = "contended,estimate"  # everything flagged: kept, and said so
    sel = data.select(df, space, "d", "latency")
    assert len(sel.frame) == 40 and sel.kept_flagged == ["contended"]
    assert data.parse_flags('["a", "b"]') == {"a", "b"} and data.parse_flags(None) == set()


def test_split_is_stable_across_metrics() -> None:
    ids = [f"a{i}" for i in range(50)]
    s1 = data.split_archs(ids, {"train": 0.6, "calibration": 0.2, "test": 0.2}, seed=0)
    s2 = data.split_archs(ids[::-1], {"train": 0.6, "calibration": 0.2, "test": 0.2}, seed=0)
    assert s1 == s2 and [len(s1[k]) for k in ("train", "calibration", "test")] == [30, 10, 10]
