"""Synthetic multi-device data for the transfer tests: related devices on the same archs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hwgpt import SearchSpace
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


@pytest.fixture(scope="session")
def space() -> SearchSpace:
    return SearchSpace.from_name("tiny")


@pytest.fixture(scope="session")
def pool(space: SearchSpace) -> list:
    """400 archs shared by every synthetic device."""
    return space.sample_unique(400, seed=11)


@pytest.fixture(scope="session")
def multi_device(space: SearchSpace, pool: list) -> pd.DataFrame:
    """Every synthetic device (sources and the new one) on the same 400 archs, 5 repeats each."""
    frames = [device_frame(space, pool, d, p, 5, seed=i) for i, (d, p) in enumerate([*DEVICES.items(), NEW])]
    return pd.concat(frames, ignore_index=True)
