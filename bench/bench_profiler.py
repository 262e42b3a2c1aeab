"""Profiler benchmark: overhead vs a bare timing loop, architectures per hour, latency distributions.

1. Overhead: the latency the profiler reports (``LatencyMetric``, what ``profile.py`` stores)
   vs a bare ``perf_counter`` loop over the *same* extracted model, alternating blocks so
   drift hits both; ratio of medians (target <= 1.02).
2. Throughput: ``run(cfg)`` of ``metric=latency repeats=10`` (and the other metrics) into a
   temporary store, timed end to end; architectures per hour, excluding the one-off set-up.
3. Distribution: many repeated latency observations of a few architectures; quantiles
   p5/p50/p95/p99 and the share flagged ``contended``.

Usage: ``python bench/bench_profiler.py [--threads 1] [--scales tiny,s] [--quick]``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

import hwgpt
from hwgpt.profiling import Store, run
from hwgpt.profiling.base import Context
from hwgpt.profiling.latency import LatencyMetric
from hwgpt.profiling.store import Settings

log = logging.getLogger("bench_profiler")
CONF = Path(__file__).resolve().parents[1] / "conf"


def bench_overhead(space: hwgpt.SearchSpace, arch: hwgpt.Arch, threads: int, n: int) -> dict:
    """Alternate single observations: one through the profiler, one bare, ``n`` times each."""
    ctx = Context(space, torch.device("cpu"), "cpu", Settings(1, min(256, space.block_size), "float32", threads))
    model = ctx.dense(arch)
    ctx.dense = lambda a: model  # the profiler times exactly this model object
    metric = LatencyMetric(repeats=1, warmup=0, interleave=1)
    metric.setup(ctx)
    idx = ctx.tokens()
    prof, bare = [], []
    with torch.inference_mode():
        for _ in range(3):
            model(idx)
        for _ in range(n):
            prof.append(metric.measure([arch])[arch.id][0].value)
            t0 = time.perf_counter()
            model(idx)
            bare.append(time.perf_counter() - t0)
    p, b = statistics.median(prof), statistics.median(bare)
    return {"profiler_ms": 1e3 * p, "bare_ms": 1e3 * b, "ratio": p / b}


def _cfg(scale: str, metric: str, store: Path, n_archs: int, threads: int, **extra: object):
    base = OmegaConf.load(CONF / "profile.yaml")
    base.pop("defaults")
    cfg = OmegaConf.merge(
        base,
        {"scale": OmegaConf.load(CONF / "scale" / f"{scale}.yaml"), "device": OmegaConf.load(CONF / "device/cpu.yaml"),
         "metric": OmegaConf.load(CONF / "metric" / f"{metric}.yaml"), "paths": {"root_dir": "/tmp"},
         "store": str(store), "n_archs": n_archs, "threads": threads, "progress": False},
        extra,
    )
    return cfg


def bench_throughput(scale: str, metric: str, n_archs: int, threads: int, **extra: object) -> dict:
    with tempfile.TemporaryDirectory() as d:
        store = Path(d) / "s.sqlite"
        cfg = _cfg(scale, metric, store, n_archs, threads, **extra)
        t0 = time.perf_counter()  # one-off set-up: supernet init (+ codecarbon start for energy)
        Context(hwgpt.SearchSpace.from_name(scale), torch.device("cpu"), "cpu",
                Settings(1, 1, "float32", threads)).supernet()
        setup = time.perf_counter() - t0
        summary = run(cfg)
        df = Store(store).observations()
    n = summary["n_written"]
    per_arch = max(summary["seconds"] - setup, 1e-9) / max(n, 1)
    return {"archs": n, "setup_s": setup, "s_per_arch": per_arch, "archs_per_hour": 3600 / per_arch,
            "contended": float(df["flags"].str.contains("contended").mean()) if len(df) else 0.0}


def bench_distribution(space: hwgpt.SearchSpace, archs: list[hwgpt.Arch], threads: int, repeats: int) -> list[dict]:
    ctx = Context(space, torch.device("cpu"), "cpu", Settings(1, min(256, space.block_size), "float32", threads))
    metric = LatencyMetric(repeats=repeats, warmup=3, interleave=len(archs))
    metric.setup(ctx)
    out = metric.measure(archs)
    rows = []
    for a in archs:
        v = np.array([o.value for o in out[a.id]]) * 1e3
        q = np.percentile(v, [5, 50, 95, 99])
        rows.append({"arch": a.id, "params": hwgpt.cost.params(a, space), "p5": q[0], "p50": q[1], "p95": q[2],
                     "p99": q[3], "p99/p50": q[3] / q[1],
                     "contended": np.mean(["contended" in o.flags for o in out[a.id]])})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--scales", default="tiny,s")
    p.add_argument("--quick", action="store_true", help="fewer repeats and architectures")
    p.add_argument("--parts", default="overhead,throughput,distribution", help="which parts to run")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    print(f"threads={args.threads}, torch {torch.__version__}")  # noqa: T201

    parts = args.parts.split(",")
    if "overhead" in parts:
        _overhead(args)
    if "throughput" in parts:
        _throughput(args)
    if "distribution" in parts:
        _distribution(args)


def _overhead(args: argparse.Namespace) -> None:
    q = args.quick
    print("\n== overhead: profiler-reported vs bare timing, same model, alternating (median) ==")  # noqa: T201
    for scale in args.scales.split(","):
        space = hwgpt.SearchSpace.from_name(scale)
        for name, arch in [("smallest", space.smallest()), ("sample", space.sample(0))]:
            n = (20 if q else 40) if scale == "s" else (60 if q else 200)
            r = bench_overhead(space, arch, args.threads, n)
            print(f"{scale:4s} {name:8s} profiler {r['profiler_ms']:8.2f} ms  bare {r['bare_ms']:8.2f} ms  "  # noqa: T201
                  f"ratio {r['ratio']:.3f}")



def _throughput(args: argparse.Namespace) -> None:
    q = args.quick
    print("\n== throughput: run(cfg) into a temporary store, batch 1, n_archs samples + smallest + largest ==")  # noqa: T201
    plan = {"tiny": [("latency", 6 if q else 20, {"repeats": 10}), ("energy", 4 if q else 8, {"repeats": 10}),
                     ("memory", 4 if q else 10, {}), ("cost", 50, {})],
            "s": [("latency", 2 if q else 6, {"repeats": 10, "seq_len": 256}),
                  ("latency", 1 if q else 4, {"repeats": 10, "seq_len": 1024}),
                  ("energy", 2 if q else 4, {"repeats": 10, "seq_len": 256}),
                  ("memory", 2 if q else 4, {"seq_len": 256})]}
    for scale in args.scales.split(","):
        for metric, n, extra in plan.get(scale, []):
            r = bench_throughput(scale, metric, n, args.threads, **extra)
            seq = extra.get("seq_len", hwgpt.SearchSpace.from_name(scale).block_size)
            print(f"{scale:4s} {metric:8s} seq {seq:4d} {r['archs']:3d} archs  {r['s_per_arch']:7.3f} s/arch  "  # noqa: T201
                  f"{r['archs_per_hour']:9.0f} archs/h  set-up ~{r['setup_s']:.1f} s  contended {r['contended']:.0%}")



def _distribution(args: argparse.Namespace) -> None:
    q = args.quick
    print("\n== latency distribution of repeated observations (ms), round-robin ==")  # noqa: T201
    for scale in args.scales.split(","):
        space = hwgpt.SearchSpace.from_name(scale)
        archs = [space.smallest(), space.sample(1), space.largest()]
        reps = (30 if q else 100) if scale == "s" else (100 if q else 300)
        for r in bench_distribution(space, archs, args.threads, reps):
            print(f"{scale:4s} {r['arch']} params {r['params']:>11,d}  p5 {r['p5']:8.2f}  p50 {r['p50']:8.2f}  "  # noqa: T201
                  f"p95 {r['p95']:8.2f}  p99 {r['p99']:8.2f}  p99/p50 {r['p99/p50']:.2f}  "
                  f"contended {r['contended']:.0%}")


if __name__ == "__main__":
    main()
