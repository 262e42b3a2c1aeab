"""A fake latency meter for runner tests (a module with a unique name, not conftest)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwgpt.profiling.base import Metric
from hwgpt.profiling.store import Observation
from hwgpt.search_space import Arch
from hwgpt.surrogates.features import FeatureSpec, arch_arrays, cost_arrays


class FakeLatency(Metric):
    """Latency from a formula (~60% of the shipped tiny ``cpu`` surrogate's scale) plus noise; no model runs.

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
