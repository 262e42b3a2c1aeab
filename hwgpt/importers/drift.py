"""Measurement-session drift in the published series: detect regimes per file, keep the majority one.

Upstream profiled each (scale, device) in a few files of 2,500 archs, each one job that measured its archs
one after another. Some jobs changed state part-way (e.g. the first ~356 archs of every s/rtx2080 latency
file ran ~16% faster than the rest). Such a session effect is not a property of the architectures: a
surrogate fitted across it learns noise that a user of that GPU never sees, and ranks worse.

**Per-series model.** For one (scale, device, metric), the log of each arch's median observation is
regressed on the cost features the surrogates use (:mod:`hwgpt.surrogates.features`) by a small
gradient-boosted median regression, *cross-fitted* (each arch predicted by a model that never saw it, folds
interleaved along the file order so no regime is held out whole). The residual ``r_i`` is then what the
arch features do not explain; a session effect shows as a shift of its mean over a contiguous range of
the file.

**Change points.** Binary segmentation of ``r`` (in file order) under a Gaussian mean-shift cost: the best
split of a segment maximises ``n1 n2 / n (mean1 - mean2)^2``; it is accepted when that gain exceeds a
BIC-type penalty ``penalty * sigma_lr^2 * log(n)``, both parts hold at least ``min_segment`` archs and
their means differ by at least ``min_shift`` (log units). Why this and not PELT or a permutation CUSUM:
the files hold 0-2 regimes, which binary segmentation finds exactly as well as PELT does at O(n log n)
with no tuning of a pruning rule; the penalty is stated in the data's own noise units; and a permutation
threshold would assume exchangeable residuals, which these are not (a v100 arch's state depends on the
arch before it). Instead the noise scale is a *long-run* variance: a robust (MAD) marginal scale of the
residuals around a running median, inflated by ``(1 + rho) / (1 - rho)`` with the lag-1 dependence
``rho`` estimated from the robust scale of first differences, so serially dependent but stationary
residuals do not fake regimes. The ``min_shift`` floor (default 2%) makes "regime" mean a shift that
matters to a surrogate, not merely a detectable one. A clean series excludes nothing (tested over seeds).

**Regimes and exclusion.** Adjacent segments whose means differ by less than ``min_shift`` are merged.
The largest regime is the majority; every regime within ``min_shift`` of it is kept, the others are
excluded: their rows get the flag ``drift`` (the fits' ``settings.exclude_flags`` leave them out) and the
import report lists, per file, the regimes (index ranges in the file's imported record order), their mean
log-shift against the kept level, and the counts excluded.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwgpt.errors import InvalidInput

log = logging.getLogger(__name__)

DRIFT_FLAG = "drift"
_MAD = 1.4826


@dataclass
class DriftSettings:
    """How the import scans its series for measurement-session regimes.

    Attributes:
        enabled: Run the scan after consolidation.
        metrics: Metrics whose series are scanned (perplexity/accuracy are one value per arch, not sessions).
        penalty: Multiplier of ``sigma_lr^2 * log(n)`` a split's gain must exceed (BIC-type; 2 is
            conservative: no split in 200 clean synthetic series of 2,500).
        min_segment: Fewest archs of a regime (shorter runs cannot be told from noise or a few outliers).
        min_shift: Smallest mean log-shift between regimes that counts (0.02 = 2%).
        max_changes: At most this many change points per file.
        majority: Exclude only when the kept regime(s) hold more than this share of the file's archs; a file
            with no majority regime (e.g. a shared CPU node whose load wandered all along) keeps everything
            and only records its regimes.
        exclude: Flag the rows of non-majority regimes ``drift`` (False: record the regimes only).
        folds: Folds of the cross-fitted per-series model.
        seed: Seed of the per-series model.
    """

    enabled: bool = True
    metrics: list[str] = field(default_factory=lambda: ["latency"])
    penalty: float = 2.0
    min_segment: int = 50
    min_shift: float = 0.02
    max_changes: int = 4
    majority: float = 0.5
    exclude: bool = True
    folds: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.penalty > 0 and math.isfinite(self.penalty)):
            raise InvalidInput(f"drift.penalty={self.penalty!r}: must be a positive number")
        if int(self.min_segment) < 2:
            raise InvalidInput(f"drift.min_segment={self.min_segment!r}: must be an integer >= 2")
        if not (self.min_shift >= 0 and math.isfinite(self.min_shift)):
            raise InvalidInput(f"drift.min_shift={self.min_shift!r}: must be >= 0")
        if int(self.max_changes) < 0:
            raise InvalidInput(f"drift.max_changes={self.max_changes!r}: must be >= 0")
        if not 0 <= self.majority < 1:
            raise InvalidInput(f"drift.majority={self.majority!r}: must be in [0, 1)")
        if int(self.folds) < 2:
            raise InvalidInput(f"drift.folds={self.folds!r}: must be >= 2")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Regime:
    """A contiguous range ``[start, stop)`` of a file's records with one mean residual."""

    start: int
    stop: int
    mean: float
    shift: float = 0.0
    kept: bool = True

    @property
    def n(self) -> int:
        return self.stop - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "stop": self.stop, "n": self.n, "mean_residual": round(self.mean, 5),
                "mean_log_shift": round(self.shift, 5), "ratio": round(math.exp(self.shift), 4), "kept": self.kept}


