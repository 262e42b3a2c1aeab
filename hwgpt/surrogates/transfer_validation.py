"""Validation of new-device transfer: leave-one-device-out (LODO) on many devices, and fresh archs here.

LODO (``lodo``), per scale and metric of an observation frame with many devices on the same archs:

1. The archs are split (seeded) into a *source* part (70%) and an *evaluation* part (30%). Each
   device gets a median model (XGBoost on the arch features, log units) fitted on the source
   part only: its predictions on the evaluation part play the shipped surrogates' role, so the
   source features of a held-out arch are predictions, never measurements of it.
2. Each device in turn is the new one. From the evaluation part, ``k`` adaptation archs are
   drawn (one per equal-probability FLOPs stratum, like :func:`hwgpt.surrogates.transfer.design`)
   and a fixed set of test archs is kept apart; each method is fitted on the ``k`` archs'
   observations with the other devices as sources (``scratch``: no sources), CV+-calibrated.
   The source models see at most ``max_source_archs`` archs (time).
3. On the test archs: Kendall tau of predicted vs observed medians, median relative error of the
   medians, and the 90% interval's coverage of observations and of medians. ``auto`` is the method
   with the smallest leave-one-out error on the ``k`` archs (what ``fit=true`` does).

``fresh``: fresh archs measured on this machine (a store) against surrogates of named devices
(e.g. the shipped ``cpu`` before adapting and ``local`` after): ratio measured / predicted,
coverage, tau (:mod:`hwgpt.surrogates.transfer_fresh`, with ``interleaved``; run from here).

Command line::

    python -m hwgpt.surrogates.transfer_validation lodo --data <parquet file or dir> [--scales s,m,l]
        [--metrics latency] [--ks 5,10,20,50,100,all] [--reps 3] [--out outputs/transfer_validation]
    python -m hwgpt.surrogates.transfer_validation fresh --store <store.sqlite> --scale tiny
        --measured-as fresh --devices cpu,local [--exclude-store <design store>] [--out ...]
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau
from tqdm.auto import tqdm

from hwgpt.search_space import SearchSpace
from hwgpt.surrogates import data
from hwgpt.surrogates.features import FeatureSpec, arch_arrays, feature_names, features
from hwgpt.surrogates.transfer_core import COST_COLUMNS, TransferSettings, fit_core
from hwgpt.surrogates.transfer_fresh import fresh, interleaved

log = logging.getLogger(__name__)

__all__ = ["ALL", "METHODS", "Prepared", "curve_table", "evaluate_device", "fresh", "interleaved", "load_frame", "lodo",
           "main", "plot", "prepare", "stratified", "summarise", "table"]

METHODS = ("scale_shift", "embedding", "scratch")
ALL = "all"


@dataclass
class Prepared:
    """One (scale, metric): per-device observations on the evaluation archs and source predictions there."""

    scale: str
    metric: str
    devices: list[str]
    eval_ids: list[str]
    X: np.ndarray                       # features of the evaluation archs
    flops: np.ndarray                   # log10 FLOPs of the evaluation archs
    pred: dict[str, np.ndarray]         # device -> predicted log-median on the evaluation archs
    obs: dict[str, list[np.ndarray]]    # device -> per evaluation arch, log observations (empty if missing)


COLUMNS = ["arch_id", "arch", "scale", "device", "metric", "value", "flags"]


def load_frame(path: str | Path, scales: list[str] | None = None, metrics: list[str] | None = None) -> pd.DataFrame:
    """Observations from a ``.parquet``/``.csv`` file or a directory of Parquet files.

    A directory laid out as the importer writes it (``<scale>/<device>/<metric>.parquet``) is read
    for ``scales`` x ``metrics`` only; any other directory: every ``*.parquet`` under it.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.glob("*/*/*.parquet")
                       if (scales is None or f.parts[-3] in scales) and (metrics is None or f.stem in metrics))
        files = files or sorted(p.rglob("*.parquet"))
    else:
        files = [p]
    if not files:
        raise ValueError(f"no observation files under {p} for scales {scales}, metrics {metrics}")
    frames = []
    for f in files:
        df = pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_csv(f)
        df = df[[c for c in COLUMNS if c in df.columns]]
        if scales is not None:
            df = df[df["scale"].isin(scales)]
        if metrics is not None:
            df = df[df["metric"].isin(metrics)]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _median_model(X: np.ndarray, y: np.ndarray, seed: int) -> Any:
    import xgboost as xgb

    params = {"objective": "reg:squarederror", "eta": 0.15, "max_depth": 6, "subsample": 0.8,
              "colsample_bytree": 0.8, "min_child_weight": 3, "nthread": 1, "seed": seed, "verbosity": 0,
              "tree_method": "hist", "max_bin": 64}
    return xgb.train(params, xgb.DMatrix(X, label=y), 200)


