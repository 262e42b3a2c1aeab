"""Search optimizers on the benchmark: wall time split (benchmark vs optimizer) and hypervolume ranking.

First the simulator's hot path on the shipped tiny surrogates (wall and CPU time, so a busy
machine can be told from a slow benchmark): a noisy draw of an arch seen before (target <= 50 µs),
of an unseen arch (target <= 0.3 ms), batched draws per second (target >= 1e6), and one search
evaluation (perplexity + latency at 10 repeats + simulated seconds; target <= 0.05 ms).

Then each optimizer runs ``--n-evals`` evaluations per seed (BO optimizers ``--bo-evals``, their GP
fits grow with the history) through ``hwgpt.search.run`` on composed conf/search.yaml. Reported per
optimizer, side by side: benchmark ms per evaluation and optimizer ms per evaluation; optimizer
seconds per run, final hypervolume mean ± s.e. over seeds, and the mean rank at the common budget
(the smallest number of evaluations any optimizer ran) on both the observed hypervolume and the
hypervolume of the medians. The paper (Sec. 6, Fig. 6/7) finds EHVI and NSGA-II ahead of RS and LS.

Benchmarks (``--benchmark``): ``shipped`` (hwgpt.Benchmark on the packaged surrogates), ``fitted``
(hwgpt.Benchmark on XGBoost surrogates fitted here on synthetic observations: real query cost,
invented numbers), ``analytic`` (hwgpt.search.analytic.AnalyticBenchmark), ``auto`` (shipped if it
has perplexity and latency, else fitted).

Usage: ``python bench/bench_search.py [--n-evals 500] [--bo-evals 100] [--seeds 5] [--optimizers rs,ls,...]``
(``--micro-only``: just the hot path).

``--bo-steps 25,50,100,200,400`` (issue 19): a BO step's time (GP fit + acquisition) of rsbo, lsbo and
ehvi by number of observations (random archs' noisy observations; ``--override`` picks the problem, e.g.
the paper's 3-objective case, or the settings: ``--override '++optimizer.searcher.warm_start=false'``),
the mean of ``--bo-step-count`` consecutive steps (warm-started fits as a run meets them).

``--fastpath`` (issue 19): instead of the comparison, the fast-path table: rs, nsga2, morea, ls and
moasha on the shipped tiny surrogates at 2,000 and 7,000 evaluations (``--sizes``), side by side:
benchmark ms/eval and optimizer ms/eval (the run's own split, as its last log line), and how the
optimizer's cost per evaluation grows over the run: the last 500 evaluations' against the first 500's
(wall time between evaluations minus the benchmark's share, timed around ``SurrogateProblem.observe``,
``observe_rounds`` and ``prefetch``, and MOASHA's ``HWGPTBlackbox._objective_function``: the outermost call).
Targets: benchmark <= 0.05 ms/eval for all five; optimizer <= 0.5 ms/eval for rs, nsga2, morea and ls;
last/first within 1.5x. A row ``morea (batch_size=1)`` follows morea's (its default breeds
32 offspring from one population state; 1 is Syne Tune's sequential algorithm), to show what the batches buy.
``--json PATH`` writes the table.

``--batch-hv morea --batch-sizes 1,8,16,32 --sizes 100,300,2000,7000 --seeds 10``: the hypervolume of an
optimizer that evaluates ``batch_size`` suggestions from one state of the search, by batch size, paired by seed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import open_dict
from scipy.stats import rankdata

from hwgpt.search import run
from hwgpt.search.hypervolume import hypervolume
from hwgpt.search.objectives import Normalization, parse_objectives
from hwgpt.search.problem import SurrogateProblem
from hwgpt.search_space import Arch


def say(line: str = "") -> None:
    """The benchmark's output: its report on stdout."""
    sys.stdout.write(line + "\n")


CONF = Path(__file__).resolve().parents[1] / "conf"
ALL = ("rs", "morea", "nsga2", "ls", "moasha", "rsbo", "lsbo", "ehvi")
BO = ("rsbo", "lsbo", "ehvi")


def fit_synthetic(root: Path) -> Path:
    """Quantile/point surrogates of synthetic observations (perplexity, latency on 'cpu') into ``root``."""
    from hwgpt.search_space import SearchSpace
    from hwgpt.surrogates.fit import fit_all
    from hwgpt.surrogates.synthetic import synthetic_observations

    space = SearchSpace.from_name("tiny")
    frame = synthetic_observations(space, n_archs=300, repeats=8, seed=0, device="cpu",
                                   metrics=("latency", "perplexity"))
    fit_all(frame, space, "cpu", out_dir=root)
    return root


