"""Synthetic devices and a fake latency meter for the transfer tests (a module with a unique name, not conftest)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hwgpt.profiling.base import Metric
from hwgpt.profiling.store import Observation
from hwgpt.search_space import Arch, SearchSpace
from hwgpt.surrogates.features import FeatureSpec, arch_arrays, cost_arrays

# (a_d, b_d: FLOPs exponent, c_d: per-layer overhead, g_d: width interaction, sigma: noise)
DEVICES = {
    "dev_a": (-2.0, 0.55, 0.03, 0.10, 0.03),
    "dev_b": (-2.6, 0.70, 0.02, -0.05, 0.04),
    "dev_c": (-1.5, 0.40, 0.06, 0.20, 0.03),
    "dev_d": (-3.0, 0.85, 0.01, 0.00, 0.05),
}
NEW = ("dev_new", (-2.2, 0.62, 0.04, 0.12, 0.04))


def device_frame(space: SearchSpace, archs: list, device: str, params: tuple, repeats: int, seed: int,
                 metric: str = "latency") -> pd.DataFrame:
    """Observations of ``archs`` on a synthetic device: log y = a + b log(flops/1e6) + c L + g w + arch term + noise.

    The arch term (a fixed function of the mean MLP ratio and heads, shared by every device but with a
    device-specific weight) makes devices agree only partly, as real ones do.
    """
    a, b, c, g, sigma = params
    aa = arch_arrays(archs, space)
    cost = cost_arrays(aa, space, FeatureSpec(1, space.block_size))
    width = np.log2(aa.embed / aa.embed.min())
    inter = np.sin(aa.ratios.sum(axis=1) * 0.7) * 0.05 + np.cos(aa.heads.sum(axis=1) * 0.3) * 0.04
    mu = a + b * np.log(cost["flops"] / 1e6) + c * aa.n_layer + g * width + (1.0 + 3 * g) * inter
    rng = np.random.default_rng(seed)
    rows = []
    for i, arch in enumerate(archs):
        for r, v in enumerate(np.exp(mu[i] + rng.normal(0.0, sigma, repeats))):
            rows.append((arch.id, arch.to_json(), space.name, device, metric, float(v), "s", r))
    df = pd.DataFrame(rows, columns=["arch_id", "arch", "scale", "device", "metric", "value", "unit", "repeat"])
    df["batch"], df["seq_len"], df["dtype"], df["threads"] = 1, space.block_size, "float32", 1
    df["flags"], df["run_id"] = "synthetic", "synthetic"
    return df


class FakeLatency(Metric):
    """Latency from a formula (~2.7x the shipped tiny ``cpu`` surrogate) plus noise; no model runs.

    Args:
        repeats: Observations per arch.
        interrupt_after: Raise KeyboardInterrupt when asked to measure this many archs in total
            (counted per instance), as a Ctrl-C halfway would.
    """

    outputs = ("latency",)

    def __init__(self, repeats: int = 3, interrupt_after: int | None = None) -> None:
        self.repeats, self.interrupt_after, self._n = repeats, interrupt_after, 0

    def measure(self, archs: Sequence[Arch]) -> dict[str, list[Observation]]:
        if self.interrupt_after is not None and self._n + len(archs) > self.interrupt_after:
            raise KeyboardInterrupt
        self._n += len(archs)
        space = self.ctx.space
        c = cost_arrays(arch_arrays(list(archs), space), space, FeatureSpec(1, space.block_size))
        out = {}
        for i, a in enumerate(archs):
            rng = np.random.default_rng(abs(hash(a.id)) % 2**32)
            mu = 1.2e-3 + c["flops"][i] / 2.5e10 + 2e-4 * a.n_layer
            out[a.id] = [Observation("latency", float(mu * np.exp(rng.normal(0, 0.03))), "s", r)
                         for r in range(self.repeats)]
        return out
