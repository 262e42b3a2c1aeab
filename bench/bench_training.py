"""Training throughput: a supernet sandwich step vs plain dense GPT steps of the same archs.

For each case, times (median of interleaved repeats) one full optimizer step of the supernet
over its sub-networks (forward+backward of each, loss / n, grad-norm clip, fused AdamW over
all supernet weights) and the same work done by the extracted ``DenseGPT`` of each arch,
trained alone (its own fused AdamW). Achieved GFLOP/s use ``3 x hwgpt.cost.flops`` (forward
+ backward) and are given as a fraction of an fp32 matmul peak measured in the same run.
``ratio`` = dense step time / supernet step time (target >= 0.8).

Cases: ``tiny`` (sandwich: smallest, 2 random, largest; batch 8 x 256) and ``s-smallest``
(GPT-S's smallest sub-network alone, batch 1 x 1024).

Usage: ``python bench/bench_training.py [--repeats 5] [--threads 2] [--cases tiny,s-smallest]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as train.py: no spinning threads on a shared CPU

import torch
import torch.nn.functional as F

import hwgpt
from hwgpt.training.callbacks import sandwich


def matmul_peak(n: int = 1024, repeats: int = 10) -> float:
    """Best fp32 GFLOP/s of an ``n x n x n`` matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _adamw(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)


def _loss(model: torch.nn.Module, idx: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(idx).float().flatten(0, 1), tgt.flatten())


def bench_case(space: hwgpt.SearchSpace, archs: list[hwgpt.Arch], batch: int, seq: int, repeats: int) -> dict:
    """Median step times and achieved GFLOP/s of the supernet and of the dense models."""
    torch.manual_seed(0)
    supernet = hwgpt.SuperGPT(space)
    dense = [supernet.extract(a) for a in archs]
    opt_s, opt_d = _adamw(supernet), [_adamw(d) for d in dense]
    idx = torch.randint(0, space.vocab_size, (batch, seq))
    tgt = torch.randint(0, space.vocab_size, (batch, seq))

    def super_step() -> None:
        for a in archs:
            supernet.set_sub_network(a)
            (_loss(supernet, idx, tgt) / len(archs)).backward()
        torch.nn.utils.clip_grad_norm_(supernet.parameters(), 1.0, foreach=True)
        opt_s.step()
        opt_s.zero_grad(set_to_none=True)

    def dense_step() -> None:
        for d, o in zip(dense, opt_d, strict=True):
            (_loss(d, idx, tgt) / len(archs)).backward()
            torch.nn.utils.clip_grad_norm_(d.parameters(), 1.0, foreach=True)
            o.step()
            o.zero_grad(set_to_none=True)

    super_step(), dense_step()  # warm-up
    ts, td = [], []
    for _ in range(repeats):  # interleaved, so load changes hit both alike
        ts.append(_time(super_step))
        td.append(_time(dense_step))
    flops = 3 * sum(hwgpt.cost.flops(a, space, batch=batch, seq_len=seq) for a in archs)
    s, d = statistics.median(ts), statistics.median(td)
    return {"super_s": s, "dense_s": d, "tokens_per_s": batch * seq / s,
            "super_gflops": flops / s / 1e9, "dense_gflops": flops / d / 1e9, "ratio": d / s}


def say(text: str) -> None:
    """The benchmark's report goes to stdout."""
    sys.stdout.write(text + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cases", default="tiny,s-smallest")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    peak = matmul_peak()
    say(f"torch {torch.__version__}, threads {args.threads}, repeats {args.repeats}, "
          f"load average {load:.1f} on {os.cpu_count()} CPUs{' (BUSY: numbers are pessimistic)' if load > 1.5 else ''}")
    say(f"fp32 matmul peak (1024^3): {peak:.1f} GFLOP/s")
    say(f"{'case':11s} {'B x T':>8s} {'sub-nets':>8s} {'step s (super/dense)':>21s} {'tok/s':>7s} "
          f"{'GFLOP/s super':>14s} {'dense':>14s} {'ratio':>6s}")
    for name in args.cases.split(","):
        if name == "tiny":
            space = hwgpt.SearchSpace.from_name("tiny")
            archs, batch, seq = [s.arch for s in sandwich(space, step=0, num_random=2)], 8, 256
        elif name == "s-smallest":
            space = hwgpt.SearchSpace.from_name("s")
            archs, batch, seq = [space.smallest()], 1, 1024
        else:
            raise SystemExit(f"unknown case {name!r}; allowed: tiny, s-smallest")
        r = bench_case(space, archs, batch, seq, args.repeats)
        say(f"{name:11s} {f'{batch}x{seq}':>8s} {len(archs):8d} {r['super_s']:10.3f}/{r['dense_s']:<10.3f} "
              f"{r['tokens_per_s']:7.0f} {r['super_gflops']:6.1f} ({r['super_gflops'] / peak:4.2f}) "
              f"{r['dense_gflops']:6.1f} ({r['dense_gflops'] / peak:4.2f}) {r['ratio']:6.3f}")


if __name__ == "__main__":
    main()