def choose_benchmark(kind: str, tmp: Path) -> tuple[list[str], str]:
    """Hydra overrides selecting the benchmark, and a description."""
    if kind in ("auto", "shipped"):
        try:
            import hwgpt

            b = hwgpt.Benchmark(scale="tiny")
            if {"perplexity", "latency"} <= set(b.metrics):
                return ["benchmark._target_=hwgpt.benchmark.Benchmark", f"device={b.device}"], f"shipped ({b.device})"
        except Exception as e:  # noqa: BLE001 - report and fall back
            logging.getLogger(__name__).info("no shipped benchmark: %s", e)
        if kind == "shipped":
            raise SystemExit("no shipped tiny surrogates with perplexity and latency")
        kind = "fitted"
    if kind == "fitted":
        t0 = time.perf_counter()
        root = fit_synthetic(tmp / "artifacts")
        return (["benchmark._target_=hwgpt.benchmark.Benchmark", f"benchmark.artifacts_dir={root}", "device=cpu"],
                f"hwgpt.Benchmark on surrogates fitted to synthetic data ({time.perf_counter() - t0:.0f} s to fit)")
    return (["benchmark._target_=hwgpt.search.analytic.AnalyticBenchmark", "device=cpu"],
            "AnalyticBenchmark (synthetic)")


def compose_cfg(overrides: list[str], run_dir: Path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("search", overrides=["logger=none", "progress=false", *overrides])
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
    from hwgpt.search.runner import resolve_scale

    resolve_scale(cfg)
    return cfg


def median_hv_at(res: dict, n: int, problem: SurrogateProblem) -> float:
    """Hypervolume of the medians of the first ``n`` evaluated archs."""
    archs = [Arch.from_dict(e["arch"]) for e in res["history"][:n]]
    norm = Normalization(problem.objectives, {k: tuple(v) for k, v in res["normalization"].items()})
    return hypervolume(norm(problem.medians(archs)), np.array(res["reference_point"]))


def _timed(fn, n: int) -> tuple[float, float]:  # noqa: ANN001
    """(wall, CPU) seconds per call of ``fn(i)`` over ``i < n``."""
    w, c = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - w) / n, (time.process_time() - c) / n


def micro() -> None:
    """The hot path on the shipped tiny surrogates."""
    import hwgpt
    from hwgpt.search.objectives import parse_objectives
    from hwgpt.search.problem import SurrogateProblem

    b = hwgpt.Benchmark("tiny", "cpu")
    space = b.space
    archs = space.sample_unique(6000, seed=123)
    seen, unseen, rest = archs[:1000], archs[1000:1500], archs[1500:]
    b.sample_observations(seen, "latency", seed=0)
    b.sample_observation(unseen[0], "energy")  # load the energy surrogate outside the timing
    say("hot path (shipped tiny surrogates; wall / CPU):")
    w, c = _timed(lambda i: b.sample_observation(seen[i % 1000], "latency", seed=i), 20000)
    say(f"  noisy draw, seen arch            {1e6 * w:8.1f} / {1e6 * c:8.1f} µs   (target <= 50 µs)")
    w, c = _timed(lambda i: b.sample_observation(unseen[i], "energy", seed=i), len(unseen) - 1)
    say(f"  noisy draw, unseen arch          {1e3 * w:8.3f} / {1e3 * c:8.3f} ms   (target <= 0.3 ms)")
    batch = seen * 200
    seeds = np.arange(len(batch))
    w, c = _timed(lambda i: b.sample_observations(batch, "latency", seed=seeds), 3)
    say(f"  batched draws                    {len(batch) / w:8.3g} / {len(batch) / c:8.3g} per s (target >= 1e6)")
    p = SurrogateProblem(hwgpt.Benchmark, "tiny", parse_objectives(["perplexity", "latency"], "cpu"), "cpu")
    w, c = _timed(lambda i: p.observe(rest[i], i), 1000)
    say(f"  evaluation, new arch             {1e3 * w:8.3f} / {1e3 * c:8.3f} ms")
    chunk = rest[1000:3048]
    w0, c0 = time.perf_counter(), time.process_time()
    for k in range(0, len(chunk), 1024):  # as the runner does for rs (conf/optimizer/rs.yaml: prefetch)
        p.prefetch(chunk[k:k + 1024], start=1000 + k)
    wp, cp = (time.perf_counter() - w0) / len(chunk), (time.process_time() - c0) / len(chunk)
    w, c = _timed(lambda i: p.observe(chunk[i], 1000 + i), len(chunk))
    say(f"  evaluation, prefetched (rs)      {1e3 * (w + wp):8.3f} / {1e3 * (c + cp):8.3f} ms   (target <= 0.05 ms; "
        f"prefetch {1e3 * wp:.3f} / {1e3 * cp:.3f} of it)")
    w, c = _timed(lambda i: p.observe(chunk[i], 5000 + i), len(chunk))
    say(f"  evaluation, seen arch            {1e3 * w:8.3f} / {1e3 * c:8.3f} ms")
    say()


