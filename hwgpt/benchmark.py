"""``hwgpt.Benchmark``: query an architecture's metrics from the fitted surrogates (or measure them live).

Metrics are ``perplexity``, ``accuracy``, ``latency`` (s per forward), ``energy`` (J per forward),
``memory`` (bytes), answered by surrogates, and ``flops``/``params``, answered exactly by
:mod:`hwgpt.cost` (``flops`` at batch 1 and ``seq_len = space.block_size``, as ``hwgpt.cost.flops``'s
defaults). Surrogates live under ``<artifacts>/<scale>/<device>/`` and are loaded once, on first use.

Devices: ``Benchmark(device=...)`` sets the default device; any metric may name another one as
``"metric@device"`` (``bench.query(arch, ["perplexity", "latency@cpu", "energy@h100"])``), or through
``devices={"latency": "cpu"}``; results are keyed by the names as passed. Perplexity and accuracy do
not depend on the device: when the default device has no such surrogate, the first device (sorted)
that has one answers.

Noise: ``sample_observation`` draws a realistic measurement of latency/energy/memory from the
calibrated quantile function (heteroskedastic, long right tail). Perplexity and accuracy are
deterministic per architecture, so their "observation" is the point prediction; their
``interval`` describes the surrogate's own error (split conformal on held-out residuals).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from hwgpt.search_space import Arch, SearchSpace
from hwgpt.surrogates import artifacts
from hwgpt.surrogates.features import FeatureSpec, arch_arrays, cost_arrays, features
from hwgpt.surrogates.surrogate import EXACT_METRICS, POINT_METRICS, Surrogate

log = logging.getLogger(__name__)

METRICS = ("perplexity", "accuracy", "latency", "energy", "memory", "flops", "params")
EVALUATORS = ("surrogate", "live")

ArchOrList = Arch | list[Arch] | tuple[Arch, ...]


class Benchmark:
    """Surrogate benchmark of one scale.

    Args:
        scale: Search-space preset (``tiny``, ``s``, ``m``, ``l``).
        device: Default device id; None picks the device with the most surrogates (ties: first by name).
        artifacts_dir: Root of the artifacts; None reads those shipped inside the package.
        evaluator: ``surrogate`` (default) or ``live``, which measures on this machine
            (:class:`hwgpt.live.LiveEvaluator`); ``live`` ignores artifacts.
        **live_kwargs: Options of :class:`hwgpt.live.LiveEvaluator` (``repeats``, ``seq_len``, ``checkpoint``...).

    Raises:
        ValueError: unknown scale, or an explicit ``device`` with no surrogates (listing what exists).
    """

    def __init__(self, scale: str = "tiny", device: str | None = None, artifacts_dir: str | Path | None = None,
                 evaluator: str = "surrogate", **live_kwargs: Any) -> None:
        if evaluator not in EVALUATORS:
            raise ValueError(f"unknown evaluator {evaluator!r}; allowed: {list(EVALUATORS)}")
        if live_kwargs and evaluator != "live":
            raise ValueError(f"{sorted(live_kwargs)} are options of evaluator='live' (see hwgpt.live.LiveEvaluator)")
        self.space = SearchSpace.from_name(scale)
        self.scale = scale
        self.evaluator = evaluator
        self.artifacts_dir = artifacts_dir
        self._available = artifacts.available(artifacts_dir).get(scale, {})
        self._cache: dict[tuple[str, str], Surrogate] = {}
        self._live = None
        if evaluator == "live":
            from hwgpt.live import LiveEvaluator

            self._live = LiveEvaluator(self.space, device=device, **live_kwargs)
            self.device = self._live.device
            return
        if device is None:
            ranked = sorted(self._available.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            device = ranked[0][0] if ranked else None
        elif device not in self._available:
            raise ValueError(self._missing_message(None, device))
        self.device = device

    # ------------------------------------------------------------ discovery
    @property
    def devices(self) -> list[str]:
        """Devices with at least one surrogate at this scale."""
        if self._live is not None:
            return [self.device]
        return sorted(self._available)

    @property
    def available(self) -> dict[str, list[str]]:
        """``{device: [metric, ...]}`` of every surrogate at this scale."""
        if self._live is not None:
            return {self.device: list(self._live.metrics)}
        return {d: list(m) for d, m in self._available.items()}

    @property
    def metrics(self) -> list[str]:
        """Metrics answerable on the default device (device-independent ones from any device), plus exact ones."""
        if self._live is not None:
            return list(self._live.metrics) + list(EXACT_METRICS)
        here = set(self._available.get(self.device, []))
        here |= {m for ms in self._available.values() for m in ms if m in POINT_METRICS}
        return sorted(here) + list(EXACT_METRICS)

    def _missing_message(self, metric: str | None, device: str | None) -> str:
        root = "the shipped package (hwgpt/artifacts/surrogates)" if self.artifacts_dir is None else self.artifacts_dir
        what = f"metric {metric!r}" if metric else "any metric"
        m = metric or "latency"
        d = device or "<device>"
        return (
            f"no surrogate for {what} on device {device!r} at scale {self.scale!r}. Surrogates in {root}: "
            f"{ {s: v for s, v in artifacts.available(self.artifacts_dir).items()} or 'none'}. Create one: "
            f"`python profile.py scale={self.scale} device={d} metric={m} store=<store.sqlite>`, then "
            f"`python -m hwgpt.surrogates.fit scale={self.scale} device={d} store=<store.sqlite>` "
            f"(flops and params are always available, from hwgpt.cost)"
        )

    def resolve(self, metric: str) -> tuple[str, str | None]:
        """``"metric"`` or ``"metric@device"`` -> (metric, device that answers it; None for exact metrics).

        Raises:
            ValueError: unknown metric, or no surrogate for it (saying how to create one).
        """
        if not isinstance(metric, str):
            raise ValueError(f"metric names are strings, got {metric!r}")
        name, _, device = metric.partition("@")
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; allowed: {list(METRICS)} (optionally as 'metric@device')")
        if name in EXACT_METRICS:
            return name, None
        if self._live is not None:
            if device and device != self.device:
                raise ValueError(f"the live evaluator measures on {self.device!r} only, not {device!r}")
            return name, self.device
        if device:
            if name not in self._available.get(device, []):
                raise ValueError(self._missing_message(name, device))
            return name, device
        if self.device is not None and name in self._available.get(self.device, []):
            return name, self.device
        if name in POINT_METRICS:
            for dev in sorted(self._available):
                if name in self._available[dev]:
                    return name, dev
        raise ValueError(self._missing_message(name, self.device))

    def surrogate(self, metric: str) -> Surrogate:
        """The loaded surrogate answering ``metric`` (``metric@device`` allowed); loaded once."""
        name, device = self.resolve(metric)
        if device is None:
            raise ValueError(f"{name!r} is exact (hwgpt.cost); it has no surrogate")
        key = (device, name)
        if key not in self._cache:
            self._cache[key] = artifacts.load_shared(self.scale, device, name, self.artifacts_dir, self.space)
        return self._cache[key]

    # ---------------------------------------------------------------- queries
    def _batch(self, arch: ArchOrList) -> tuple[list[Arch], bool]:
        if isinstance(arch, Arch):
            return [arch], True
        if isinstance(arch, (list, tuple)):
            return list(arch), False
        return [self.space.validate(arch)], True  # raises the space's error for non-Arch input

    def _names(self, metrics: list[str] | str | None, devices: dict[str, str] | None) -> list[tuple[str, str]]:
        """(result key, metric[@device]) pairs."""
        if metrics is None:
            metrics = self.metrics
        elif isinstance(metrics, str):
            metrics = [metrics]
        devices = dict(devices or {})
        if extra := set(devices) - {m.partition("@")[0] for m in metrics}:
            raise ValueError(f"devices= names metrics that are not queried: {sorted(extra)}; queried: {list(metrics)}")
        return [(m, m if "@" in m or m not in devices else f"{m}@{devices[m]}") for m in metrics]

    def query(self, arch: ArchOrList, metrics: list[str] | str | None = None,
              devices: dict[str, str] | None = None) -> dict[str, Any]:
        """Point predictions (medians).

        Args:
            arch: One Arch, or a list of them (batched: encoded once, one predict per metric).
            metrics: Metric names (``metric@device`` allowed); None: :attr:`metrics`.
            devices: Optional ``{metric: device}`` overrides of the default device.

        Returns:
            ``{metric: float}`` for one arch, ``{metric: np.ndarray}`` for a list.
        """
        archs, single = self._batch(arch)
        names = self._names(metrics, devices)
        resolved = [(key, *self.resolve(m)) for key, m in names]
        if self._live is not None:
            out = {key: self._live.measure(archs, name) if device else self._exact(archs, name)
                   for key, name, device in resolved}
            return {k: float(v[0]) for k, v in out.items()} if single else out
        aa = arch_arrays(archs, self.space)
        feats: dict[FeatureSpec, np.ndarray] = {}
        out = {}
        for key, name, device in resolved:
            if device is None:
                c = cost_arrays(aa, self.space, FeatureSpec(1, self.space.block_size))
                out[key] = c[name].astype(np.int64)
                continue
            s = self.surrogate(f"{name}@{device}")
            if s.spec not in feats:
                feats[s.spec] = features(aa, self.space, s.spec)
            out[key] = s.median(feats[s.spec])
        if single:
            return {k: (int(v[0]) if k.partition("@")[0] in EXACT_METRICS else float(v[0])) for k, v in out.items()}
        return out

    def _exact(self, archs: list[Arch], name: str) -> np.ndarray:
        aa = arch_arrays(archs, self.space)
        return cost_arrays(aa, self.space, FeatureSpec(1, self.space.block_size))[name].astype(np.int64)

    def _surrogate_features(self, arch: ArchOrList, metric: str) -> tuple[Surrogate, np.ndarray, bool]:
        if self._live is not None:
            raise ValueError("intervals and simulated observations come from surrogates; "
                             "the live evaluator measures (use query)")
        name, device = self.resolve(metric)
        if device is None:
            raise ValueError(f"{name!r} is exact (hwgpt.cost): it has no interval and no noise")
        s = self.surrogate(metric)
        archs, single = self._batch(arch)
        return s, features(arch_arrays(archs, self.space), self.space, s.spec), single

    def interval(self, arch: ArchOrList, metric: str, coverage: float = 0.9) -> tuple[Any, Any]:
        """Conformally calibrated central interval ``(low, high)``.

        Args:
            arch: One Arch (floats) or a list (arrays).
            metric: Metric name (``metric@device`` allowed).
            coverage: One of the calibrated levels (0.2, 0.4, 0.5, 0.6, 0.8, 0.9, 0.95 with the default
                quantile grid); other values raise ValueError listing them (no interpolation: only
                calibrated levels carry the coverage guarantee).
        """
        s, X, single = self._surrogate_features(arch, metric)
        lo, hi = s.interval(X, coverage)
        return (float(lo[0]), float(hi[0])) if single else (lo, hi)

    def sample_observations(self, archs: list[Arch], metric: str, seed: int | np.random.Generator = 0) -> np.ndarray:
        """One simulated noisy observation per arch (inverse CDF of the calibrated quantiles).

        Perplexity and accuracy are deterministic per architecture: their "observation" is the median.
        """
        s, X, _ = self._surrogate_features(list(archs), metric)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        return s.sample(X, rng)

    def sample_observation(self, arch: Arch, metric: str, seed: int | np.random.Generator = 0) -> float:
        """One realistic noisy observation of ``metric`` for ``arch`` (see :meth:`sample_observations`)."""
        if not isinstance(arch, Arch):
            self.space.validate(arch)
        return float(self.sample_observations([arch], metric, seed)[0])

    def report(self, metric: str) -> dict[str, Any]:
        """Held-out validation of the surrogate of ``metric`` (see :mod:`hwgpt.surrogates.validation`)."""
        name, device = self.resolve(metric)
        if device is None:
            return {"model": "exact", "source": "hwgpt.cost", "metric": name}
        if self._live is not None:
            return {"model": "live", "device": self.device, "metric": name}
        return dict(self.surrogate(metric).meta["report"])

    def __repr__(self) -> str:
        return (f"Benchmark(scale={self.scale!r}, device={self.device!r}, evaluator={self.evaluator!r}, "
                f"devices={self.devices})")
