"""Synthetic observation frames, shaped like the measurement store's, for tests and benchmarks only.

Latency follows the FLOPs with a per-layer overhead and multiplicative (log-normal) noise whose
spread grows with the model, plus a long right tail of contention-like slowdowns (see the
"Latency noise" notes). Energy is latency times a power that grows with width; memory is the
exact estimate times a small allocator overhead; perplexity and accuracy are smooth functions of
the parameter count with a little per-arch scatter, one observation per arch.

Every row carries the flag ``synthetic`` and the run id ``synthetic``: :func:`hwgpt.surrogates.fit`
refuses to write such surrogates into the shipped package directory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hwgpt.search_space import SearchSpace
from hwgpt.surrogates.features import FeatureSpec, arch_arrays, cost_arrays

HARDWARE = ("latency", "energy", "memory")
UNITS = {"latency": "s", "energy": "J", "memory": "B", "perplexity": "", "accuracy": ""}


def synthetic_truth(space: SearchSpace, archs: list, spec: FeatureSpec | None = None) -> dict[str, np.ndarray]:
    """Noise-free medians of every synthetic metric for ``archs``."""
    spec = spec or FeatureSpec(seq_len=min(256, space.block_size))
    aa = arch_arrays(archs, space)
    c = cost_arrays(aa, space, spec)
    latency = 2e-3 + c["flops"] / 40e9 + 4e-4 * aa.n_layer
    log_p = np.log(c["params"])
    return {
        "latency": latency,
        "energy": latency * (15.0 + aa.embed / 64.0),
        "memory": 1.1 * c["memory"] + 2**20,
        "perplexity": np.exp(9.0 - 0.35 * log_p + 0.05 * aa.bias),
        "accuracy": 0.25 + 0.05 * (log_p - log_p.min()),
    }


def synthetic_observations(
    space: SearchSpace, n_archs: int = 120, repeats: int = 8, seed: int = 0,
    metrics: tuple[str, ...] = ("latency", "energy", "memory", "perplexity", "accuracy"),
    device: str = "synthetic-cpu", tail_prob: float = 0.05,
) -> pd.DataFrame:
    """A frame with the measurement store's columns; ``repeats`` observations per arch for hardware metrics.

    Args:
        space: Search space to draw ``n_archs`` unique archs from (seed ``seed``).
        n_archs: Number of distinct architectures.
        repeats: Observations per arch for latency/energy/memory (1 for perplexity/accuracy).
        seed: Seed of the archs and the noise.
        metrics: Which metrics to generate.
        device: Device id written in the ``device`` column.
        tail_prob: Probability of a contention-like slowdown (x1.3-x5) per latency/energy observation.
    """
    rng = np.random.default_rng(seed)
    archs = space.sample_unique(n_archs, seed=seed)
    spec = FeatureSpec(seq_len=min(256, space.block_size))
    truth = synthetic_truth(space, archs, spec)
    size = np.log(truth["latency"] / truth["latency"].min())
    rows = []
    for m in metrics:
        reps = repeats if m in HARDWARE else 1
        for i, a in enumerate(archs):
            if m in ("latency", "energy"):
                sigma = 0.03 + 0.03 * size[i]
                noise = rng.lognormal(0.0, sigma, reps)
                tail = rng.random(reps) < tail_prob
                noise[tail] *= 1.3 + rng.pareto(2.5, tail.sum())
                vals = truth[m][i] * noise
            elif m == "memory":
                vals = np.full(reps, np.round(truth[m][i]))
            elif m == "perplexity":
                vals = truth[m][i] * rng.lognormal(0.0, 0.01, reps)
            else:
                vals = truth[m][i] + rng.normal(0.0, 0.003, reps)
            for r, v in enumerate(vals):
                rows.append((a.id, a.to_json(), space.name, device, m, float(v), UNITS.get(m, ""), r))
    df = pd.DataFrame(rows, columns=["arch_id", "arch", "scale", "device", "metric", "value", "unit", "repeat"])
    df["batch"], df["seq_len"], df["dtype"], df["threads"] = spec.batch, spec.seq_len, spec.dtype, 1
    df["flags"], df["run_id"] = "synthetic", "synthetic"
    return df