@dataclass
class Scan:
    """Result of :func:`detect` on one residual sequence."""

    n: int
    regimes: list[Regime]
    sigma: float
    sigma_lr: float
    rho: float
    threshold: float
    note: str = ""

    @property
    def kept(self) -> np.ndarray:
        """Boolean mask over the sequence: True where the regime is kept."""
        out = np.ones(self.n, dtype=bool)
        for r in self.regimes:
            if not r.kept:
                out[r.start:r.stop] = False
        return out

    @property
    def change_points(self) -> list[int]:
        return [r.start for r in self.regimes[1:]]

    def to_dict(self) -> dict[str, Any]:
        kept = self.kept
        return {"n": self.n, "change_points": self.change_points, "regimes": [r.to_dict() for r in self.regimes],
                "n_kept": int(kept.sum()), "n_excluded": int((~kept).sum()), "sigma": round(self.sigma, 5),
                "sigma_long_run": round(self.sigma_lr, 5), "rho": round(self.rho, 4),
                "threshold": round(self.threshold, 6), "note": self.note}


def _mad(x: np.ndarray) -> float:
    return float(_MAD * np.median(np.abs(x - np.median(x)))) if len(x) else 0.0


def noise_scale(r: np.ndarray, window: int) -> tuple[float, float, float]:
    """Robust ``(sigma, sigma_lr, rho)`` of a residual sequence whose mean may shift.

    ``sigma``: MAD scale around a centred running median of ``window`` points (level shifts removed);
    ``rho``: lag-1 dependence from ``Var(diff) = 2 sigma^2 (1 - rho)``, clipped to [0, 0.95];
    ``sigma_lr``: the long-run scale ``sigma * sqrt((1 + rho) / (1 - rho))`` (AR(1)).
    """
    n = len(r)
    if n < 3:
        return 0.0, 0.0, 0.0
    w = max(3, min(window, n) | 1)
    level = pd.Series(r).rolling(w, center=True, min_periods=1).median().to_numpy()
    sigma = _mad(r - level)
    s_diff = _mad(np.diff(r)) / math.sqrt(2)
    if sigma <= 0:
        return 0.0, 0.0, 0.0
    rho = float(np.clip(1 - (s_diff / sigma) ** 2, 0.0, 0.95))
    return sigma, sigma * math.sqrt((1 + rho) / (1 - rho)), rho