FAST = ("rs", "nsga2", "morea", "ls", "moasha")


FAST_VARIANTS = {"morea": [("morea (batch_size=1)", ["optimizer.searcher.batch_size=1"])]}
"""Extra rows of the fast-path table after an optimizer's own: (label, overrides). morea's default batch_size
is 32 (no worse in hypervolume than 1 on 10 seeds); the row shows the sequential algorithm's cost."""


def fastpath_run(opt: str, n: int, run_dir: Path, seed: int = 0, overrides: list[str] | None = None,
                 label: str | None = None) -> dict:
    """One run of ``opt`` with ``n`` evaluations on the shipped tiny surrogates, timed per evaluation
    (``overrides``: extra Hydra overrides; ``label``: the row's name, default ``opt``)."""
    from hwgpt.search.blackbox import HWGPTBlackbox

    spent = [0.0, 0.0]  # benchmark wall and CPU seconds so far
    depth = [0]  # timed calls in progress: only the outermost counts (prefetch runs inside others)
    # the benchmark's calls: the runner's (observe, prefetch) and MOASHA's blackbox (a trial's every fidelity)
    patched = [(SurrogateProblem, "observe"), (SurrogateProblem, "prefetch"), (SurrogateProblem, "observe_rounds"),
               (HWGPTBlackbox, "_objective_function")]
    originals = [getattr(cls, name) for cls, name in patched]

    def timed(fn):  # noqa: ANN001, ANN202
        def wrapper(*a, **k):  # noqa: ANN002, ANN003, ANN202
            depth[0] += 1
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **k)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    spent[0] += time.perf_counter() - t0
                    spent[1] += time.process_time() - c0
        return wrapper

    marks: list[tuple[float, float, float, float]] = []  # (wall, CPU, benchmark wall, benchmark CPU) per evaluation
    cfg = compose_cfg(["device=cpu", f"optimizer={opt}", f"seed={seed}", f"n_evals={n}", *(overrides or [])], run_dir)
    if opt == "moasha":  # trials are counted when they finish; the budget is n of them
        with open_dict(cfg):
            cfg.budget.simulated_hours = 1e6
            cfg.budget.max_evals = n
    for (cls, name), fn in zip(patched, originals, strict=True):
        setattr(cls, name, timed(fn))
    try:
        t0 = time.perf_counter()
        res = run(cfg, callbacks=[lambda record: marks.append((time.perf_counter(), time.process_time(), *spent))])
        wall = time.perf_counter() - t0
    finally:
        for (cls, name), fn in zip(patched, originals, strict=True):
            setattr(cls, name, fn)
    k = len(res["history"])
    w = min(500, k // 2)

    def window(a: int, b: int, cpu: int = 0) -> float:  # optimizer ms per evaluation between marks a and b
        return 1e3 * ((marks[b][cpu] - marks[a][cpu]) - (marks[b][2 + cpu] - marks[a][2 + cpu])) / (b - a)

    first, last = window(0, w - 1), window(k - w, k - 1)
    cpu = {"optimizer_cpu_ms": window(0, k - 1, 1), "first_cpu_ms": window(0, w - 1, 1),
           "last_cpu_ms": window(k - w, k - 1, 1), "benchmark_cpu_ms": 1e3 * (marks[-1][3] - marks[0][3]) / (k - 1)}
    tm = res["timing"]
    return {"optimizer": label or opt, "n": k, "seed": seed, "benchmark_ms": 1e3 * tm["benchmark_s"] / k,
            "optimizer_ms": 1e3 * tm["optimizer_s"] / k, "first_ms": first, "last_ms": last,
            "last_over_first": last / first, "wall_s": wall, "hypervolume": res["hypervolume"],
            "n_duplicates": res.get("n_duplicates", 0), **cpu}


def fastpath(sizes: list[int], optimizers: list[str], out: Path, json_path: Path | None) -> list[dict]:
    """The fast-path table (see the module docstring); returns its rows."""
    import json
    import os

    rows = []
    runs = [run for opt in optimizers for run in [(opt, opt, []), *((opt, *v) for v in FAST_VARIANTS.get(opt, []))]]
    for j, (opt, label, ov) in enumerate(runs):
        for n in sizes:
            rows.append(fastpath_run(opt, n, out / f"fast_{j}_{opt}_{n}", overrides=ov, label=label))
            r = rows[-1]
            logging.getLogger(__name__).info("%s n=%d done in %.1f s", label, n, r["wall_s"])
    load = os.getloadavg()
    say(f"fast path (shipped tiny surrogates, device=cpu, seed 0; load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} on {os.cpu_count()} CPUs):")
    say(f"{'optimizer':21s} {'n':>6s} {'bench ms/eval':>13s} {'opt ms/eval':>11s} {'first-500 ms':>12s} "
        f"{'last-500 ms':>11s} {'last/first':>10s} {'CPU: bench':>10s} {'opt':>6s} {'last/first':>10s} "
        f"{'wall s':>7s} {'HV':>7s}  targets (wall)")
    for r in rows:
        ok_b = r["benchmark_ms"] <= 0.05
        ok_o = r["optimizer"] == "moasha" or r["optimizer_ms"] <= 0.5
        ok_f = r["last_over_first"] <= 1.5
        flags = ", ".join(f for f, ok in (("bench", ok_b), ("opt", ok_o), ("flat", ok_f)) if not ok)
        say(f"{r['optimizer']:21s} {r['n']:6d} {r['benchmark_ms']:13.3f} {r['optimizer_ms']:11.3f} "
            f"{r['first_ms']:12.3f} {r['last_ms']:11.3f} {r['last_over_first']:10.2f} {r['benchmark_cpu_ms']:10.3f} "
            f"{r['optimizer_cpu_ms']:6.3f} {r['last_cpu_ms'] / r['first_cpu_ms']:10.2f} {r['wall_s']:7.1f} "
            f"{r['hypervolume']:7.4f}  {'met' if not flags else 'missed: ' + flags}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"load_average": load, "cpus": os.cpu_count(), "rows": rows}, indent=1))
        say(f"written to {json_path}")
    return rows


def bo_steps(optimizers: list[str], sizes: list[int], overrides: list[str], json_path: Path | None,
             steps: int = 10) -> list[dict]:
    """Seconds of a BO step (fit + acquisition) by number of observations (random archs, noisy).

    At each size, ``steps`` consecutive steps, each suggestion observed and told before the next (so
    warm-started fits are timed as a run meets them: the first step of a searcher fits from the
    defaults); reported: the mean, the first and the largest, wall and CPU.
    """
    import json

    import torch
    from omegaconf import OmegaConf

    from hwgpt.search import parse_objectives as parse

    rows = []
    torch.set_num_threads(1)
    for opt in optimizers:
        cfg = compose_cfg([*overrides, f"optimizer={opt}"], Path(tempfile.mkdtemp(prefix="bench_bo_")))
        devices = dict(OmegaConf.to_container(cfg.devices)) if cfg.get("devices") else {}
        problem = SurrogateProblem(instantiate(cfg.benchmark), cfg.scale.name,
                                   parse(list(cfg.objectives), cfg.device.name, devices), cfg.device.name, True, 0)
        norm = problem.normalization(2000, 0)
        for n in sizes:
            np.random.seed(0)
            torch.manual_seed(0)
            s = instantiate(cfg.optimizer.searcher)(config_space=problem.space.to_syne_tune(), random_seed=0)

            def tell(i: int, c: dict, s=s, problem=problem, norm=norm) -> None:  # noqa: ANN001
                if hasattr(s, "trial_configs") and not hasattr(s, "seen"):  # Syne Tune's EHVI
                    s.trial_configs[i] = c
                s.on_trial_complete(i, c, norm(problem.observe(problem.space.from_config(c), i)[0]).tolist())

            for i, a in enumerate(problem.space.sample_unique(n, seed=1)):
                tell(i, problem.space.to_config(a))
            step = s._sample_next_candidate if hasattr(s, "_sample_next_candidate") else s._suggest  # noqa: SLF001
            wall, cpu = [], []
            for k in range(steps):
                t0, c0 = time.perf_counter(), time.process_time()
                config = step()
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                tell(n + k, problem.space.to_config(problem.space.from_config(config)))
            rows.append({"optimizer": opt, "observations": n, "steps": steps, "step_s": float(np.mean(wall)),
                         "step_cpu_s": float(np.mean(cpu)), "first_cpu_s": cpu[0], "max_cpu_s": max(cpu),
                         "objectives": list(cfg.objectives), "scale": cfg.scale.name})
            say(f"  {opt:6s} {n:5d} observations: one BO step {rows[-1]['step_s']:8.2f} s "
                f"({rows[-1]['step_cpu_s']:.2f} s CPU; mean of {steps}, the first {cpu[0]:.2f} s, "
                f"max {max(cpu):.2f} s)")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"load_average": __import__("os").getloadavg(), "overrides": overrides,
                                         "rows": rows}, indent=1))
    return rows


