"""Validation of budgeted search (issue 17): regret against a brute-force truth, violation rates, device example.

    nice -n 10 python scripts/constraints_validation.py truth      # >= 100,000 random archs per scale, medians
    nice -n 10 python scripts/constraints_validation.py regret     # every optimizer, 5 seeds (resumable)
    nice -n 10 python scripts/constraints_validation.py violations # "best under budget" on a fresh measurement
    nice -n 10 python scripts/constraints_validation.py example    # best ppl under a latency budget, A100 vs RTX 2080
    python scripts/constraints_validation.py table                 # Markdown tables from the JSON

Everything goes to ``docs/results/constraints/`` (``--out`` to change); each search run is one JSON
under ``runs/`` and is skipped when present, so an interrupted ``regret`` continues where it stopped.
Search runs use the shipped surrogates through :func:`hwgpt.search.run` (run directories in a
temporary folder, deleted after).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("constraints_validation")

N_TRUTH = 100_000
BUDGET_QUANTILE = 0.3  # budgets at this quantile of the sampled params and flops: ~30% of archs are feasible
CHECKPOINTS = (100, 500, 2000)
SEEDS = (0, 1, 2, 3, 4)
LONG = ("rs", "ls", "morea", "nsga2", "moasha")  # to 2000 evaluations
BO = ("rsbo", "lsbo", "ehvi")  # to 100 evaluations (a GP fit per step)
DEVICE = {"tiny": "cpu", "s": "a100"}


def _round2(x: float) -> float:
    """Two significant digits."""
    return float(f"{x:.2g}")


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def truth(out: Path) -> dict[str, Any]:
    """Per scale: budgets on params and flops, and the best feasible median perplexity of N_TRUTH random archs."""
    from hwgpt import SearchSpace
    from hwgpt.benchmark import Benchmark

    res = {}
    for scale in ("tiny", "s"):
        t0 = time.perf_counter()
        space = SearchSpace.from_name(scale)
        archs = space.sample_unique(N_TRUTH, 2024)
        q = Benchmark(scale=scale, device=DEVICE[scale]).query(archs, metrics=["perplexity", "params", "flops"])
        budgets = {m: _round2(float(np.quantile(q[m], BUDGET_QUANTILE))) for m in ("params", "flops")}
        ok = (q["params"] <= budgets["params"]) & (q["flops"] <= budgets["flops"])
        i = int(np.flatnonzero(ok)[np.argmin(q["perplexity"][ok])])
        res[scale] = {"n_archs": len(archs), "budgets": budgets, "n_feasible": int(ok.sum()),
                      "best_perplexity": float(q["perplexity"][i]), "best_arch": archs[i].to_dict(),
                      "best_params": float(q["params"][i]), "best_flops": float(q["flops"][i]),
                      "unconstrained_best_perplexity": float(q["perplexity"].min()),
                      "seconds": time.perf_counter() - t0}
        log.info("truth %s: %s", scale, res[scale])
    _write(out / "truth.json", res)
    return res


def _cfg(overrides: list[str], run_dir: Path) -> Any:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from hwgpt.search.runner import resolve_scale

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("search", overrides=["logger=none", "progress=false", *overrides], return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.hydra.runtime.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    resolve_scale(cfg)
    return cfg


def search(overrides: list[str]) -> dict[str, Any]:
    """One run of search.py (as overrides), in a temporary run dir."""
    from hwgpt.search import run

    tmp = Path(tempfile.mkdtemp(prefix="hwgpt-constraints-"))
    try:
        return run(_cfg(overrides, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _best_curve(results: dict[str, Any], checkpoints: tuple[int, ...], medians: dict[str, float]) -> dict[str, Any]:
    """Recommended arch after k evaluations: the best *observed* perplexity among observed-feasible ones;
    its value is its noise-free median (the truth)."""
    out = {}
    best_obs, best_true = np.inf, np.nan
    marks = set(checkpoints)
    for k, e in enumerate(results["history"], start=1):
        if e["feasible"] and e["objectives"]["perplexity"] < best_obs:
            best_obs = e["objectives"]["perplexity"]
            best_true = medians[json.dumps(e["arch"], sort_keys=True)]
        if k in marks:
            out[str(k)] = None if np.isnan(best_true) else float(best_true)
    return out


def regret(out: Path, optimizers: list[str], scales: list[str], seeds: tuple[int, ...]) -> None:
    """Each optimizer under the params+flops budget, objective perplexity (ehvi: [perplexity, params])."""
    from hwgpt.benchmark import Benchmark
    from hwgpt.search_space import Arch

    tr = json.loads((out / "truth.json").read_text())
    for scale in scales:
        b = tr[scale]["budgets"]
        bench = Benchmark(scale=scale, device=DEVICE[scale])
        for opt in optimizers:
            n = max(CHECKPOINTS) if opt in LONG else CHECKPOINTS[0]
            for seed in seeds:
                path = out / "runs" / f"regret_{scale}_{opt}_seed{seed}.json"
                lock = path.with_suffix(".lock")  # several processes may share the list (run dirs in /tmp)
                if path.is_file() or lock.exists():
                    continue
                lock.parent.mkdir(parents=True, exist_ok=True)
                lock.touch()
                objectives = "[perplexity,params]" if opt == "ehvi" else "[perplexity]"
                t0 = time.perf_counter()
                res = search([f"optimizer={opt}", f"scale={scale}", f"device={DEVICE[scale]}", f"seed={seed}",
                              f"objectives={objectives}", f"n_evals={n}",
                              f"constraints={{params:{b['params']},flops:{b['flops']}}}"])
                archs = [Arch.from_dict(e["arch"]) for e in res["history"]]
                med = bench.query(archs, metrics=["perplexity"])["perplexity"]
                medians = {json.dumps(e["arch"], sort_keys=True): float(m) for e, m in zip(res["history"], med,
                                                                                             strict=True)}
                curve = _best_curve(res, tuple(c for c in CHECKPOINTS if c <= n), medians)
                row = {"scale": scale, "optimizer": opt, "seed": seed, "n_evals": len(res["history"]),
                       "objectives": res["objectives"], "best_true_perplexity": curve,
                       "regret": {k: (None if v is None else v - tr[scale]["best_perplexity"])
                                  for k, v in curve.items()},
                       "n_feasible_observed": res["n_feasible_observed"], "wall_seconds": time.perf_counter() - t0}
                _write(path, row)
                lock.unlink(missing_ok=True)
                log.info("%s %s seed %d: regret %s (%.0f s)", scale, opt, seed, row["regret"], row["wall_seconds"])


def summarize(out: Path) -> dict[str, Any]:
    """Mean and standard error of the regret per scale, optimizer and checkpoint."""
    rows = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("regret_*.json"))]
    summary: dict[str, Any] = {}
    for r in rows:
        for k, v in r["regret"].items():
            summary.setdefault(r["scale"], {}).setdefault(r["optimizer"], {}).setdefault(k, []).append(v)
    table: dict[str, Any] = {}
    for scale, opts in summary.items():
        for opt, ks in opts.items():
            for k, vals in ks.items():
                ok = [v for v in vals if v is not None]
                se = float(np.std(ok, ddof=1) / np.sqrt(len(ok))) if len(ok) > 1 else float("nan")
                table.setdefault(scale, {}).setdefault(opt, {})[k] = {
                    "mean": float(np.mean(ok)) if ok else None, "se": se, "n_seeds": len(vals),
                    "n_without_feasible": len(vals) - len(ok)}
    _write(out / "regret.json", table)
    return table


def violations(out: Path, n_seeds: int = 50, n_evals: int = 500, budget: float = 0.015, fresh: int = 2000) -> None:
    """S on A100, best perplexity under a latency budget, random search: how often the answer's fresh
    measurement (median of 10 forwards, new draws) breaks the budget, with and without the P >= 0.9 rule."""
    from hwgpt.benchmark import Benchmark
    from hwgpt.search_space import Arch

    bench = Benchmark(scale="s", device="a100")
    rows = []
    for seed in range(n_seeds):
        res = search(["optimizer=rs", "scale=s", "device=a100", f"seed={seed}", "objectives=[perplexity]",
                      f"n_evals={n_evals}", f"constraints={{latency:{budget}}}"])
        obs = [e for e in res["history"] if e["feasible"]]
        naive = min(obs, key=lambda e: e["objectives"]["perplexity"]) if obs else None
        ruled = res.get("best")
        row = {"seed": seed}
        for name, e in (("observed_feasible", naive), ("p_rule", ruled)):
            if e is None:
                row[name] = None
                continue
            a = Arch.from_dict(e["arch"])
            seeds = np.arange(10**9 + seed * fresh, 10**9 + (seed + 1) * fresh, dtype=np.uint64)
            draws = bench.sample_observations([a] * fresh, "latency", seed=seeds, repeats=10)
            row[name] = {"perplexity": float(e["objectives"]["perplexity"]),
                         "observed_latency": e["constraints"]["latency"],
                         "p_feasible": e["p_feasible"], "fresh_violation_rate": float(np.mean(draws > budget)),
                         "first_fresh_violates": bool(draws[0] > budget)}
        rows.append(row)
        log.info("violations seed %d: %s", seed, row)
    summary = {}
    for name in ("observed_feasible", "p_rule"):
        ok = [r[name] for r in rows if r[name] is not None]
        rates = np.array([r["fresh_violation_rate"] for r in ok])
        summary[name] = {"n_runs": len(ok), "mean_violation_probability": float(rates.mean()),
                         "se": float(rates.std(ddof=1) / np.sqrt(len(rates))),
                         "runs_whose_first_fresh_measurement_violates": int(sum(r["first_fresh_violates"] for r in ok)),
                         "mean_perplexity": float(np.mean([r["perplexity"] for r in ok]))}
    _write(out / "violations.json", {"setting": {"scale": "s", "device": "a100", "optimizer": "rs",
                                                 "n_evals": n_evals, "budget_latency_s": budget, "seeds": n_seeds,
                                                 "fresh_measurements_per_answer": fresh, "repeats": 10},
                                     "summary": summary, "runs": rows})


def example(out: Path, n_archs: int = N_TRUTH, budget_a100: float = 0.015) -> None:
    """Best perplexity under a latency budget at S on A100 and on RTX 2080 (P >= 0.9), from N random archs.

    The RTX 2080 budget is the latency at the same quantile of its distribution over the sample as
    ``budget_a100`` on the A100, so both budgets are equally tight; the answers are compared across devices.
    """
    from hwgpt import SearchSpace
    from hwgpt.benchmark import Benchmark
    from hwgpt.search.constraints import ConstraintSet, parse_constraints
    from hwgpt.search.objectives import parse_objectives
    from hwgpt.search.problem import SurrogateProblem

    space = SearchSpace.from_name("s")
    archs = space.sample_unique(n_archs, 7)
    ppl = Benchmark(scale="s", device="a100").query(archs, metrics=["perplexity"])["perplexity"]
    lat = {d: Benchmark(scale="s", device=d).query(archs, metrics=["latency"])["latency"] for d in ("a100", "rtx2080")}
    share = float(np.mean(lat["a100"] <= budget_a100))
    budgets = {"a100": budget_a100, "rtx2080": _round2(float(np.quantile(lat["rtx2080"], share)))}
    res: dict[str, Any] = {"n_archs": n_archs, "budgets": budgets, "share_under_budget_a100": share}
    best = {}
    for dev, b in budgets.items():
        problem = SurrogateProblem(Benchmark, "s", parse_objectives(["perplexity"], dev), dev, True, 0)
        cs = ConstraintSet(parse_constraints({"latency": b}, dev), problem)
        # In order of perplexity, the first arch whose fresh measurement meets the budget with P >= 0.9
        # (P only where the median is within 1.5x of the budget; beyond, P < 1e-6 on this device).
        order = np.argsort(ppl)
        order = order[lat[dev][order] <= 1.5 * b]
        i, p_i, skipped = None, 0.0, 0
        for start in range(0, len(order), 256):
            chunk = order[start:start + 256]
            P = cs.joint_probability([archs[j] for j in chunk])
            hit = np.flatnonzero(P >= 0.9)
            k = int(hit[0]) if len(hit) else len(chunk)
            skipped += int(np.sum(lat[dev][chunk[:k]] <= b))  # median under the budget, yet P < 0.9
            if len(hit):
                i, p_i = int(chunk[k]), float(P[k])
                break
        under = order[lat[dev][order] <= b]  # the naive answer: best median under the budget
        naive = int(under[0])
        best[dev] = i
        res[dev] = {"budget_s": b, "best_perplexity": float(ppl[i]), "arch": archs[i].to_dict(),
                    "median_latency_s": float(lat[dev][i]), "p_feasible": p_i,
                    "better_archs_with_median_under_budget_but_p_below_0.9": skipped,
                    "naive_best_median_under_budget": {"perplexity": float(ppl[naive]),
                                                        "median_latency_s": float(lat[dev][naive]),
                                                        "p_feasible": float(cs.joint_probability([archs[naive]])[0])}}
    for dev, other in (("a100", "rtx2080"), ("rtx2080", "a100")):
        i = best[dev]
        problem = SurrogateProblem(Benchmark, "s", parse_objectives(["perplexity"], other), other, True, 0)
        cs = ConstraintSet(parse_constraints({"latency": budgets[other]}, other), problem)
        res[dev][f"on_{other}"] = {"median_latency_s": float(lat[other][i]),
                                   "p_meets_its_budget": float(cs.joint_probability([archs[i]])[0])}
    res["same_arch"] = best["a100"] == best["rtx2080"]
    res["latency_surrogates"] = {d: {k: Benchmark(scale="s", device=d).report("latency").get(k)
                                     for k in ("created", "data_sha256")} for d in budgets}
    _write(out / "example.json", res)
    log.info("example: %s", res)


def _fmt(x: dict[str, Any] | None) -> str:
    if not x or x.get("mean") is None:
        return "–"
    return f"{x['mean']:.3f} ± {x['se']:.3f}"


def table(out: Path) -> str:
    """Markdown regret table (from regret.json and truth.json)."""
    tr = json.loads((out / "truth.json").read_text())
    reg = summarize(out)
    lines = []
    for scale in ("tiny", "s"):
        if scale not in reg:
            continue
        t = tr[scale]
        lines += [f"**{scale}** (device {DEVICE[scale]}): params ≤ {t['budgets']['params']:g} and flops ≤ "
                  f"{t['budgets']['flops']:g}; best feasible perplexity of {t['n_archs']:,} random archs "
                  f"(medians): {t['best_perplexity']:.3f} ({t['n_feasible']:,} feasible)", "",
                  "| optimizer | regret @100 | regret @500 | regret @2000 | seeds |", "|---|---|---|---|---|"]
        for opt in (*LONG, *BO):
            if opt in reg[scale]:
                r = reg[scale][opt]
                lines.append(f"| {opt} | {_fmt(r.get('100'))} | {_fmt(r.get('500'))} | {_fmt(r.get('2000'))} | "
                             f"{r['100']['n_seeds']} |")
        lines.append("")
    text = "\n".join(lines)
    (out / "regret_table.md").write_text(text)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["truth", "regret", "violations", "example", "table"])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "constraints")
    p.add_argument("--optimizers", default=",".join((*LONG, *BO)))
    p.add_argument("--scales", default="tiny,s")
    p.add_argument("--seeds", type=int, default=len(SEEDS))
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for name in ("hwgpt", "syne_tune", "botorch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if a.what == "truth":
        truth(a.out)
    elif a.what == "regret":
        regret(a.out, a.optimizers.split(","), a.scales.split(","), tuple(range(a.seeds)))
    elif a.what == "violations":
        violations(a.out, n_seeds=a.seeds)
    elif a.what == "example":
        example(a.out)
    else:
        print(table(a.out))  # noqa: T201 - a script's output


if __name__ == "__main__":
    main()