def prepare(df: pd.DataFrame, scale: str, metric: str, source_fraction: float = 0.7, seed: int = 0,
            exclude_flags: tuple[str, ...] = ("contended",), max_source_archs: int = 4000) -> Prepared:
    """Split the archs, fit each device's source median model, collect evaluation observations."""
    space = SearchSpace.from_name(scale)
    rows = df[(df["scale"] == scale) & (df["metric"] == metric)]
    if rows.empty:
        raise ValueError(f"no {metric!r} observations at scale {scale!r}; the frame has "
                         f"{df.groupby(['scale', 'metric']).size().to_dict()}")
    if "flags" in rows:
        bad = rows["flags"].map(data.parse_flags).map(lambda f: bool(f & set(exclude_flags)))
        rows = rows[~bad]
    rows = rows[np.isfinite(rows["value"].astype(float)) & (rows["value"].astype(float) > 0)]
    devices = sorted(rows["device"].unique())
    archs = data.archs_of(rows, space)
    ids = sorted(archs)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(ids))
    n_src = int(round(source_fraction * len(ids)))
    src_ids, eval_ids = [ids[i] for i in perm[:n_src][:max_source_archs]], [ids[i] for i in perm[n_src:]]
    spec = FeatureSpec(1, space.block_size)
    X_all = features(arch_arrays([archs[a] for a in ids], space), space, spec)
    row = {a: i for i, a in enumerate(ids)}
    X_src, X_eval = X_all[[row[a] for a in src_ids]], X_all[[row[a] for a in eval_ids]]
    logv = np.log(rows["value"].to_numpy(float))
    pred, obs = {}, {}
    for d in tqdm(devices, desc=f"source models {scale}/{metric}", unit="device"):
        sel = rows["device"].to_numpy() == d
        g = pd.Series(logv[sel]).groupby(rows["arch_id"].to_numpy()[sel])
        med = g.median()
        have = [a for a in src_ids if a in med.index]
        model = _median_model(X_src[[src_ids.index(a) for a in have]] if len(have) < len(src_ids) else X_src,
                              med.reindex(have).to_numpy(), seed)
        pred[d] = np.asarray(model.inplace_predict(X_eval), float)
        groups = {k: v.to_numpy() for k, v in g}
        obs[d] = [groups.get(a, np.empty(0)) for a in eval_ids]
    names = feature_names(space)
    return Prepared(scale, metric, devices, eval_ids, X_eval, X_eval[:, names.index("log10_flops")], pred, obs)