def batch_hv(optimizer: str, batch_sizes: list[int], sizes: list[int], seeds: int,
             json_path: Path | None) -> list[dict]:
    """Hypervolume (evaluated archs on noise-free medians) of ``optimizer`` by ``batch_size``: each size x seed
    x batch size one run (tiny, shipped surrogates); printed per size as mean ± s.e. and the difference to
    the first batch size paired by seed (same seed: the same observation keys)."""
    import json

    rows = []
    for n in sizes:
        for bs in batch_sizes:
            for seed in range(seeds):
                cfg = compose_cfg(["device=cpu", f"optimizer={optimizer}", f"seed={seed}", f"n_evals={n}",
                                   f"optimizer.searcher.batch_size={bs}"], Path(tempfile.mkdtemp(prefix="bench_bhv_")))
                res = run(cfg)
                rows.append({"n": n, "batch_size": bs, "seed": seed, "hypervolume": res["hypervolume"],
                             "hypervolume_median": res["hypervolume_median"],
                             "benchmark_ms": 1e3 * res["timing"]["benchmark_s"] / n})
        for bs in batch_sizes:
            v = np.array([r["hypervolume_median"] for r in rows if r["n"] == n and r["batch_size"] == bs])
            b0 = np.array([r["hypervolume_median"] for r in rows if r["n"] == n and r["batch_size"] == batch_sizes[0]])
            d = v - b0
            se = lambda x: x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else float("nan")  # noqa: E731
            say(f"  {optimizer} n={n:5d} batch_size={bs:3d}: {v.mean():.4f} ± {se(v):.4f}"
                + (f"  vs batch_size={batch_sizes[0]}: {d.mean():+.4f} ± {se(d):.4f}" if bs != batch_sizes[0] else ""))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"optimizer": optimizer, "seeds": seeds, "rows": rows}, indent=1))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-evals", type=int, default=500)
    p.add_argument("--bo-evals", type=int, default=100, help="evaluations of rsbo/lsbo/ehvi runs")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--optimizers", default=",".join(ALL))
    p.add_argument("--benchmark", choices=("auto", "shipped", "fitted", "analytic"), default="auto")
    p.add_argument("--objectives", default="perplexity,latency")
    p.add_argument("--out", type=Path, default=None, help="run dirs (default: a temporary directory)")
    p.add_argument("--micro-only", action="store_true", help="only the hot-path timings")
    p.add_argument("--fastpath", action="store_true", help="only the fast-path table (issue 19)")
    p.add_argument("--sizes", default="2000,7000", help="evaluations per run of the fast-path table")
    p.add_argument("--json", type=Path, default=None, help="write the fast-path table as JSON here")
    p.add_argument("--bo-steps", default=None, help="observation counts: time one BO step of rsbo/lsbo/ehvi at each")
    p.add_argument("--override", action="append", default=[], help="Hydra override for --bo-steps (repeatable)")
    p.add_argument("--bo-step-count", type=int, default=10, help="consecutive BO steps timed at each size")
    p.add_argument("--batch-hv", default=None, metavar="OPT",
                   help="hypervolume of OPT (morea or ls) by --batch-sizes at --sizes evaluations, --seeds seeds")
    p.add_argument("--batch-sizes", default="1,8,16,32")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    if args.batch_hv:
        batch_hv(args.batch_hv, [int(x) for x in args.batch_sizes.split(",")], [int(x) for x in args.sizes.split(",")],
                 args.seeds, args.json)
        return
    if args.bo_steps:
        opts = [o for o in args.optimizers.split(",") if o in BO]
        bo_steps(opts, [int(x) for x in args.bo_steps.split(",")], args.override, args.json, args.bo_step_count)
        return
    if args.fastpath:
        opts = [o for o in args.optimizers.split(",") if o in FAST] if args.optimizers != ",".join(ALL) else FAST
        fastpath([int(x) for x in args.sizes.split(",")], list(opts),
                 args.out or Path(tempfile.mkdtemp(prefix="bench_search_")), args.json)
        return
    micro()
    if args.micro_only:
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_search_"))
    bench_overrides, desc = choose_benchmark(args.benchmark, out)
    objectives = args.objectives.split(",")
    common = [*bench_overrides, f"objectives=[{','.join(objectives)}]"]
    say(f"benchmark: {desc}; objectives {objectives}; seeds {args.seeds}; "
        f"evaluations {args.n_evals} (BO: {args.bo_evals}); run dirs under {out}")

    results: dict[str, list[dict]] = {}
    for opt in args.optimizers.split(","):
        n = args.bo_evals if opt in BO else args.n_evals
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            res = run(compose_cfg([*common, f"optimizer={opt}", f"seed={seed}", f"n_evals={n}"],
                                  out / f"{opt}_{seed}"))
            res["wall_s"] = time.perf_counter() - t0
            results.setdefault(opt, []).append(res)
        r = results[opt]
        mean_s = np.mean([x["timing"]["optimizer_s"] for x in r])
        say(f"  {opt:6s} done: {n} evals x {args.seeds} seeds, optimizer {mean_s:.2f} s/run")

    cfg0 = compose_cfg(common, out / "probe")
    problem = SurrogateProblem(
        instantiate(cfg0.benchmark), "tiny",
        parse_objectives(objectives, cfg0.device.name), cfg0.device.name, noise=False,
    )
    budget = min(len(r[0]["history"]) for r in results.values())
    opts = list(results)
    hv_b = np.array([[x["hypervolume_curve"][budget - 1][1] for x in results[o]] for o in opts])  # (opt, seed)
    hvm_b = np.array([[median_hv_at(x, budget, problem) for x in results[o]] for o in opts])
    rank = lambda M: rankdata(-M, axis=0).mean(axis=1)  # noqa: E731 - mean over seeds, ties averaged
    se = lambda v: v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")  # noqa: E731

    say(f"\n{'opt':6s} {'evals':>5s} {'bench ms/eval':>13s} {'opt ms/eval':>11s} {'opt s/run':>9s} {'final HV':>16s} "
        f"{'final HV(med)':>16s} | at n={budget}: {'HV':>16s} {'rank':>5s} {'HV(med)':>16s} {'rank':>5s}")
    for i, o in enumerate(opts):
        r = results[o]
        n = len(r[0]["history"])
        hv = np.array([x["hypervolume"] for x in r])
        hvm = np.array([x["hypervolume_median"] for x in r])
        bms = np.mean([1e3 * x["timing"]["benchmark_s"] / n for x in r])
        os_ = np.mean([x["timing"]["optimizer_s"] for x in r])
        say(f"{o:6s} {n:5d} {bms:13.3f} {1e3 * os_ / n:11.3f} {os_:9.2f} {hv.mean():8.4f}±{se(hv):.4f} "
            f"{hvm.mean():8.4f}±{se(hvm):.4f} | {'':>{len(str(budget)) + 6}s}"
            f"{hv_b[i].mean():8.4f}±{se(hv_b[i]):.4f} {rank(hv_b)[i]:5.2f} "
            f"{hvm_b[i].mean():8.4f}±{se(hvm_b[i]):.4f} {rank(hvm_b)[i]:5.2f}")
    non_bo = [o for o in opts if o not in BO]
    total = sum(np.mean([x["timing"]["optimizer_s"] for x in results[o]]) for o in non_bo)
    say(f"\nnon-BO optimizers together ({','.join(non_bo)}): {total:.2f} s per seed (target < 30 s)")
    order = [opts[i] for i in np.argsort(rank(hvm_b))]
    say(f"ranking by median hypervolume at n={budget}: {' > '.join(order)}")
    say("paper (Sec. 6): EHVI and NSGA-II generally ahead; RS and LS behind")


if __name__ == "__main__":
    main()