def _best_split(cs: np.ndarray, a: int, b: int, m: int) -> tuple[int, float, float]:
    """Best split k of [a, b) with both parts >= m: (k, gain, mean difference); k = -1 if none."""
    n = b - a
    if n < 2 * m:
        return -1, 0.0, 0.0
    k = np.arange(a + m, b - m + 1)
    n1, n2 = k - a, b - k
    s1 = cs[k] - cs[a]
    s2 = cs[b] - cs[k]
    d = s1 / n1 - s2 / n2
    gain = n1 * n2 / n * d ** 2
    i = int(np.argmax(gain))
    return int(k[i]), float(gain[i]), float(d[i])


def detect(r: np.ndarray | list[float], settings: DriftSettings | None = None) -> Scan:
    """Regimes of a residual sequence (file order): binary segmentation, merge, majority kept.

    Args:
        r: Residuals (log units) in the order the archs were measured; non-finite values are not allowed.
        settings: Penalty, minimum segment and shift, number of changes (defaults if None).

    Raises:
        InvalidInput: ``r`` is not a finite 1-D sequence.
    """
    s = settings or DriftSettings()
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 1:
        raise InvalidInput(f"residuals must be a 1-D sequence, got shape {r.shape}")
    if not np.isfinite(r).all():
        raise InvalidInput(f"residuals hold {int((~np.isfinite(r)).sum())} non-finite values; drop those archs first")
    n, m = len(r), int(s.min_segment)
    if n == 0:
        return Scan(0, [], 0.0, 0.0, 0.0, 0.0, "empty")
    sigma, sigma_lr, rho = noise_scale(r, 2 * m + 1)
    threshold = s.penalty * sigma_lr ** 2 * math.log(max(n, 2))
    whole = [Regime(0, n, float(r.mean()))]
    if n < 2 * m:
        return Scan(n, whole, sigma, sigma_lr, rho, threshold, f"too short to scan (< 2 x min_segment = {2 * m})")
    if sigma_lr == 0:
        return Scan(n, whole, sigma, sigma_lr, rho, threshold, "constant residuals")
    cs = np.concatenate([[0.0], np.cumsum(r)])
    cuts: list[int] = []
    todo = [(0, n)]
    while todo and len(cuts) < s.max_changes:
        best = None
        for a, b in todo:  # the strongest split over all open segments first (order-independent result)
            k, gain, d = _best_split(cs, a, b, m)
            if k > 0 and gain > threshold and abs(d) >= s.min_shift and (best is None or gain > best[3]):
                best = (a, b, k, gain)
        if best is None:
            break
        a, b, k, _ = best
        cuts.append(k)
        todo.remove((a, b))
        todo += [(a, k), (k, b)]
    bounds = [0, *sorted(cuts), n]
    regimes = [Regime(a, b, float(r[a:b].mean())) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    merged: list[Regime] = []
    for reg in regimes:  # adjacent segments closer than min_shift are one regime
        if merged and abs(reg.mean - merged[-1].mean) < s.min_shift:
            prev = merged[-1]
            merged[-1] = Regime(prev.start, reg.stop, float(r[prev.start:reg.stop].mean()))
        else:
            merged.append(reg)
    major = max(merged, key=lambda g: g.n)
    kept_idx = np.concatenate([np.arange(g.start, g.stop) for g in merged if abs(g.mean - major.mean) < s.min_shift])
    level = float(r[kept_idx].mean())
    for g in merged:
        g.kept = abs(g.mean - major.mean) < s.min_shift
        g.shift = g.mean - level
    if len(kept_idx) <= s.majority * n:
        for g in merged:
            g.kept = True
        return Scan(n, merged, sigma, sigma_lr, rho, threshold,
                    f"{len(merged)} regimes, none a majority (largest {major.n} of {n} archs): nothing excluded")
    note = "" if len(merged) == 1 else (
        f"{len(merged)} regimes; kept the majority regime ({len(kept_idx)} of {n} archs)"
        + ("" if all(g.kept for g in merged) else "; excluded " + ", ".join(
            f"[{g.start}, {g.stop}) at {100 * (math.exp(g.shift) - 1):+.1f}%" for g in merged if not g.kept)))
    return Scan(n, merged, sigma, sigma_lr, rho, threshold, note)


# ---------------------------------------------------------------------------------------------- per series
def _log_medians(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (run_id, arch_id) in file order: position in the file and log median value."""
    f = frame[["run_id", "arch_id", "value"]].copy()
    f["_row"] = np.arange(len(f))
    g = f.groupby(["run_id", "arch_id"], sort=False)
    out = g.agg(first_row=("_row", "min"), median=("value", "median")).reset_index()
    out = out.sort_values("first_row").reset_index(drop=True)
    out["position"] = out.groupby("run_id").cumcount()
    out["log_median"] = np.log(out["median"].to_numpy(dtype=np.float64))
    return out


def series_residuals(frame: pd.DataFrame, space: Any, settings: DriftSettings | None = None) -> pd.DataFrame:
    """Cross-fitted residual of each arch's log median against its cost features, in file order.

    Args:
        frame: Observations of one (scale, device, metric) in the import's row order (file, then record).
        space: The scale's search space.

    Returns:
        Columns ``run_id``, ``arch_id``, ``position`` (index in the file's imported records),
        ``log_median``, ``predicted``, ``residual``.
    """
    import xgboost as xgb

    from hwgpt.search_space import Arch
    from hwgpt.surrogates.features import FeatureSpec, arch_arrays, features

    s = settings or DriftSettings()
    med = _log_medians(frame)
    first = frame.drop_duplicates("arch_id").set_index("arch_id")
    archs = [Arch.from_dict(json.loads(first.at[a, "arch"])) for a in med["arch_id"]]
    row = frame.iloc[0]
    spec = FeatureSpec(batch=int(row.get("batch") or 1), seq_len=int(row.get("seq_len") or space.block_size),
                       dtype=str(row.get("dtype") or "float32").removeprefix("torch."))
    X = features(arch_arrays(archs, space), space, spec)
    y = med["log_median"].to_numpy()
    pred = np.full(len(y), np.nan)
    k = int(s.folds)
    fold = np.arange(len(y)) % k  # interleaved along the file order: every fold samples every regime
    params = {"objective": "reg:absoluteerror", "max_depth": 4, "eta": 0.15, "subsample": 0.8, "nthread": 1,
              "seed": int(s.seed), "verbosity": 0}
    if len(y) < 2 * k:
        pred[:] = np.median(y) if len(y) else np.nan
    else:
        for f in range(k):
            tr = fold != f
            dtr = xgb.DMatrix(X[tr], label=y[tr], base_margin=np.full(int(tr.sum()), np.median(y[tr])))
            bst = xgb.train(params, dtr, num_boost_round=200)
            dte = xgb.DMatrix(X[~tr], base_margin=np.full(int((~tr).sum()), np.median(y[tr])))
            pred[~tr] = bst.predict(dte)
    med["predicted"] = pred
    med["residual"] = y - pred
    return med[["run_id", "arch_id", "position", "log_median", "predicted", "residual"]]


def add_flag(flags: pd.Series, mask: np.ndarray, flag: str = DRIFT_FLAG) -> pd.Series:
    """``flags`` (comma-separated strings) with ``flag`` added where ``mask``; idempotent."""
    out = flags.fillna("").astype(str).to_numpy(dtype=object).copy()
    for i in np.flatnonzero(mask):
        have = [f for f in out[i].split(",") if f]
        if flag not in have:
            out[i] = ",".join([*have, flag])
    return pd.Series(out, index=flags.index)


def remove_flag(flags: pd.Series, flag: str = DRIFT_FLAG) -> pd.Series:
    """``flags`` (comma-separated strings) without ``flag``."""
    out = flags.fillna("").astype(str)
    has = out.str.contains(flag, regex=False)
    if has.any():
        out = out.copy()
        out[has] = out[has].map(lambda v: ",".join(f for f in v.split(",") if f and f != flag))
    return out


def scan_series(frame: pd.DataFrame, space: Any, settings: DriftSettings | None = None,
                paths: dict[str, str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Scan every file of one series; return the frame with excluded rows flagged and the report.

    Args:
        frame: Observations of one (scale, device, metric), rows in file then record order.
        space: The scale's search space.
        settings: Drift settings.
        paths: run_id -> source path, for the report.

    Returns:
        ``(frame, report)``: ``frame`` with ``drift`` added to ``flags`` of excluded rows (when
        ``settings.exclude``); ``report`` has one entry per file plus the series totals.
    """
    s = settings or DriftSettings()
    res = series_residuals(frame, space, s)
    files, excluded_archs = [], set()
    for run_id, g in res.groupby("run_id", sort=False):
        scan = detect(g["residual"].to_numpy(), s)
        mask = ~scan.kept
        ex = set(g["arch_id"].to_numpy()[mask])
        entry = {"run_id": run_id, "path": (paths or {}).get(run_id, run_id), **scan.to_dict()}
        entry["n_observations_excluded"] = int(frame["arch_id"].isin(ex).sum()) if s.exclude else 0
        files.append(entry)
        if s.exclude:
            excluded_archs |= ex
    frame = frame.copy()
    rows = frame["arch_id"].isin(excluded_archs).to_numpy()
    old = frame["flags"].fillna("").astype(str)
    frame["flags"] = add_flag(remove_flag(old), rows)  # a rescan replaces an earlier scan's flags
    changed = bool((frame["flags"] != old).any())
    resid = res.set_index("arch_id")["residual"]
    kept_r = resid[~resid.index.isin(excluded_archs)]
    report = {"archs": int(len(res)), "archs_excluded": len(excluded_archs), "rewritten": changed,
              "observations_excluded": int(rows.sum()), "residual_sd_kept": round(float(kept_r.std()), 5),
              "reason": ("measurement-session regimes whose mean log-residual differs from the file's majority "
                         f"regime by >= {s.min_shift} (flag '{DRIFT_FLAG}')") if excluded_archs else "",
              "files": files}
    return frame, report


def annotate(out: str | Path, settings: DriftSettings | None = None, progress: bool = True) -> dict[str, Any]:
    """Scan every consolidated series of an import under ``out``; flag and report (``out/drift.json``).

    The consolidated files are rebuilt from the parts on every import run, so the scan is idempotent.
    """
    from tqdm.auto import tqdm

    from hwgpt.search_space import SearchSpace

    s = settings or DriftSettings()
    out = Path(out).expanduser()
    report: dict[str, Any] = {"settings": s.to_dict(), "series": {}}
    if not s.enabled:
        return report
    runs_path = out / "runs.parquet"
    paths = {}
    if runs_path.exists():
        runs = pd.read_parquet(runs_path, columns=["blob", "path"])
        paths = {str(b)[:16]: str(p) for b, p in zip(runs["blob"], runs["path"], strict=True)}
    targets = sorted(p for m in s.metrics for p in out.glob(f"[sml]/*/{m}.parquet"))
    for path in tqdm(targets, desc="drift scan", unit="series", disable=not progress):
        scale, device, metric = path.parent.parent.name, path.parent.name, path.stem
        frame = pd.read_parquet(path)
        if frame.empty:
            continue
        frame, rep = scan_series(frame, SearchSpace.from_name(scale), s, paths)
        if rep.pop("rewritten"):
            tmp = path.with_name(path.name + f".tmp{os.getpid()}")
            frame.to_parquet(tmp, index=False, compression="zstd")
            os.replace(tmp, path)
        report["series"][f"{scale}/{device}/{metric}"] = rep
        if rep["archs_excluded"]:
            log.warning("%s/%s/%s: excluded %d of %d archs (%s)", scale, device, metric, rep["archs_excluded"],
                        rep["archs"], "; ".join(f"{Path(f['path']).name}: {f['note']}" for f in rep["files"]
                                                  if f["n_excluded"]))
    tmp = out / f"drift.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out / "drift.json")
    return report
