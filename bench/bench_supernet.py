"""Sub-network (sliced supernet) vs extracted dense model: forward and forward+backward time.

Median of interleaved repeats, measured side by side in one run; prints ratios
(supernet / dense). Usage: ``python bench/bench_supernet.py [--repeats 15] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import hwgpt


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_case(space: hwgpt.SearchSpace, arch: hwgpt.Arch, batch: int, seq_len: int, repeats: int) -> dict:
    torch.manual_seed(0)
    supernet = hwgpt.SuperGPT(space)
    supernet.set_sub_network(arch)
    dense = supernet.extract(arch)
    idx = torch.randint(0, space.vocab_size, (batch, seq_len))

    def fwd(model):
        with torch.no_grad():
            model(idx)

    def fwd_bwd(model):
        model.zero_grad(set_to_none=True)
        model(idx).float().logsumexp(-1).mean().backward()

    times = {k: [] for k in ("super_fwd", "dense_fwd", "super_fb", "dense_fb")}
    for m in (supernet, dense):  # warm-up
        fwd(m), fwd_bwd(m)
    for _ in range(repeats):  # interleaved
        times["super_fwd"].append(_time(lambda: fwd(supernet)))
        times["dense_fwd"].append(_time(lambda: fwd(dense)))
        times["super_fb"].append(_time(lambda: fwd_bwd(supernet)))
        times["dense_fb"].append(_time(lambda: fwd_bwd(dense)))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "fwd_ratio": med["super_fwd"] / med["dense_fwd"],
        "fwd_bwd_ratio": med["super_fb"] / med["dense_fb"],
        **{f"{k}_ms": 1e3 * v for k, v in med.items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cases", default="tiny-smallest,tiny-sample,tiny-largest,s-smallest")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cases = {
        "tiny-smallest": ("tiny", "smallest", 8, 256),
        "tiny-sample": ("tiny", "sample", 8, 256),
        "tiny-largest": ("tiny", "largest", 8, 256),
        "s-smallest": ("s", "smallest", 1, 1024),
    }
    print(f"torch {torch.__version__}, threads {args.threads}, repeats {args.repeats} (median, interleaved)")
    print(f"{'case':14s} {'batch x seq':>12s} {'fwd ms (sub/dense)':>20s} {'fwd x':>6s} "
          f"{'fwd+bwd ms (sub/dense)':>24s} {'f+b x':>6s}")
    for name in args.cases.split(","):
        scale, which, batch, seq = cases[name]
        space = hwgpt.SearchSpace.from_name(scale)
        arch = space.sample(0) if which == "sample" else getattr(space, which)()
        r = bench_case(space, arch, batch, seq, args.repeats)
        print(f"{name:14s} {f'{batch}x{seq}':>12s} {r['super_fwd_ms']:9.1f}/{r['dense_fwd_ms']:<9.1f} "
              f"{r['fwd_ratio']:6.3f} {r['super_fb_ms']:11.1f}/{r['dense_fb_ms']:<11.1f} {r['fwd_bwd_ratio']:6.3f}")


if __name__ == "__main__":
    main()