def stratified(flops: np.ndarray, candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` of ``candidates``: one per equal-probability stratum of their log-FLOPs, random within it."""
    order = candidates[np.argsort(flops[candidates], kind="stable")]
    return np.array([rng.choice(s) for s in np.array_split(order, k) if len(s)], dtype=int)


def _matrix(p: Prepared, target: str, method: str, idx: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    sources = [] if method == "scratch" else [d for d in p.devices if d != target]
    names_all = feature_names(SearchSpace.from_name(p.scale))
    cost = list(COST_COLUMNS)
    cols = [p.pred[d][idx] for d in sources] + [p.X[idx, names_all.index(c)] for c in cost]
    return np.stack(cols, axis=1), sources + cost, sources


def evaluate_device(p: Prepared, target: str, ks: list[int | str], reps: int, n_test: int, seed: int,
                    settings: TransferSettings) -> list[dict[str, Any]]:
    """Every method at every ``k`` for one held-out device; one row per (k, rep, method)."""
    have = np.array([len(o) > 0 for o in p.obs[target]])
    avail = np.flatnonzero(have)
    rng = np.random.default_rng(seed)
    test = rng.choice(avail, size=min(n_test, len(avail) // 2), replace=False)
    pool = np.setdiff1d(avail, test)
    y_test_obs = [p.obs[target][i] for i in test]
    y_test = np.array([np.median(o) for o in y_test_obs])
    out = []
    for k in ks:
        kk = len(pool) if k == ALL else int(k)
        if kk > len(pool):
            continue
        for rep in range(1 if k == ALL else reps if kk <= 20 else min(reps, 2)):
            r = np.random.default_rng(seed + 1000 * rep + kk)
            idx = pool if k == ALL else stratified(p.flops, pool, kk, r)
            obs = [p.obs[target][i] for i in idx]
            fits = {}
            for method in METHODS:
                Z, names, sources = _matrix(p, target, method, idx)
                try:
                    folds = settings.folds if kk <= settings.folds else 10  # jackknife+ up to 20 archs, as fit=true
                    fits[method] = (fit_core(Z, names, obs, sources, TransferSettings(
                        method=method, folds=folds, seed=seed + rep)), sources)
                except ValueError as e:  # too few archs for this method
                    log.debug("%s k=%s %s: %s", target, k, method, e)
            if not fits:
                continue
            cands = [m for m in ("scale_shift", "embedding") if m in fits] or list(fits)
            auto = min(cands, key=lambda m: fits[m][0].model.loo_mse)  # as TransferSettings(method="auto")
            for method, (core, sources) in [*fits.items(), ("auto", fits[auto])]:
                Zt, names, _ = _matrix(p, target, "scratch" if not sources else "embedding", test)
                pred = core.median(Zt, names)
                q = core.quantiles(Zt, names)
                i05, i95 = list(core.levels).index(0.05), list(core.levels).index(0.95)
                lo, hi = q[:, i05], q[:, i95]
                cover_obs = np.mean(np.concatenate([(o >= a) & (o <= b) for o, a, b in zip(y_test_obs, lo, hi,
                                                                                          strict=True)]))
                out.append({"scale": p.scale, "metric": p.metric, "device": target, "k": str(k), "n_archs": kk,
                            "rep": rep, "method": method, "chosen": core.method if method == "auto" else method,
                            "kendall_tau": float(kendalltau(pred, y_test).statistic),
                            "median_relative_error": float(np.median(np.abs(np.exp(pred - y_test) - 1))),
                            "coverage_0.9": float(cover_obs),
                            "coverage_of_medians_0.9": float(np.mean((y_test >= lo) & (y_test <= hi))),
                            "interval_width_rel_0.9": float(np.median(np.exp(hi - lo) - 1))})
    return out


def lodo(source: pd.DataFrame | str | Path, scales: list[str], metrics: list[str], ks: list[int | str],
         reps: int = 3, n_test: int = 1000, seed: int = 0, devices: list[str] | None = None,
         settings: TransferSettings | None = None) -> pd.DataFrame:
    """Leave-one-device-out rows (see the module docstring) for every scale, metric and held-out device.

    Args:
        source: An observation frame, or a path for :func:`load_frame` (read one scale at a time).
        reps: Repetitions (new draws of the ``k`` archs) for ``k <= 20``; two for larger ``k``, one for ``all``.
    """
    settings = settings or TransferSettings()
    rows = []
    for scale in scales:
        for metric in metrics:
            try:
                df = source if isinstance(source, pd.DataFrame) else load_frame(source, [scale], [metric])
                p = prepare(df, scale, metric, seed=seed)
            except ValueError as e:
                log.warning("skipping %s/%s: %s", scale, metric, e)
                continue
            if len(p.devices) < 2:
                log.warning("skipping %s/%s: %d device(s), LODO needs two or more", scale, metric, len(p.devices))
                continue
            targets = [d for d in p.devices if devices is None or d in devices]
            for t in tqdm(targets, desc=f"LODO {scale}/{metric}", unit="device"):
                rows += evaluate_device(p, t, ks, reps, n_test, seed, settings)
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over repetitions per (scale, metric, device, method, k)."""
    keys = ["scale", "metric", "device", "method", "k", "n_archs"]
    cols = ["kendall_tau", "median_relative_error", "coverage_0.9", "coverage_of_medians_0.9",
            "interval_width_rel_0.9"]
    return rows.groupby(keys, sort=False)[cols].mean().reset_index()


def plot(summary: pd.DataFrame, path: Path, metric: str = "latency") -> Path:
    """Tau, median relative error and 90% coverage against k: auto transfer vs scratch, one column per scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = summary[summary["metric"] == metric]
    scales = list(dict.fromkeys(s["scale"]))
    fig, axes = plt.subplots(3, len(scales), figsize=(3.6 * len(scales), 8), squeeze=False, sharex=True)
    for j, scale in enumerate(scales):
        for method, color in (("auto", "C0"), ("scratch", "C3")):
            m = s[(s["scale"] == scale) & (s["method"] == method)]
            g = m.groupby("n_archs")
            for i, col in enumerate(["kendall_tau", "median_relative_error", "coverage_0.9"]):
                ax = axes[i, j]
                x = np.array(sorted(g.groups))
                ax.plot(x, g[col].median().reindex(x), "-o", color=color, ms=3,
                        label=f"{'transfer (auto)' if method == 'auto' else 'scratch'}: median over devices")
                ax.fill_between(x, g[col].min().reindex(x), g[col].max().reindex(x), color=color, alpha=0.15)
                ax.set_xscale("log")
        axes[0, j].set_title(f"scale {scale} ({metric}, LODO)")
        axes[0, j].axhline(0.9, color="k", lw=0.6, ls=":")
        axes[2, j].axhspan(0.85, 0.95, color="k", alpha=0.07)
        axes[2, j].axhline(0.9, color="k", lw=0.6, ls=":")
        axes[2, j].set_xlabel("k measured archs of the new device")
    axes[0, 0].set_ylabel("Kendall tau (held-out archs)")
    axes[1, 0].set_ylabel("median relative error")
    axes[2, 0].set_ylabel("90% interval coverage")
    axes[0, 0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def table(summary: pd.DataFrame, k: str = "20", metric: str = "latency") -> str:
    """Markdown table at ``k``: per scale and device, auto transfer vs scratch."""
    s = summary[(summary["k"] == k) & (summary["metric"] == metric)]
    lines = ["| scale | device | transfer tau | transfer med. rel. err. | transfer 90% cov. | scratch tau | "
             "scratch med. rel. err. | scratch 90% cov. |", "|---|---|---|---|---|---|---|---|"]
    for (scale, device), g in s.groupby(["scale", "device"], sort=False):
        a, b = g[g["method"] == "auto"], g[g["method"] == "scratch"]
        if a.empty:
            continue
        fmt = lambda r, c, p: f"{r[c].iloc[0]:.{p}f}" if not r.empty else "-"  # noqa: E731
        lines.append(f"| {scale} | {device} | {fmt(a, 'kendall_tau', 3)} | {fmt(a, 'median_relative_error', 3)} | "
                     f"{fmt(a, 'coverage_0.9', 3)} | {fmt(b, 'kendall_tau', 3)} | "
                     f"{fmt(b, 'median_relative_error', 3)} | {fmt(b, 'coverage_0.9', 3)} |")
    return "\n".join(lines)


def curve_table(summary: pd.DataFrame, metric: str = "latency") -> str:
    """Markdown: per scale and k, the median over held-out devices (min-max of coverage) of each method."""
    s = summary[summary["metric"] == metric]
    lines = ["| scale | k | auto tau | auto med. rel. err. | auto 90% cov. (min-max) | scratch tau | "
             "scratch med. rel. err. | scratch 90% cov. (min-max) |", "|---|---|---|---|---|---|---|---|"]
    for (scale, k), g in s.groupby(["scale", "k"], sort=False):
        cells = []
        for m in ("auto", "scratch"):
            r = g[g["method"] == m]
            if r.empty:
                cells += ["-", "-", "-"]
                continue
            c = r["coverage_0.9"]
            cells += [f"{r['kendall_tau'].median():.3f}", f"{r['median_relative_error'].median():.3f}",
                      f"{c.median():.2f} ({c.min():.2f}-{c.max():.2f})"]
        lines.append(f"| {scale} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hwgpt.surrogates.transfer_validation", description=__doc__.split(
        "\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("lodo", help="leave-one-device-out over a frame of many devices")
    a.add_argument("--data", required=True, help="parquet file, or a directory of them (store columns)")
    a.add_argument("--scales", default="s,m,l")
    a.add_argument("--metrics", default="latency")
    a.add_argument("--ks", default="5,10,20,50,100,all")
    a.add_argument("--reps", type=int, default=3)
    a.add_argument("--n-test", type=int, default=1000)
    a.add_argument("--devices", default=None, help="held-out devices (default: every one)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", default="outputs/transfer_validation")
    a.add_argument("--figure", default=None, help="also write the figure here (e.g. docs/figures/transfer_lodo.png)")
    f = sub.add_parser("fresh", help="fresh archs measured here against named devices' surrogates")
    f.add_argument("--store", required=True)
    f.add_argument("--scale", default="tiny")
    f.add_argument("--measured-as", default="fresh")
    f.add_argument("--devices", default="cpu,local")
    f.add_argument("--exclude-store", default=None)
    f.add_argument("--out", default="outputs/transfer_validation")
    i = sub.add_parser("interleaved", help="design and fresh archs measured alternately here, then fit and check")
    i.add_argument("--store", required=True)
    i.add_argument("--scale", default="tiny")
    i.add_argument("--n-design", type=int, default=20)
    i.add_argument("--n-fresh", type=int, default=30)
    i.add_argument("--repeats", type=int, default=5)
    i.add_argument("--device", default="local")
    i.add_argument("--out", default="outputs/transfer_validation")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.cmd == "lodo":
        ks: list[int | str] = [k if k == ALL else int(k) for k in args.ks.split(",")]
        rows = lodo(args.data, args.scales.split(","), args.metrics.split(","), ks, args.reps,
                    args.n_test, args.seed, args.devices.split(",") if args.devices else None)
        rows.to_csv(out / "lodo_rows.csv", index=False)
        summary = summarise(rows)
        summary.to_csv(out / "lodo_summary.csv", index=False)
        for metric in args.metrics.split(","):
            (out / f"lodo_table_{metric}_k20.md").write_text(table(summary, "20", metric) + "\n")
            (out / f"lodo_curve_{metric}.md").write_text(curve_table(summary, metric) + "\n")
            plot(summary, Path(args.figure) if args.figure and metric == "latency" else out / f"lodo_{metric}.png",
                 metric)
        log.info("LODO: %d rows; summary, tables and figures in %s", len(rows), out)
    elif args.cmd == "fresh":
        res = fresh(args.store, args.scale, args.measured_as, args.devices.split(","), args.exclude_store)
        (out / f"fresh_{args.scale}.json").write_text(json.dumps(res, indent=1))
        log.info("fresh archs: %s", json.dumps(res))
    else:
        res = interleaved(args.scale, args.n_design, args.n_fresh, args.repeats, args.store, device=args.device)
        (out / f"interleaved_{args.scale}.json").write_text(json.dumps(res, indent=1))
        log.info("interleaved check: %s", json.dumps(res))


if __name__ == "__main__":
    main()
