"""Drift (measurement-session regime) detection of the import: synthetic series only, never upstream's data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from upstream_helpers import arch_dict, latency_record

from hwgpt.errors import InvalidInput
from hwgpt.importers import hwgptbench
from hwgpt.importers.drift import DRIFT_FLAG, DriftSettings, add_flag, detect, scan_series
from hwgpt.search_space import SearchSpace


def _ar1(n: int, rho: float, sd: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(0, sd, n)
    out = np.empty(n)
    out[0] = e[0] / np.sqrt(1 - rho ** 2)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + e[i]
    return out


@pytest.mark.parametrize("seed", range(8))
def test_clean_series_excludes_nothing(seed):
    rng = np.random.default_rng(seed)
    for r in (rng.normal(0, 0.02, 2500), rng.standard_t(3, 2500) * 0.01, _ar1(2500, 0.5, 0.01, seed)):
        scan = detect(r)
        assert scan.change_points == [] and scan.kept.all(), scan.to_dict()
        assert scan.to_dict()["n_excluded"] == 0


def test_false_positive_rate_over_many_clean_series():
    hits = sum(len(detect(np.random.default_rng(100 + s).normal(0, 0.03, 2500)).regimes) > 1 for s in range(60))
    assert hits == 0


@pytest.mark.parametrize(("cut", "shift", "sd"), [(356, -0.17, 0.01), (310, -0.036, 0.005), (600, 0.05, 0.02)])
def test_planted_leading_regime_is_found_and_excluded(cut, shift, sd):
    r = np.random.default_rng(cut).normal(0, sd, 2500)
    r[:cut] += shift
    scan = detect(r)
    assert len(scan.change_points) == 1 and abs(scan.change_points[0] - cut) <= 3
    first, rest = scan.regimes
    assert not first.kept and rest.kept and first.shift == pytest.approx(shift, abs=3 * sd)
    assert abs(int((~scan.kept).sum()) - cut) <= 3


def test_middle_regime_excluded_and_the_two_sides_both_kept():
    r = np.random.default_rng(7).normal(0, 0.01, 2000)
    r[900:1200] += 0.08
    scan = detect(r)
    assert [abs(c - t) <= 3 for c, t in zip(scan.change_points, (900, 1200), strict=True)] == [True, True]
    assert [g.kept for g in scan.regimes] == [True, False, True]
    assert int((~scan.kept).sum()) == pytest.approx(300, abs=6)


def test_shift_below_the_floor_or_too_short_is_not_a_regime():
    r = np.random.default_rng(3).normal(0, 0.002, 2500)
    r[:500] -= 0.01                                          # detectable, but under min_shift (2%)
    assert detect(r).kept.all()
    r = np.random.default_rng(4).normal(0, 0.01, 2500)
    r[1000:1020] += 0.5                                      # 20 outliers < min_segment
    assert detect(r).kept.all()


def test_no_majority_regime_records_regimes_and_excludes_nothing():
    r = np.random.default_rng(11).normal(0, 0.01, 3000)
    r[1000:2000] += 0.1
    r[2000:] -= 0.1                                          # three regimes of 1,000: none holds > 50%
    scan = detect(r)
    assert len(scan.regimes) == 3 and scan.kept.all() and "none a majority" in scan.note
    assert detect(r, DriftSettings(majority=0.3)).to_dict()["n_excluded"] == 2000


@pytest.mark.parametrize("n", [0, 1, 2, 50, 99])
def test_short_series_are_kept_whole(n):
    r = np.random.default_rng(n).normal(0, 0.01, n)
    r[: n // 2] -= 0.3
    scan = detect(r)
    assert scan.kept.all() and scan.n == n
    if n:
        assert "too short" in scan.note and len(scan.regimes) == 1


def test_shortest_scannable_series_splits_at_min_segment():
    r = np.random.default_rng(0).normal(0, 0.01, 100)
    r[:50] -= 0.3
    scan = detect(r)                                         # 50 / 50: found, but no majority to keep
    assert scan.change_points == [50] and scan.kept.all()
    scan = detect(r, DriftSettings(majority=0.49))
    assert int((~scan.kept).sum()) == 50


def test_bad_input_is_named():
    with pytest.raises(InvalidInput, match="non-finite"):
        detect([0.0, float("nan"), 1.0])
    with pytest.raises(InvalidInput, match="1-D"):
        detect(np.zeros((3, 3)))
    with pytest.raises(InvalidInput, match="min_segment"):
        DriftSettings(min_segment=1)
    with pytest.raises(InvalidInput, match="penalty"):
        DriftSettings(penalty=0)


def test_add_flag_is_idempotent_and_keeps_other_flags():
    f = pd.Series(["", "warmup", None, DRIFT_FLAG])
    out = add_flag(f, np.array([True, True, False, True]))
    assert out.tolist() == [DRIFT_FLAG, f"warmup,{DRIFT_FLAG}", "", DRIFT_FLAG]
    assert add_flag(out, np.ones(4, bool)).tolist() == [DRIFT_FLAG, f"warmup,{DRIFT_FLAG}", DRIFT_FLAG, DRIFT_FLAG]


def _latency_ms(arch) -> float:
    """A smooth cost-like latency (ms) of an S arch, as a GPU would show it."""
    return 0.02 * arch.n_layer * arch.embed_dim * (1 + 0.3 * np.mean(arch.mlp_ratio)) / 100


def _series(space: SearchSpace, n_files: int, n: int, planted: dict[int, tuple[int, float]], seed: int):
    archs = space.sample_unique(n_files * n, seed=seed)
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_files):
        cut, shift = planted.get(f, (0, 0.0))
        for i, a in enumerate(archs[f * n:(f + 1) * n]):
            level = np.log(_latency_ms(a)) + (shift if i < cut else 0.0) + rng.normal(0, 0.005)
            for rep in range(3):
                rows.append({"run_id": f"file{f}", "arch_id": a.id, "arch": a.to_json(), "value":
                             float(np.exp(level + rng.normal(0, 0.003))), "flags": "", "batch": 8,
                             "seq_len": 1024, "dtype": "bfloat16", "repeat": rep})
    return pd.DataFrame(rows)


def test_scan_series_flags_only_the_planted_regime_of_its_file():
    space = SearchSpace.from_name("s")
    frame = _series(space, 3, 400, {1: (120, -0.15)}, seed=1)
    out, rep = scan_series(frame, space, DriftSettings(), {"file1": "raw/f1.pkl"})
    files = {f["run_id"]: f for f in rep["files"]}
    assert files["file0"]["n_excluded"] == 0 and files["file2"]["n_excluded"] == 0
    assert files["file1"]["path"] == "raw/f1.pkl" and abs(files["file1"]["change_points"][0] - 120) <= 3
    assert files["file1"]["regimes"][0]["mean_log_shift"] == pytest.approx(-0.15, abs=0.02)
    flagged = out[out["flags"].str.contains(DRIFT_FLAG)]
    assert set(flagged["run_id"]) == {"file1"} and abs(flagged["arch_id"].nunique() - 120) <= 3
    assert len(flagged) == 3 * flagged["arch_id"].nunique() == rep["observations_excluded"]
    stale = _series(space, 2, 300, {}, seed=2)
    stale["flags"] = np.where(np.arange(len(stale)) < 30, f"warmup,{DRIFT_FLAG}", "")  # an earlier scan's flags
    clean, rep0 = scan_series(stale, space)
    assert rep0["archs_excluded"] == 0 and not clean["flags"].str.contains(DRIFT_FLAG).any()
    assert (clean["flags"][:30] == "warmup").all()


def test_import_records_regimes_per_file_and_fits_skip_them(upstream, tmp_path):
    space = SearchSpace.from_name("s")
    dicts = {}
    for a in space.sample_unique(2000, seed=5):  # upstream-format dicts of distinct uniform archs
        dicts.setdefault((a.embed_dim, a.n_layer, a.n_head[0], a.mlp_ratio[0], a.bias),
                         arch_dict(a.embed_dim, a.n_layer, a.n_head[0], a.mlp_ratio[0], a.bias))
    assert len(dicts) >= 150
    rng = np.random.default_rng(5)
    recs = []
    for i, d in enumerate(list(dicts.values())[:150]):
        b = space.validate(hwgptbench.to_arch(d))
        ms = _latency_ms(b) * (0.85 if i < 50 else 1.0) * np.exp(rng.normal(0, 0.004, 3))
        recs.append(latency_record(d, ms.tolist()))
    upstream.write("raw_results_hw/latency_rtx2080/efficiency_observations_0_2500.pkl", recs)
    upstream.write("raw_results_hw/latency_a100/efficiency_observations_0_2500.pkl", recs[:10])
    upstream.write("arch_ppl_bench_s/ppl_observations_tracker_0_1000.pkl", [])
    sha = upstream.commit()
    out = tmp_path / "out"
    rep = hwgptbench.import_all(upstream.root, out, commit=sha, progress=False,
                                include=["raw_results_hw/latency_rtx2080/*"])
    assert [f["path"] for f in rep["files"]] == ["raw_results_hw/latency_rtx2080/efficiency_observations_0_2500.pkl"]
    n_archs = rep["series"]["s/rtx2080/latency"]["archs"]
    d = rep["files"][0]["drift"]
    assert d["n"] == n_archs and d["n_excluded"] > 0 and abs(d["change_points"][0] - 50) <= 3
    saved = json.loads((out / "drift.json").read_text())
    assert saved["series"]["s/rtx2080/latency"]["archs_excluded"] == d["n_excluded"]
    obs = hwgptbench.observations(out, "s", "rtx2080", "latency")
    assert obs["flags"].str.contains(DRIFT_FLAG).sum() == 3 * d["n_excluded"]
    # idempotent: a rerun rebuilds the series from the parts and flags the same rows once
    hwgptbench.import_all(upstream.root, out, commit=sha, progress=False, include=["raw_results_hw/latency_rtx2080/*"])
    again = hwgptbench.observations(out, "s", "rtx2080", "latency")
    assert (again["flags"] == obs["flags"]).all()
    # the fits' selection leaves the drift regime out
    from hwgpt.surrogates import data
    sel = data.select(obs, space, "rtx2080", "latency", ["contended", "warmup", DRIFT_FLAG])
    assert sel.frame["arch_id"].nunique() == n_archs - d["n_excluded"]
    # disabled: nothing flagged
    off = hwgptbench.import_all(upstream.root, tmp_path / "off", commit=sha, progress=False,
                                include=["raw_results_hw/latency_rtx2080/*"], drift=DriftSettings(enabled=False))
    assert off["drift"]["series"] == {}
    assert not hwgptbench.observations(tmp_path / "off", "s", "rtx2080", "latency")["flags"].str.contains(
        DRIFT_FLAG).any()


# ------------------------------------------------ shared per-arch state (hwgpt.surrogates.shared_state)
def test_pit_inverts_the_sampling_quantile_function_tails_included():
    from hwgpt.surrogates.distribution import inverse_cdf
    from hwgpt.surrogates.shared_state import pit

    levels = np.array([0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975])
    rng = np.random.default_rng(0)
    q = np.sort(rng.normal(0, 1, (500, len(levels))), axis=1) + np.arange(500)[:, None]
    u = rng.uniform(0.001, 0.999, 500)
    assert pit(levels, q, inverse_cdf(levels, q, u)) == pytest.approx(u, abs=1e-9)
    with pytest.raises(InvalidInput, match="do not match"):
        pit(levels, q[:, :3], u)


@pytest.mark.parametrize("icc", [0.0, 0.5, 0.9])
def test_icc_is_recovered_and_sets_the_spread_of_a_repeat_median(icc):
    from hwgpt.surrogates.shared_state import estimate_icc, median_of_repeats_levels

    rng = np.random.default_rng(1)
    z0 = rng.standard_normal((3000, 1))
    z = np.sqrt(icc) * z0 + np.sqrt(1 - icc) * rng.standard_normal((3000, 10))
    groups = np.repeat(np.arange(3000), 10)
    assert estimate_icc(z.ravel(), groups) == pytest.approx(icc, abs=0.03)
    lo, hi = median_of_repeats_levels(icc, 10, 0.9)
    from scipy.stats import norm
    u_med = norm.cdf(np.median(z, axis=1))
    assert np.mean((u_med >= lo) & (u_med <= hi)) == pytest.approx(0.9, abs=0.02)  # calibrated under the model
    lo0, hi0 = median_of_repeats_levels(0.0, 10, 0.9)                              # independent repeats
    if icc >= 0.5:
        assert np.mean((u_med >= lo0) & (u_med <= hi0)) < 0.8                      # ... would under-cover
    assert median_of_repeats_levels(1.0, 10, 0.9) == pytest.approx((0.05, 0.95), abs=0.005)
    assert median_of_repeats_levels(0.0, 1, 0.9) == pytest.approx((0.05, 0.95), abs=0.005)


def test_icc_bad_input():
    from hwgpt.surrogates.shared_state import estimate_icc, median_of_repeats_levels

    with pytest.raises(InvalidInput, match="repeats"):
        estimate_icc(np.zeros(3), np.arange(3))
    with pytest.raises(InvalidInput, match="icc"):
        median_of_repeats_levels(1.5, 10, 0.9)
