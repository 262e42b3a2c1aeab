"""Compare optimizers over the runs of a multirun dir: ``python -m hwgpt.search.report <multirun dir>``.

Reads every ``results.json`` below the directory, groups runs by problem (scale, objectives,
devices, budgets, noise), and per optimizer reports, as mean ± standard error over seeds:

* **by evaluations**: the hypervolume after ``n`` evaluations, ``n`` the smallest number any run of
  the problem made (observed, and of the medians of the evaluated archs);
* **by simulated time**: the hypervolume once ``T`` simulated hours were spent, ``T`` the smallest
  total any run of the problem spent (the paper compares optimizers by wall-clock budget);
* the mean rank among optimizers on the same seed by the medians' hypervolume at ``T`` (1 = best),
  the simulated hours and the optimizer's own wall time.

Writes ``report.md``, ``report.csv``, and per problem ``report_<i>.png`` (hypervolume of the
medians, noise-free, beside the observed one; mean ± s.e. over seeds, by evaluations; the y-axis
zoomed onto the band where optimizers differ), ``report_time_<i>.png`` (the same by simulated time) and
``fronts_<i>.png`` (each optimizer's Pareto front at its lowest seed) into the directory (or
``--out``), and prints the markdown table.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwgpt.search.plots import plot_comparison, plot_fronts
from hwgpt.search.runs import load_runs, problem_of
from hwgpt.search.wandb_report import publish

log = logging.getLogger(__name__)


def _se(x: pd.Series) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def _curve(r: dict[str, Any], key: str) -> np.ndarray:
    c = r.get(key) or r["hypervolume_curve"]
    return np.array(c, dtype=np.float64).reshape(-1, 2)[:, 1]


def _hours(r: dict[str, Any]) -> np.ndarray:
    return np.array([e.get("cumulative_simulated_seconds", np.nan) for e in r["history"]], dtype=np.float64) / 3600


def hv_at_evals(r: dict[str, Any], n: int, key: str = "hypervolume_curve") -> float:
    c = _curve(r, key)
    return float(c[min(n, len(c)) - 1]) if len(c) else 0.0


def hv_at_hours(r: dict[str, Any], hours: float, key: str = "hypervolume_curve") -> float:
    """Hypervolume of the evaluations finished within ``hours`` simulated hours (0 before the first)."""
    c, t = _curve(r, key), _hours(r)
    k = int(np.searchsorted(t, hours * (1 + 1e-12), side="right"))
    return float(c[k - 1]) if k else 0.0


def aggregate(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (problem, optimizer): seeds, budgets, hypervolumes by evaluations and by time, rank, times."""
    rows = []
    by_problem: dict[str, list[dict]] = {}
    for r in runs:
        by_problem.setdefault(problem_of(r), []).append(r)
    for problem, rs in by_problem.items():
        n = min(len(r["history"]) for r in rs)
        T = min(float(r.get("simulated_seconds", 0.0)) for r in rs) / 3600
        for r in rs:
            rows.append({
                "problem": problem, "optimizer": r["optimizer"], "seed": r["seed"], "n_evals": r["n_evals"],
                "common_n": n, "common_hours": T, "sim_hours": float(r.get("simulated_seconds", np.nan)) / 3600,
                "hv_n": hv_at_evals(r, n), "hvm_n": hv_at_evals(r, n, "hypervolume_median_curve"),
                "hv_t": hv_at_hours(r, T), "hvm_t": hv_at_hours(r, T, "hypervolume_median_curve"),
                "optimizer_s": r.get("timing", {}).get("optimizer_s", np.nan),
                "complete": r.get("complete", True),
            })
    df = pd.DataFrame(rows)
    df["rank"] = df.groupby(["problem", "seed"])["hvm_t"].rank(ascending=False, method="average")
    g = df.groupby(["problem", "optimizer"])
    out = pd.DataFrame({
        "seeds": g["seed"].nunique(), "n_evals": g["n_evals"].mean(), "common_n": g["common_n"].first(),
        "common_hours": g["common_hours"].first(), "sim_hours": g["sim_hours"].mean(),
        **{f"{k}_mean": g[k].mean() for k in ("hv_n", "hvm_n", "hv_t", "hvm_t")},
        **{f"{k}_se": g[k].agg(_se) for k in ("hv_n", "hvm_n", "hv_t", "hvm_t")},
        "mean_rank": g["rank"].mean(), "optimizer_s": g["optimizer_s"].mean(),
        "incomplete": (~g["complete"].all()),
    }).reset_index()
    return out.sort_values(["problem", "hvm_t_mean"], ascending=[True, False], ignore_index=True)


