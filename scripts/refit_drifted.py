"""Refit the published surrogates whose series hold measurement-session regimes, on the kept regime.

    python -m hwgpt.importers.hwgptbench source=<upstream git dir>        # import + drift scan (flags `drift`)
    python scripts/refit_drifted.py [--import-dir outputs/import/hwgptbench] [--series s/rtx2080/latency ...]
        [--max-archs 4000|all] [--no-save] [--tradeoff s/rtx2080/latency] [--out docs/results/published]

For each series: the shipped surrogate ("before") is evaluated on its own held-out test archs (reproduced from
the data and seed), split into the kept and the excluded regime; then a surrogate is fitted with the release
settings (scripts/release_published.sh) on the kept regime only ("after", saved into the package unless
--no-save) and evaluated on its held-out kept archs and on every excluded arch (none of which it saw).
``--tradeoff`` fits one series with 4,000 archs and with all kept archs into a temporary directory and
reports held-out tau, coverage, fit time and artifact size of both. Results: ``<out>/drift_refit.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwgpt.importers.drift import DRIFT_FLAG
from hwgpt.importers.hwgptbench import observations
from hwgpt.search_space import SearchSpace
from hwgpt.surrogates import artifacts, data, validation
from hwgpt.surrogates.boosting import BoostSettings
from hwgpt.surrogates.features import arch_arrays, features
from hwgpt.surrogates.fit import FitSettings, fit_metric
from hwgpt.surrogates.quantile import QuantileSettings
from hwgpt.surrogates.surrogate import Surrogate

log = logging.getLogger("refit_drifted")
SERIES = ("s/rtx2080/latency", "s/rtx3080/latency", "s/a6000/latency")
BASE_FLAGS = ["contended", "warmup"]


def release_settings(max_archs: int | None, drift: bool = True) -> FitSettings:
    """The settings of scripts/release_published.sh (hardware metrics)."""
    boost = BoostSettings(max_depth=[3], learning_rate=0.25, max_rounds=80, early_stopping_rounds=15)
    q = QuantileSettings(levels=[0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975], boost=boost, folds=3)
    return FitSettings(exclude_flags=BASE_FLAGS + ([DRIFT_FLAG] if drift else []), quantile=q,
                       max_archs=max_archs, max_obs_per_arch=10)


def evaluate(s: Surrogate, frame: pd.DataFrame, space: SearchSpace, archs: set[str], seed: int = 0) -> dict[str, Any]:
    """Tau, coverage (all observations, and one observation per arch) of ``s`` on the archs ``archs``."""
    f = frame[frame["arch_id"].isin(archs)]
    if f.empty:
        return {"n_archs": 0}
    f = data.subsample(f, None, 10, seed)
    a = data.archs_of(f, space)
    ids = list(a)
    X_arch = features(arch_arrays([a[i] for i in ids], space), space, s.spec)
    row = {g: i for i, g in enumerate(ids)}
    groups = f["arch_id"].to_numpy()
    X = X_arch[[row[g] for g in groups]]
    y = f["value"].to_numpy(dtype=np.float64)
    rep = validation.validate(s, X, y, groups, seed).report
    one = f.groupby("arch_id").head(1).index  # a single observation per arch (the first kept)
    lo, hi = s.interval(X[f.index.get_indexer(one)], 0.9)
    y1 = f.loc[one, "value"].to_numpy()
    return {"n_archs": len(ids), "n_observations": len(y), "kendall_tau": round(rep["kendall_tau"], 4),
            "coverage": {k: round(v, 4) for k, v in rep["coverage"].items()},
            "coverage_0.9_single_observation": round(float(np.mean((y1 >= lo) & (y1 <= hi))), 4),
            "r2": round(rep["r2"], 5)}


def old_test_archs(frame: pd.DataFrame, space: SearchSpace, meta: dict[str, Any]) -> set[str]:
    """The test archs of the shipped surrogate, reproduced from its recorded settings (no drift exclusion)."""
    fs = meta["report"]["settings"]["fit"]
    sel = data.select(frame, space, meta["device"], meta["metric"], fs["exclude_flags"])
    sub = data.subsample(sel.frame, fs["max_archs"], fs["max_obs_per_arch"], fs["seed"])
    split = data.split_archs(sorted(set(sub["arch_id"])), fs["split"], fs["seed"])
    want = meta.get("splits", {}).get("test", {})
    if isinstance(want, dict) and "sha256" in want:
        got = hashlib.sha256(",".join(sorted(split["test"])).encode()).hexdigest()
        if got != want["sha256"]:
            log.warning("%s: reproduced test split differs from the recorded one (data changed?)", meta["device"])
    return split["test"]


def size_of(root: Path, scale: str, device: str, metric: str) -> int:
    return sum(p.stat().st_size for p in (root / scale / device).glob(f"{metric}.*"))


def shared_state(s: Surrogate, frame: pd.DataFrame, space: SearchSpace, archs: set[str]) -> float:
    """ICC of the normal scores of the observations of ``archs`` (hwgpt.surrogates.shared_state)."""
    from scipy.stats import norm

    from hwgpt.surrogates.shared_state import estimate_icc, pit

    f = data.subsample(frame[frame["arch_id"].isin(archs)], None, 10, 0)
    a = data.archs_of(f, space)
    ids = list(a)
    row = {g: i for i, g in enumerate(ids)}
    q = s.quantiles(features(arch_arrays([a[i] for i in ids], space), space, s.spec))
    g = f["arch_id"].to_numpy()
    return estimate_icc(norm.ppf(pit(s.levels, q[[row[x] for x in g]], s.to_fit_space(f["value"].to_numpy()))), g)


def refit(key: str, imp: Path, max_archs: int | None, save: bool, before_dir: Path | None = None) -> dict[str, Any]:
    scale, device, metric = key.split("/")
    space = SearchSpace.from_name(scale)
    frame = observations(imp, scale, device, metric)
    excluded = set(frame.loc[frame["flags"].map(data.parse_flags).map(lambda f: DRIFT_FLAG in f), "arch_id"])
    kept = set(frame["arch_id"]) - excluded
    out: dict[str, Any] = {"series": key, "archs": len(kept) + len(excluded), "kept": len(kept),
                           "excluded": len(excluded)}
    try:
        old = artifacts.load(scale, device, metric, before_dir)
        test_old = old_test_archs(frame, space, old.meta)
        out["before"] = {"settings": {k: old.meta["report"]["settings"]["fit"][k] for k in ("max_archs",
                                                                                           "exclude_flags")},
                         "test_all": evaluate(old, frame, space, test_old),
                         "test_kept": evaluate(old, frame, space, test_old & kept),
                         "test_excluded": evaluate(old, frame, space, test_old & excluded),
                         "bytes": size_of(Path(str(before_dir or artifacts.package_root())), scale, device,
                                          metric)}
    except Exception as e:  # noqa: BLE001 - a missing or unreadable shipped artifact only loses the "before"
        log.warning("%s: no shipped surrogate to compare (%s)", key, e)
    t0 = time.perf_counter()
    identity = json.loads(frame["device_identity"].iloc[0])
    res = fit_metric(frame, space, metric, device, release_settings(max_archs), identity, data.frame_sha256(frame))
    secs = time.perf_counter() - t0
    s = res.surrogate
    sel = data.select(frame, space, device, metric, BASE_FLAGS + [DRIFT_FLAG])
    sub = data.subsample(sel.frame, max_archs, 10, 0)
    split_new = data.split_archs(sorted(set(sub["arch_id"])), FitSettings().split, 0)
    test_new = split_new["test"]
    icc = shared_state(s, frame, space, split_new["calibration"])
    s.meta.setdefault("noise", {})["shared_state"] = {
        "icc": round(icc, 4), "model": "Gaussian copula on the PIT scale (hwgpt.surrogates.shared_state)",
        "estimated_on": f"{len(split_new['calibration'])} calibration archs"}
    s.meta["report"]["drift"] = {"excluded_archs": len(excluded), "kept_archs": len(kept),
                                 "flag": DRIFT_FLAG, "eval_excluded": None}
    after = {"fit_report_tau": res.report["kendall_tau"], "fit_report_coverage": res.report["coverage"],
             "test_kept": evaluate(s, frame, space, test_new),
             "excluded_all": evaluate(s, frame, space, excluded), "fit_seconds": round(secs, 1),
             "max_archs": max_archs, "n_archs_fit": len(set(sub["arch_id"])), "icc": round(icc, 4)}
    s.meta["report"]["drift"]["eval_excluded"] = after["excluded_all"]
    with tempfile.TemporaryDirectory() as tmp:
        artifacts.save(s, Path(tmp))
        after["bytes"] = size_of(Path(tmp), scale, device, metric)
    if save:
        artifacts.save(s, Path(str(artifacts.package_root())))
    out["after"] = after
    log.info("%s: %s", key, json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--import-dir", default="outputs/import/hwgptbench")
    ap.add_argument("--series", nargs="*", default=list(SERIES))
    ap.add_argument("--max-archs", default="4000", help="an integer, or 'all'")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--tradeoff", default=None, help="a series to fit with 4,000 and with all archs (not saved)")
    ap.add_argument("--out", default="docs/results/published")
    ap.add_argument("--before-dir", default=None, help="artifact root of the surrogates to compare against "
                    "(default: the package's), e.g. an export of the previous release")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    imp, out = Path(a.import_dir), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "drift_refit.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    max_archs = None if a.max_archs == "all" else int(a.max_archs)
    if a.tradeoff:
        rows = {}
        for m in (4000, None):
            r = refit(a.tradeoff, imp, m, save=False)
            rows["all" if m is None else str(m)] = r["after"]
        results.setdefault("tradeoff", {})[a.tradeoff] = rows
    else:
        for key in a.series:
            results.setdefault("refit", {})[key] = refit(key, imp, max_archs, not a.no_save,
                                                         Path(a.before_dir) if a.before_dir else None)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    shutil.move(tmp, path)
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
