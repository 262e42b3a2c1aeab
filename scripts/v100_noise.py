"""What limits the V100 latency series, and the shared per-arch state of their noise.

    python scripts/v100_noise.py [--import-dir outputs/import/hwgptbench] [--series m/v100/latency l/v100/latency]
        [--no-save] [--out docs/results/published]

Per series, from the imported data (file order = measurement order):
* residual scale of the cross-fitted per-series model (:func:`hwgpt.importers.drift.series_residuals`) on
  v100 and on the other GPUs of the scale, and Spearman correlation of v100's residuals with theirs;
* dependence on the previous arch: lag-1 Spearman of the residuals, and of the residual with the previous
  arch's predicted log latency;
* discrete levels: modes of the residual density (KDE) and their spacing;
* within- vs between-arch variance (log space) and the ICC of the normal scores of the observations under
  the shipped surrogate (calibration archs) — the shared per-arch state;
* coverage on the surrogate's held-out test archs: 90% intervals of single observations, and of the median of
  10 repeats (one measurement) with independent repeats (what the simulator assumed) vs the shared-state model.
The ICC is recorded in the shipped artifact's metadata (``meta["noise"]["shared_state"]``) unless --no-save.
Results: ``<out>/v100_noise.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import find_peaks
from scipy.stats import gaussian_kde, norm, spearmanr

from hwgpt.importers.drift import series_residuals
from hwgpt.importers.hwgptbench import observations
from hwgpt.search_space import SearchSpace
from hwgpt.surrogates import artifacts, data
from hwgpt.surrogates.features import arch_arrays, features
from hwgpt.surrogates.shared_state import estimate_icc, median_of_repeats_levels, pit

log = logging.getLogger("v100_noise")
OTHERS = ("a100", "a40", "a6000", "h100", "p100", "rtx2080", "rtx3080")


def _splits(frame: pd.DataFrame, space: SearchSpace, meta: dict[str, Any]) -> dict[str, set[str]]:
    fs = meta["report"]["settings"]["fit"]
    sel = data.select(frame, space, meta["device"], meta["metric"], fs["exclude_flags"])
    sub = data.subsample(sel.frame, fs["max_archs"], fs["max_obs_per_arch"], fs["seed"])
    return data.split_archs(sorted(set(sub["arch_id"])), fs["split"], fs["seed"])


def _rows(s: Any, frame: pd.DataFrame, space: SearchSpace, archs: set[str]) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
    f = frame[frame["arch_id"].isin(archs)]
    a = data.archs_of(f, space)
    ids = list(a)
    Xa = features(arch_arrays([a[i] for i in ids], space), space, s.spec)
    row = {g: i for i, g in enumerate(ids)}
    groups = f["arch_id"].to_numpy()
    q = s.quantiles(Xa)[[row[g] for g in groups]]
    return q, s.to_fit_space(f["value"].to_numpy(dtype=np.float64)), groups


def analyse(key: str, imp: Path, save: bool) -> dict[str, Any]:
    scale, device, metric = key.split("/")
    space = SearchSpace.from_name(scale)
    frame = observations(imp, scale, device, metric)
    res = series_residuals(frame, space)
    r = res["residual"].to_numpy()
    out: dict[str, Any] = {"series": key, "archs": len(res)}
    sd = {device: float(np.std(r))}
    corr = {}
    vr = res.set_index("arch_id")["residual"]
    for other in OTHERS:
        try:
            o = series_residuals(observations(imp, scale, other, metric), space).set_index("arch_id")["residual"]
        except ValueError:
            continue
        sd[other] = float(o.std())
        corr[other] = float(spearmanr(vr, o.reindex(vr.index), nan_policy="omit").statistic)
    out["residual_sd"] = {k: round(v, 4) for k, v in sd.items()}
    others = [v for k, v in sd.items() if k != device]
    out["residual_sd_ratio_to_others"] = [round(sd[device] / max(others), 1), round(sd[device] / min(others), 1)]
    out["spearman_residual_with_other_gpus"] = {k: round(v, 3) for k, v in corr.items()}
    lag, prev = [], []
    for _, g in res.groupby("run_id", sort=False):
        rr, pp = g["residual"].to_numpy(), g["predicted"].to_numpy()
        lag.append(round(float(spearmanr(rr[1:], rr[:-1]).statistic), 3))
        prev.append(round(float(spearmanr(rr[1:], pp[:-1]).statistic), 3))
    out["lag1_spearman_residual_per_file"] = lag
    out["spearman_residual_vs_previous_arch_predicted_per_file"] = prev
    kde = gaussian_kde(r, bw_method=0.05)
    grid = np.linspace(np.quantile(r, 0.002), np.quantile(r, 0.998), 600)
    dens = kde(grid)
    peaks, _ = find_peaks(dens, prominence=0.05 * dens.max())
    modes = grid[peaks]
    out["residual_modes_log"] = [round(float(m), 4) for m in modes]
    out["residual_mode_spacing_pct"] = [round(100 * float(np.expm1(b - a)), 1) for a, b in zip(modes[:-1], modes[1:],
                                                                                                 strict=True)]
    out["residual_quantiles_log"] = {str(p): round(float(np.quantile(r, p)), 4) for p in (0.05, 0.25, 0.5, 0.75,
                                                                                         0.95)}
    lv = np.log(frame["value"].to_numpy(dtype=np.float64))
    within = float(np.var(lv - frame.assign(lv=lv).groupby("arch_id")["lv"].transform("mean").to_numpy()))
    out["variance_log"] = {"within_arch": round(within, 6), "between_arch_residual": round(float(np.var(r)), 6),
                           "share_between": round(float(np.var(r)) / (float(np.var(r)) + within), 3)}
    # shared per-arch state under the shipped surrogate
    s = artifacts.load(scale, device, metric)
    split = _splits(frame, space, s.meta)
    q, y, g = _rows(s, frame, space, split["calibration"])
    icc = estimate_icc(norm.ppf(pit(s.levels, q, y)), g)
    q, y, g = _rows(s, frame, space, split["test"])
    pairs = {0.9: (int(np.flatnonzero(np.isclose(s.levels, 0.05))[0]), int(np.flatnonzero(np.isclose(s.levels,
                                                                                                    0.95))[0]))}
    i, j = pairs[0.9]
    inside = (y >= q[:, i]) & (y <= q[:, j])
    first = pd.Series(np.arange(len(g))).groupby(g).first().to_numpy()
    u_first = pit(s.levels, q[first], y[first])
    cov = {"single_observation_all": round(float(inside.mean()), 4),
           "single_observation_first_per_arch": round(float(inside[first].mean()), 4)}
    med = pd.Series(y).groupby(g).median()
    qa = pd.DataFrame(q).groupby(g).first().loc[med.index].to_numpy()
    u_med = pit(s.levels, qa, med.to_numpy())
    for name, rho in (("independent_repeats", 0.0), ("shared_state", icc)):
        lo, hi = median_of_repeats_levels(rho, 10, 0.9)
        cov[f"median_of_10_{name}"] = round(float(np.mean((u_med >= lo) & (u_med <= hi))), 4)
        cov[f"median_of_10_{name}_levels"] = [round(lo, 4), round(hi, 4)]
    ft = frame[frame["arch_id"].isin(split["test"])]
    cov["single_observation_by_repeat"] = {int(k): round(float(v), 3) for k, v in
                                           pd.Series(inside).groupby(ft["repeat"].to_numpy()).mean().items()}
    lvt = np.log(ft["value"].to_numpy(dtype=np.float64))
    dev = np.abs(lvt - np.log(ft.groupby("arch_id")["value"].transform("median").to_numpy(dtype=np.float64)))
    out["share_off_arch_median_gt_5pct_by_repeat"] = {
        int(k): round(float(v), 3) for k, v in pd.Series(dev > 0.05).groupby(ft["repeat"].to_numpy()).mean().items()}
    out["icc_normal_scores_calibration_archs"] = round(icc, 4)
    out["coverage_0.9_test_archs"] = cov
    out["n_test_archs"] = len(med)
    out["pit_first_observation_ks_uniform"] = round(float(np.max(np.abs(np.sort(u_first) - (np.arange(len(u_first))
                                                                                            + 0.5) / len(u_first)))), 4)
    if save:
        s.meta.setdefault("noise", {})["shared_state"] = {
            "icc": round(icc, 4), "model": "Gaussian copula on the PIT scale (hwgpt.surrogates.shared_state): "
            "repeats of one arch share a state; single observations keep the calibrated marginal",
            "estimated_on": f"{len(split['calibration'])} calibration archs",
            "coverage_0.9_test": cov}
        artifacts.save(s, Path(str(artifacts.package_root())))
    log.info("%s: %s", key, json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--import-dir", default="outputs/import/hwgptbench")
    ap.add_argument("--series", nargs="*", default=["m/v100/latency", "l/v100/latency"])
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--out", default="docs/results/published")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "v100_noise.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for key in a.series:
        results[key] = analyse(key, Path(a.import_dir), save=not a.no_save)
        path.write_text(json.dumps(results, indent=1))
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
