"""Compare optimizers over the runs of a multirun dir: ``python -m hwgpt.search.report <multirun dir>``.

Reads every ``results.json`` below the directory, groups runs by problem (scale, objectives,
devices, noise), and per optimizer reports the final hypervolume (mean ± standard error over
seeds), the hypervolume of the medians, the mean rank among optimizers on the same seed (1 =
best) and the optimizer's wall time. Writes ``report.md``, ``report.csv``, and per problem
``report_<i>.png`` (mean hypervolume curve ± s.e.) and ``fronts_<i>.png`` (each optimizer's
Pareto front at its lowest seed) into the directory (or ``--out``), and prints the markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwgpt.search.plots import plot_comparison, plot_fronts

log = logging.getLogger(__name__)


def load_runs(root: Path) -> list[dict[str, Any]]:
    """Every ``results.json`` below ``root`` (sorted by path)."""
    paths = sorted(Path(root).rglob("results.json"))
    if not paths:
        raise FileNotFoundError(
            f"no results.json below {root}; run e.g. `python search.py -m optimizer=rs,ehvi seed=0,1,2`"
        )
    return [json.loads(p.read_text()) for p in paths]


def problem_of(r: dict[str, Any]) -> str:
    """A short label of what was optimised: scale, objectives with devices, noise."""
    objs = ",".join(f"{k}@{r['devices'][k]}" if r["devices"].get(k) else k for k in r["objectives"])
    return f"{r['scale']}: {objs} ({'noisy' if r.get('noise', True) else 'medians'})"


def _se(x: pd.Series) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def aggregate(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (problem, optimizer): seeds, evaluations, hypervolume mean/se, mean rank, times."""
    df = pd.DataFrame([{
        "problem": problem_of(r), "optimizer": r["optimizer"], "seed": r["seed"], "n_evals": r["n_evals"],
        "hypervolume": r["hypervolume"], "hypervolume_median": r.get("hypervolume_median", np.nan),
        "optimizer_s": r.get("timing", {}).get("optimizer_s", np.nan),
        "benchmark_ms": 1e3 * r.get("timing", {}).get("benchmark_s", np.nan) / r["n_evals"],
    } for r in runs])
    df["rank"] = df.groupby(["problem", "seed", "n_evals"])["hypervolume"].rank(ascending=False, method="average")
    g = df.groupby(["problem", "optimizer"])
    out = pd.DataFrame({
        "seeds": g["seed"].nunique(), "n_evals": g["n_evals"].max(),
        "hv_mean": g["hypervolume"].mean(), "hv_se": g["hypervolume"].agg(_se),
        "hv_median_mean": g["hypervolume_median"].mean(), "hv_median_se": g["hypervolume_median"].agg(_se),
        "mean_rank": g["rank"].mean(), "optimizer_s": g["optimizer_s"].mean(), "benchmark_ms": g["benchmark_ms"].mean(),
    }).reset_index()
    return out.sort_values(["problem", "hv_mean"], ascending=[True, False], ignore_index=True)


def to_markdown(table: pd.DataFrame) -> str:
    """The aggregate as a markdown table (mean ± s.e.)."""
    lines = ["| problem | optimizer | seeds | evals | hypervolume | hypervolume (medians) | mean rank | optimizer s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.problem} | {r.optimizer} | {r.seeds} | {r.n_evals} | {r.hv_mean:.4f} ± {r.hv_se:.4f} | "
                     f"{r.hv_median_mean:.4f} ± {r.hv_median_se:.4f} | {r.mean_rank:.2f} | {r.optimizer_s:.1f} |")
    return "\n".join(lines)


def curves(runs: list[dict[str, Any]], problem: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{optimizer: (n, mean, se)}`` of the hypervolume curves of one problem (common length)."""
    by_opt: dict[str, list[np.ndarray]] = {}
    for r in runs:
        if problem_of(r) == problem:
            by_opt.setdefault(r["optimizer"], []).append(np.array(r["hypervolume_curve"])[:, 1])
    out = {}
    for opt, cs in sorted(by_opt.items()):
        n = min(len(c) for c in cs)
        M = np.stack([c[:n] for c in cs])
        se = M.std(axis=0, ddof=1) / np.sqrt(len(M)) if len(M) > 1 else np.zeros(n)
        out[opt] = (np.arange(1, n + 1), M.mean(axis=0), se)
    return out


def report(root: Path, out: Path | None = None) -> pd.DataFrame:
    """Aggregate the runs below ``root``; write report.md/.csv/.png into ``out`` (default ``root``)."""
    runs = load_runs(root)
    out = Path(out or root)
    out.mkdir(parents=True, exist_ok=True)
    table = aggregate(runs)
    table.to_csv(out / "report.csv", index=False)
    (out / "report.md").write_text(to_markdown(table) + "\n")
    for i, problem in enumerate(sorted(table["problem"].unique())):
        plot_comparison(curves(runs, problem), out / f"report_{i}.png", title=problem)
        first_seed = {}  # the Pareto front of each optimizer's lowest seed
        for r in sorted((r for r in runs if problem_of(r) == problem), key=lambda r: r["seed"]):
            first_seed.setdefault(r["optimizer"], r)
        seed = min(r["seed"] for r in first_seed.values())
        plot_fronts(first_seed, out / f"fronts_{i}.png", title=f"{problem}: Pareto fronts (lowest seed, {seed})")
    log.info("%d runs aggregated into %s", len(runs), out)
    return table


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("multirun_dir", type=Path, help="directory holding the runs' results.json files")
    p.add_argument("--out", type=Path, default=None, help="where to write report.md/.csv/.png (default: multirun_dir)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    table = report(args.multirun_dir, args.out)
    sys.stdout.write(to_markdown(table) + "\n")


if __name__ == "__main__":
    main()
