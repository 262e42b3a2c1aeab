"""A synthetic stand-in for :class:`hwgpt.Benchmark`: analytic metrics, no surrogates needed.

Same interface as the surrogate benchmark (``devices``, ``metrics``, ``query``, ``interval``,
``sample_observation(s)``), answered by closed-form functions of the exact cost model
(:mod:`hwgpt.cost`) with seeded log-normal noise. It exists so that the search stack can be
tested, benchmarked and demonstrated on a machine without shipped surrogates
(``python search.py benchmark._target_=hwgpt.search.analytic.AnalyticBenchmark``).
Its numbers are invented, not measured: never report them as hardware results.

The functions are chosen so that the trade-offs are not one-dimensional: perplexity falls with
the parameter count but prefers balanced widths and depth; latency is FLOPs plus a per-layer
and per-head launch overhead (devices differ in both); energy is latency times a power that
grows with width; memory is the exact estimate. The ``rtx2080`` device has no energy surrogate,
to exercise the "no surrogate for that device" path.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np
from scipy.stats import norm

from hwgpt import cost
from hwgpt.errors import InvalidInput
from hwgpt.search_space import Arch, SearchSpace
from hwgpt.simulation.draws import keyed_uniform, stream_key
from hwgpt.simulation.protocol import MeasurementProtocol

# device -> (FLOP/s, seconds per layer, seconds per head, watts at the smallest width, metrics)
_DEVICES: dict[str, tuple[float, float, float, float, tuple[str, ...]]] = {
    "cpu": (60e9, 4e-4, 5e-5, 15.0, ("latency", "energy", "memory")),
    "rtx2080": (4e12, 3e-5, 6e-6, 60.0, ("latency", "memory")),
}
_COMMON = ("perplexity", "accuracy", "flops", "params")
_NORMAL = statistics.NormalDist()
# log-normal spread (standard deviation of the log) of an observation around the median
_SIGMA = {"perplexity": 0.01, "accuracy": 0.005, "latency": 0.06, "energy": 0.08, "memory": 0.01,
          "flops": 0.0, "params": 0.0}


class AnalyticBenchmark:
    """Analytic metrics with the :class:`hwgpt.Benchmark` interface (synthetic, for tests and demos).

    Args:
        scale: Search-space preset (``tiny``, ``s``, ``m``, ``l``).
        device: One of :attr:`devices`; ``None`` picks ``cpu``.
        artifacts_dir: Ignored (accepted so that configs written for hwgpt.Benchmark work unchanged).
    """

    def __init__(self, scale: str = "tiny", device: str | None = None, artifacts_dir: str | None = None) -> None:
        self.space = SearchSpace.from_name(scale)
        self.scale = scale
        self.device = "cpu" if device is None else device
        if self.device not in _DEVICES:
            raise InvalidInput(f"unknown device {device!r} for scale {scale!r}; "
                               f"devices with surrogates: {self.devices}")
        self.seq_len = min(256, self.space.block_size)
        self._cache: dict[tuple[Arch, str], float] = {}

    @property
    def devices(self) -> list[str]:
        return sorted(_DEVICES)

    @property
    def metrics(self) -> list[str]:
        return list(_COMMON) + list(_DEVICES[self.device][4])

    def _check(self, metric: str) -> None:
        if metric not in self.metrics:
            raise InvalidInput(f"no surrogate for metric {metric!r} on device {self.device!r}; "
                               f"available: {self.metrics}")

    def _median(self, arch: Arch, metric: str) -> float:
        sp = self.space
        p = cost.params(arch, sp)
        if metric == "params":
            return float(p)
        f = cost.flops(arch, sp, 1, self.seq_len)
        if metric == "flops":
            return float(f)
        if metric in ("perplexity", "accuracy"):
            ratios, heads = np.asarray(arch.mlp_ratio), np.asarray(arch.n_head)
            imbalance = ratios.std() / ratios.mean() + heads.std() / heads.mean()
            depth_width = abs(np.log(arch.embed_dim / (32.0 * arch.n_layer)))
            log_ppl = 8.0 - 0.32 * np.log(p) + 0.08 * imbalance + 0.05 * depth_width - 0.02 * arch.bias
            ppl = float(np.exp(log_ppl))
            return ppl if metric == "perplexity" else float(1.0 / (1.0 + 0.05 * ppl))
        fps, per_layer, per_head, watts, _ = _DEVICES[self.device]
        latency = f / fps + per_layer * arch.n_layer + per_head * sum(arch.n_head)
        if metric == "latency":
            return latency
        if metric == "energy":
            return latency * watts * (1.0 + arch.embed_dim / max(sp.embed_dim))
        return float(cost.memory(arch, sp, 1, self.seq_len).total)

    def query(self, arch: Arch | Sequence[Arch], metrics: Sequence[str] | None = None) -> dict:
        """Medians: floats for one arch, numpy arrays for a list."""
        metrics = list(self.metrics if metrics is None else metrics)
        for m in metrics:
            self._check(m)
        if isinstance(arch, Arch):
            return {m: self._median(arch, m) for m in metrics}
        return {m: np.array([self._median(a, m) for a in arch], dtype=np.float64) for m in metrics}

    def interval(self, arch: Arch, metric: str, coverage: float = 0.9) -> tuple[float, float]:
        """Central ``coverage`` interval of the (known) log-normal observation distribution."""
        self._check(metric)
        med, z = self._median(arch, metric), norm.ppf(0.5 + coverage / 2)
        return med * float(np.exp(-z * _SIGMA[metric])), med * float(np.exp(z * _SIGMA[metric]))

    def _noise(self, arch: Arch, metric: str, seed: int, repeat: int = 0) -> float:
        stream = stream_key(f"analytic/{metric}@{self.device}")
        return _NORMAL.inv_cdf(keyed_uniform(int(seed), int(arch.id, 16), stream, repeat))

    def median(self, arch: Arch, metric: str) -> float:
        """The noise-free value (cached per arch)."""
        key = (arch, metric)
        if key not in self._cache:
            self._check(metric)
            self._cache[key] = self._median(arch, metric)
        return self._cache[key]

    def sample_observation(self, arch: Arch, metric: str, seed: int = 0, repeats: int = 1) -> float:
        """One noisy observation (median of ``repeats`` draws), deterministic in ``(arch, metric, device, seed)``."""
        med = self.median(arch, metric)
        z = float(np.median([self._noise(arch, metric, seed, r) for r in range(repeats)]))
        value = med * float(np.exp(_SIGMA[metric] * z))
        return min(value, 1.0) if metric == "accuracy" else value

    def sample_observations(self, archs: Sequence[Arch], metric: str, seed: int = 0, repeats: int = 1) -> np.ndarray:
        """Batched :meth:`sample_observation` (one draw per arch)."""
        return np.array([self.sample_observation(a, metric, seed, repeats) for a in archs], dtype=np.float64)

    def simulated_seconds(self, arch: Arch, metrics: Sequence[str], protocol: MeasurementProtocol | None = None,
                          repeats: int | None = None) -> float:
        """:meth:`hwgpt.Benchmark.simulated_seconds` on the analytic latency (one forward = ``seq_len`` tokens)."""
        p = protocol or MeasurementProtocol()
        per_device: dict[str, int] = {}
        quality = False
        for m in metrics:
            name, _, dev = m.partition("@")
            if name in ("perplexity", "accuracy"):
                quality = True
            elif name in ("latency", "energy", "memory"):
                per_device[dev or self.device] = per_device.get(dev or self.device, 0) + 1
        lat = lambda d: (self if d == self.device else AnalyticBenchmark(self.scale, d))._median(arch, "latency")  # noqa: E731
        hardware = [(lat(d), n) for d, n in per_device.items()]
        forward = None
        if quality and p.perplexity_windows:
            d = next(iter(per_device), self.device)
            forward = (lat(d), p.perplexity_windows * self.space.block_size / self.seq_len)
        return p.seconds(hardware, forward, repeats)