def to_markdown(table: pd.DataFrame) -> str:
    """The aggregate as a markdown table (mean ± s.e.)."""
    pm = lambda m, s: f"{m:.4f} ± {s:.4f}"  # noqa: E731
    lines = ["| problem | optimizer | seeds | evals | sim. hours | HV @ n evals | HV(medians) @ n evals | "
             "HV @ T hours | HV(medians) @ T hours | mean rank @ T | optimizer s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(
            f"| {r.problem} | {r.optimizer}{' (incomplete)' if r.incomplete else ''} | {r.seeds} | {r.n_evals:.0f} | "
            f"{r.sim_hours:.3g} | {pm(r.hv_n_mean, r.hv_n_se)} | {pm(r.hvm_n_mean, r.hvm_n_se)} | "
            f"{pm(r.hv_t_mean, r.hv_t_se)} | {pm(r.hvm_t_mean, r.hvm_t_se)} | {r.mean_rank:.2f} | "
            f"{r.optimizer_s:.1f} |")
    budgets = table.groupby("problem")[["common_n", "common_hours"]].first()
    lines.append("")
    lines += [f"{p}: n = {int(b.common_n)} evaluations, T = {b.common_hours:.4g} simulated hours"
              for p, b in budgets.iterrows()]
    return "\n".join(lines)


def curves(runs: list[dict[str, Any]], problem: str, key: str = "hypervolume_median_curve",
           by: str = "evals", points: int = 200) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{optimizer: (x, mean, se)}`` of one problem's hypervolume curves.

    ``by``: ``evals`` (x = 1..n, n the fewest evaluations of the optimizer's runs), ``hours`` or
    ``seconds`` (x = simulated time up to the problem's common budget ``T``, ``points`` steps).
    """
    rs = [r for r in runs if problem_of(r) == problem]
    by_opt: dict[str, list[dict]] = {}
    for r in rs:
        by_opt.setdefault(r["optimizer"], []).append(r)
    out = {}
    timed = by in ("hours", "seconds")
    if timed:
        T = min(float(r.get("simulated_seconds", 0.0)) for r in rs) / 3600
        grid = np.linspace(0.0, T, points)
    for opt, group in sorted(by_opt.items()):
        if timed:
            M = np.array([[hv_at_hours(r, t, key) for t in grid] for r in group])
            x = grid * 3600 if by == "seconds" else grid
        else:
            n = min(len(r["history"]) for r in group)
            M = np.stack([_curve(r, key)[:n] for r in group])
            x = np.arange(1, n + 1)
        se = M.std(axis=0, ddof=1) / np.sqrt(len(M)) if len(M) > 1 else np.zeros(M.shape[1])
        out[opt] = (x, M.mean(axis=0), se)
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
        rs = [r for r in runs if problem_of(r) == problem]
        hv_max = max(r.get("hypervolume_max", 0.0) for r in rs) or None
        seeds = {opt: len({r["seed"] for r in rs if r["optimizer"] == opt}) for opt in {r["optimizer"] for r in rs}}
        counts = sorted(set(seeds.values()))
        n_seeds = f"{counts[0]} seed{'s' if counts[0] != 1 else ''}" if len(counts) == 1 else \
            f"{counts[0]}-{counts[-1]} seeds"
        title = f"{problem}: hypervolume, mean ± s.e. over {n_seeds}"
        plot_comparison(curves(runs, problem), out / f"report_{i}.png", title=title, hv_max=hv_max, seeds=seeds,
                        noisy=curves(runs, problem, key="hypervolume_curve"))
        plot_comparison(curves(runs, problem, by="seconds"), out / f"report_time_{i}.png", title=title,
                        hv_max=hv_max, seeds=seeds, seconds=True,
                        noisy=curves(runs, problem, key="hypervolume_curve", by="seconds"))
        first_seed = {}  # the Pareto front of each optimizer's lowest seed
        for r in sorted(rs, key=lambda r: r["seed"]):
            first_seed.setdefault(r["optimizer"], r)
        seed = min(r["seed"] for r in first_seed.values())
        plot_fronts(first_seed, out / f"fronts_{i}.png", title=f"{problem}: Pareto fronts (seed {seed})")
    log.info("%d runs aggregated into %s", len(runs), out)
    return table


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("multirun_dir", type=Path, help="directory holding the runs' results.json files")
    p.add_argument("--out", type=Path, default=None, help="where to write report.md/.csv/.png (default: multirun_dir)")
    p.add_argument("--wandb", action="store_true",
                   help="also build a W&B Report (wandb-workspaces): saved when an API key is set, otherwise "
                        "its spec is written as report_wandb.json with the steps to publish it")
    p.add_argument("--project", default=None, help="W&B project of the report (default: the runs' project)")
    p.add_argument("--entity", default=None, help="W&B entity of the report (default: the runs' / your default)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out or args.multirun_dir)
    table = report(args.multirun_dir, out)
    sys.stdout.write(to_markdown(table) + "\n")
    if args.wandb:
        publish(Path(args.multirun_dir), out, to_markdown(table), sorted(table["problem"].unique()),
                load_runs(args.multirun_dir), args.project, args.entity)


if __name__ == "__main__":
    from hwgpt.errors import cli_main

    cli_main(main, None, what="python -m hwgpt.search.report")  # bad input: one line, exit status 2
