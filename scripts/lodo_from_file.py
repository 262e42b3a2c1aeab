"""Leave-one-device-out through the measurements-file route (``hwgpt.surrogates.from_file``).

For each published device of a scale (default: the 13 S devices), repeatedly:

1. pick ``k`` (20) adaptation archs of that device's *published* measurements (one per equal-probability
   FLOPs stratum, as ``hwgpt.surrogates.transfer.design`` does) and write their observations into a
   measurements file (CSV; GPU latency in ms as published, CPU latency in s), exactly as a user would;
2. fit it with :func:`hwgpt.surrogates.from_file.fit_from_file` under the device's own name with
   ``overwrite=true``: the route itself then leaves the shipped surrogate of that device out of the
   sources (the other shipped devices of the scale are the sources), into a temporary directory;
3. score the fitted surrogate on ``n_test`` (500) other archs of that device: Kendall tau of predicted
   vs observed medians, median relative error of the medians, and the 90% interval's coverage of
   observations and of medians.

Adaptation and test archs are drawn only from archs that no shipped source surrogate was fitted on
(the shipped S surrogates are fitted on a seeded 4000-arch subsample of the 10,000 published archs; the
subsample is recomputed from each source's recorded ``max_archs`` and seed), so a test arch's hardware
embedding is a prediction, as for a genuinely new arch. When no such archs remain (surrogates fitted on
every arch), all archs are used and the output says so.

Data: ``--source <git dir of automl/HW-Aware-LLM-Bench>`` reads the published latency files of the scale
straight from upstream's git objects with the importer's own parser (:mod:`hwgpt.importers.hwgptbench`),
or ``--data <import dir>`` reads ``python -m hwgpt.importers.hwgptbench`` output. The observations are
cached in ``<out>/published_<scale>_<metric>.parquet``.

    python scripts/lodo_from_file.py --source <upstream git dir> --out outputs/lodo_from_file [--reps 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau
from tqdm.auto import tqdm

log = logging.getLogger("lodo_from_file")

#: The README's leave-one-device-out table at k = 20 (transfer = auto), per held-out S device: tau, median relative
#: error, 90% coverage of observations; means over 5 draws, XGBoost source models on a 70% split (README of commit
#: 13389e5^, section "Leave-one-device-out over the published devices"; dropped from the README in 13389e5).
README_S_K20 = {
    "a100": (0.980, 0.005, 0.873), "a40": (0.980, 0.006, 0.942), "a6000": (0.966, 0.008, 0.939),
    "epyc_7452": (0.785, 0.096, 0.922), "epyc_7502": (0.859, 0.038, 0.913), "epyc_7513": (0.877, 0.035, 0.946),
    "h100": (0.981, 0.004, 0.900), "p100": (0.931, 0.018, 0.933), "rtx2080": (0.860, 0.040, 0.931),
    "rtx3080": (0.892, 0.027, 0.930), "v100": (0.905, 0.022, 0.852), "xeon_gold": (0.826, 0.055, 0.935),
    "xeon_silver": (0.867, 0.041, 0.927),
}


def load_published(source: str | None, data: str | None, scale: str, metric: str, cache: Path) -> pd.DataFrame:
    """Published observations of ``metric`` at ``scale`` (every device), from the cache, an import, or upstream."""
    if cache.exists():
        return pd.read_parquet(cache)
    from hwgpt.importers import hwgptbench as hb

    if data:
        df = hb.observations(data, scale=scale, metric=metric)
    elif source:
        from hwgpt.importers.gitsource import GitSource
        from hwgpt.search_space import SearchSpace

        src = GitSource(source, hb.COMMIT, hb.FETCH_HINT)
        spaces = {s: SearchSpace.from_name(s) for s in hb.SCALES}
        plans = [p for b in src.ls("raw_results_hw") if (p := hb.plan_file(b)) is not None]
        plans = [p for p in plans if p.skip is None and p.scale == scale and p.kind == metric]
        frames, seen = [], set()
        for blob, raw in tqdm(src.iter_read([p.blob for p in plans]), total=len(plans), desc="read upstream"):
            plan = next(p for p in plans if p.blob.sha == blob.sha)
            if raw is None:
                continue
            rows = hb.read_file(plan, raw, spaces, src.commit_date).rows
            rows = rows[(rows["scale"] == scale) & (rows["metric"] == metric)]
            key = rows["device"] + "/" + rows["arch_id"]  # an arch's series comes from the first file holding it
            rows = rows[~key.isin(seen)]
            seen |= set(key)
            frames.append(rows)
        df = pd.concat(frames, ignore_index=True)
    else:
        raise SystemExit("give --source <upstream git dir> or --data <import dir>")
    df = df[["arch_id", "arch", "scale", "device", "metric", "value", "unit", "batch", "seq_len", "dtype", "repeat",
             "flags"]].reset_index(drop=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(cache, index=False)
    return df


def seen_by_sources(df: pd.DataFrame, scale: str, metric: str) -> tuple[set[str], dict[str, Any]]:
    """Arch ids some shipped surrogate of ``scale``/``metric`` was fitted on (recomputed from its recorded settings)."""
    from hwgpt.surrogates import artifacts

    root = artifacts.package_root()
    seen: set[str] = set()
    info: dict[str, Any] = {}
    for device, metrics in artifacts.available(str(root)).get(scale, {}).items():
        if metric not in metrics:
            continue
        rep = artifacts.read_meta(scale, device, metric, str(root)).get("report", {})
        fit = rep.get("settings", {}).get("fit", {}) or {}
        ids = sorted(set(df.loc[df["device"] == device, "arch_id"]))
        if not ids:
            info[device] = "no published data (own measurements; not among these archs)"
            continue
        max_archs, seed = fit.get("max_archs"), int(fit.get("seed", 0))
        if max_archs is None or len(ids) <= int(max_archs):
            seen |= set(ids)
            info[device] = f"all {len(ids)} archs"
        else:
            ids.sort(key=lambda a: hashlib.sha256(f"subsample:{seed}:{a}".encode()).hexdigest())
            seen |= set(ids[: int(max_archs)])
            info[device] = f"{max_archs} of {len(ids)} archs (seed {seed})"
    return seen, info


def stratified(ids: list[str], flops: np.ndarray, k: int, rng: np.random.Generator) -> list[str]:
    """One arch per equal-probability log-FLOPs stratum (``k`` strata), as the design does."""
    order = np.argsort(flops, kind="stable")
    return [ids[int(rng.choice(s))] for s in np.array_split(order, k) if len(s)]


def write_file(rows: pd.DataFrame, device: str, path: Path) -> None:
    """The adaptation archs' observations as a user's measurements file (GPU in ms, as published)."""
    from hwgpt.importers import conventions

    ident = conventions.identity(device)
    ms = ident.get("kind") == "gpu"
    out = pd.DataFrame({
        "arch": rows["arch"], "metric": rows["metric"],
        "value": rows["value"] * (1e3 if ms else 1.0), "unit": "ms" if ms else "s",
        "batch": rows["batch"].astype(int), "seq_len": rows["seq_len"].astype(int), "dtype": rows["dtype"],
        "device_name": ident.get("name", device), "device_kind": ident.get("kind"), "repeat": rows["repeat"]})
    out.to_csv(path, index=False)


def score(bench: Any, archs: list, obs: list[np.ndarray]) -> dict[str, float]:
    """Tau, median relative error and 90% coverage (observations, medians) of a surrogate on test archs."""
    med = np.array([np.median(o) for o in obs])
    pred = np.asarray(bench.query(archs, "latency")["latency"], float)
    lo, hi = (np.asarray(v, float) for v in bench.interval(archs, "latency", 0.9))
    cov_obs = np.mean(np.concatenate([(o >= lo[i]) & (o <= hi[i]) for i, o in enumerate(obs)]))
    return {"kendall_tau": float(kendalltau(pred, med).statistic),
            "median_relative_error": float(np.median(np.abs(pred / med - 1.0))),
            "coverage_0.9": float(cov_obs), "coverage_of_medians_0.9": float(np.mean((med >= lo) & (med <= hi)))}


def _git_commit() -> str | None:
    """HEAD of the repository this script is in (the shipped surrogates' version), None outside a checkout."""
    import subprocess

    try:
        return subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    import hwgpt
    from hwgpt.search_space import Arch, SearchSpace
    from hwgpt.surrogates.features import FeatureSpec, arch_arrays, feature_names, features
    from hwgpt.surrogates.from_file import fit_from_file
    from hwgpt.surrogates.transfer import TransferSettings

    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    df = load_published(args.source, args.data, args.scale, "latency", out / f"published_{args.scale}_latency.parquet")
    df = df[~df["flags"].fillna("").str.contains("contended")]
    space = SearchSpace.from_name(args.scale)
    seen, seen_info = seen_by_sources(df, args.scale, "latency")
    devices = args.devices.split(",") if args.devices else sorted(set(df["device"]) & set(README_S_K20))
    results: dict[str, Any] = {"scale": args.scale, "k": args.k, "reps": args.reps, "n_test": args.n_test,
                               "seen_by_sources": seen_info, "devices": {}, "started": dt.datetime.now(dt.UTC)
                               .isoformat(timespec="seconds"), "git_commit": _git_commit()}
    extra = {} if args.scores_per_arch is None else {"scores_per_arch": args.scores_per_arch}
    results["transfer_settings"] = TransferSettings(method=args.method, **extra).to_dict()
    for device in tqdm(devices, desc="devices"):
        rows = df[df["device"] == device]
        groups = {a: g for a, g in rows.groupby("arch_id")}
        pool = sorted(a for a in groups if a not in seen)
        in_sample = len(pool) < args.k + args.n_test
        if in_sample:
            log.warning("%s: only %d archs unseen by the sources; using all %d (test archs are in-sample for them)",
                        device, len(pool), len(groups))
            pool = sorted(groups)
        rng = np.random.default_rng(args.seed)
        test = [pool[i] for i in rng.choice(len(pool), args.n_test, replace=False)]
        rest = sorted(set(pool) - set(test))
        first = rows.drop_duplicates("arch_id").set_index("arch_id")["arch"]
        arch_of = {a: Arch.from_dict(json.loads(first[a])) for a in set(test) | set(rest)}
        spec = FeatureSpec(int(rows["batch"].iloc[0]), int(rows["seq_len"].iloc[0]), str(rows["dtype"].iloc[0]))
        names = feature_names(space)
        flops = features(arch_arrays([arch_of[a] for a in rest], space), space, spec)[:, names.index("log10_flops")]
        test_archs = [arch_of[a] for a in test]
        test_obs = [groups[a]["value"].to_numpy(float) for a in test]
        reps = []
        for rep in range(args.reps):
            adapt = stratified(rest, flops, args.k, np.random.default_rng([args.seed, rep]))
            with tempfile.TemporaryDirectory(prefix="lodo_from_file_") as tmp:
                path = Path(tmp) / f"{device}_{rep}.csv"
                write_file(pd.concat([groups[a] for a in adapt]), device, path)
                t0 = time.perf_counter()
                fit = fit_from_file(path, device, args.scale, overwrite=True, out_dir=Path(tmp) / "surrogates",
                                    settings=TransferSettings(method=args.method, seed=rep, **extra))
                secs = time.perf_counter() - t0
                bench = hwgpt.Benchmark(args.scale, device=device, artifacts_dir=Path(tmp) / "surrogates")
                s = score(bench, test_archs, test_obs)
                rep_out = {**s, "method": fit["metrics"]["latency"]["method"],
                           "sources": fit["metrics"]["latency"]["sources"], "fit_seconds": round(secs, 2),
                           "cv_kendall_tau": fit["metrics"]["latency"]["kendall_tau"],
                           "cv_coverage_0.9": fit["metrics"]["latency"]["coverage_0.9"]}
                assert device not in rep_out["sources"], "the route must leave the same-named shipped device out"
                reps.append(rep_out)
        shipped = score(hwgpt.Benchmark(args.scale, device=device), test_archs, test_obs)
        mean = {k: float(np.mean([r[k] for r in reps])) for k in ("kendall_tau", "median_relative_error",
                                                                  "coverage_0.9", "coverage_of_medians_0.9")}
        results["devices"][device] = {"mean": mean, "min_coverage_0.9": min(r["coverage_0.9"] for r in reps),
                                      "max_coverage_0.9": max(r["coverage_0.9"] for r in reps),
                                      "reps": reps, "test_archs_unseen_by_sources": not in_sample,
                                      "shipped_own_surrogate": shipped}
        log.info("%s: tau %.3f, med. rel. err. %.3f, 90%% coverage %.3f (README: %s)", device, mean["kendall_tau"],
                 mean["median_relative_error"], mean["coverage_0.9"], README_S_K20.get(device))
        (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "table.md").write_text(table(results))
    return results


def table(results: dict[str, Any]) -> str:
    """Markdown: per device, this route next to the README's k = 20 numbers and the device's own shipped surrogate."""
    lines = ["| device | file route tau | med. rel. err. | 90% cov. of obs. (min-max over draws) | of medians | "
             "README tau | README med. rel. err. | README 90% cov. | own shipped surrogate tau / 90% cov. |",
             "|---|---|---|---|---|---|---|---|---|"]
    taus, covs, rtaus, rcovs, stau, scov = [], [], [], [], [], []
    for d, r in results["devices"].items():
        m, own = r["mean"], r["shipped_own_surrogate"]
        ref = README_S_K20.get(d, (float("nan"),) * 3)
        lines.append(f"| {d} | {m['kendall_tau']:.3f} | {m['median_relative_error']:.3f} | {m['coverage_0.9']:.3f} "
                     f"({r['min_coverage_0.9']:.2f}-{r['max_coverage_0.9']:.2f}) | "
                     f"{m['coverage_of_medians_0.9']:.3f} | {ref[0]:.3f} | {ref[1]:.3f} | {ref[2]:.3f} | "
                     f"{own['kendall_tau']:.3f} / {own['coverage_0.9']:.3f} |")
        taus.append(m["kendall_tau"]), covs.append(m["coverage_0.9"]), rtaus.append(ref[0]), rcovs.append(ref[2])
        stau.append(own["kendall_tau"]), scov.append(own["coverage_0.9"])
    lines.append(f"| **median** | **{np.median(taus):.3f}** | | **{np.median(covs):.3f}** ({min(covs):.2f}-"
                 f"{max(covs):.2f}) | | **{np.nanmedian(rtaus):.3f}** | | **{np.nanmedian(rcovs):.3f}** | "
                 f"{np.median(stau):.3f} / {np.median(scov):.3f} |")
    draws = [x["coverage_0.9"] for r in results["devices"].values() for x in r["reps"]]
    lines.append(f"\nOver all {len(draws)} fits: mean 90% coverage of observations {np.mean(draws):.3f}, "
                 f"{sum(c < 0.8 for c in draws)} fits below 0.80.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", help="git dir of automl/HW-Aware-LLM-Bench (read at the importer's commit)")
    p.add_argument("--data", help="output dir of python -m hwgpt.importers.hwgptbench (instead of --source)")
    p.add_argument("--out", required=True, help="results.json, table.md and the observation cache go here")
    p.add_argument("--scale", default="s")
    p.add_argument("--devices", default=None, help="comma-separated (default: every published device of the scale)")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--method", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scores-per-arch", type=int, default=None,
                   help="TransferSettings.scores_per_arch (default: its default, as the route uses)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    logging.getLogger("hwgpt").setLevel(logging.WARNING)
    res = run(args)
    sys.stdout.write(table(res))


if __name__ == "__main__":
    main()
