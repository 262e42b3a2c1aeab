"""Surrogate benchmark: fit time per surrogate, batched and single query speed of hwgpt.Benchmark.

Targets (issue 5): batched >= 100,000 archs/s for one metric, single query <= 1 ms.

Usage::

    python bench/bench_surrogates.py                         # fit synthetic surrogates into a temp dir (timing only)
    python bench/bench_surrogates.py --artifacts-dir DIR --scale tiny --device cpu   # time existing surrogates
    python bench/bench_surrogates.py --store STORE.sqlite --device cpu               # fit from a real store, then time

Synthetic surrogates measure speed only; their validation numbers describe the synthetic data.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import hwgpt
from hwgpt.surrogates.fit import FitSettings, fit_all
from hwgpt.surrogates.synthetic import synthetic_observations


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _fit(args: argparse.Namespace, root: Path) -> str:
    space = hwgpt.SearchSpace.from_name(args.scale)
    settings = FitSettings.fast() if args.fast else FitSettings()
    if args.store:
        from hwgpt.profiling.store import Store

        with Store(args.store) as store:
            df = store.observations(scale=args.scale, device=args.device)
        device, origin = args.device, f"store {args.store}"
    else:
        device = "synthetic-cpu"
        df = synthetic_observations(space, n_archs=args.n_archs, repeats=args.repeats, seed=0, device=device)
        origin = f"synthetic, {args.n_archs} archs x {args.repeats} repeats"
    results = fit_all(df, space, device, settings, out_dir=root)
    _out(f"fit ({origin}, {'fast' if args.fast else 'default'} settings):")
    _out(f"  {'metric':12s} {'rows':>6s} {'fit s':>7s} {'model':>17s} {'tau':>6s} {'r2':>6s} {'cov0.9':>7s} "
         f"{'ks':>6s}")
    for m, r in results.items():
        rep = r.report
        ks = "-" if rep["ks"] is None else f"{rep['ks']:.3f}"
        _out(f"  {m:12s} {rep['settings']['n_observations']:6d} {r.seconds:7.2f} {rep['model']:>17s} "
              f"{rep['kendall_tau']:6.3f} {rep['r2']:6.3f} {rep['coverage']['0.9']:7.3f} {ks:>6s}")
    return device


def _single(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--artifacts-dir", type=Path, default=None, help="time these surrogates (no fitting)")
    p.add_argument("--store", type=Path, default=None, help="fit from this measurement store")
    p.add_argument("--scale", default="tiny")
    p.add_argument("--device", default=None)
    p.add_argument("--n-archs", type=int, default=300, help="synthetic archs to fit on")
    p.add_argument("--repeats", type=int, default=10, help="synthetic observations per arch")
    p.add_argument("--fast", action="store_true", help="small boosters (FitSettings.fast())")
    p.add_argument("--batch", type=int, default=100_000, help="archs per batched query")
    p.add_argument("--calls", type=int, default=500, help="single queries timed (median)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root, device = args.artifacts_dir, args.device
        if root is None:
            root = Path(tmp)
            device = _fit(args, root)
        bench = hwgpt.Benchmark(args.scale, device, artifacts_dir=root)
        space = bench.space
        rng = np.random.default_rng(0)
        archs = [space.sample(rng) for _ in range(args.batch)]
        arch = archs[0]
        _out(f"query speed on {bench.device!r} ({args.batch} archs batched, median of {args.calls} single calls):")
        _out(f"  {'metric':12s} {'batched archs/s':>16s} {'single query ms':>16s} {'interval ms':>12s} "
              f"{'sample_observations archs/s':>28s}")
        for m in bench.metrics:
            bench.query(archs[:10], [m])  # load the surrogate outside the timing
            t0 = time.perf_counter()
            bench.query(archs, [m])
            rate = len(archs) / (time.perf_counter() - t0)
            single = _single(lambda m=m: bench.query(arch, [m]), args.calls)
            if m in ("flops", "params"):
                _out(f"  {m:12s} {rate:16,.0f} {single:16.3f} {'-':>12s} {'-':>28s}")
                continue
            inter = _single(lambda m=m: bench.interval(arch, m, 0.9), args.calls // 5)
            t0 = time.perf_counter()
            bench.sample_observations(archs[:20_000], m, seed=0)
            srate = 20_000 / (time.perf_counter() - t0)
            _out(f"  {m:12s} {rate:16,.0f} {single:16.3f} {inter:12.3f} {srate:28,.0f}")
        t0 = time.perf_counter()
        bench.query(archs, bench.metrics)
        _out(f"  all {len(bench.metrics)} metrics batched: {len(archs) / (time.perf_counter() - t0):,.0f} archs/s; "
              f"single query of all: {_single(lambda: bench.query(arch), args.calls // 5):.3f} ms")


if __name__ == "__main__":
    main()
