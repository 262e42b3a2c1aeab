"""The black box a search optimises: benchmark queries (noisy or medians) for a list of objectives.

One benchmark object per device (hardware objectives may come from different devices). Every
check runs in the constructor, before any evaluation: unknown device, objective without a
surrogate on its device.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hwgpt.search.objectives import EXACT_METRICS, Normalization, Objective
from hwgpt.search_space import Arch, SearchSpace

log = logging.getLogger(__name__)

_BOUNDS_CACHE: dict[tuple, dict[str, tuple[float, float]]] = {}


def observation_seed(seed: int, index: int, objective: int) -> int:
    """Seed of the noise draw of evaluation ``index``, objective ``objective`` in a run seeded ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(index), int(objective)]).generate_state(1)[0])


class SurrogateProblem:
    """Objectives of architectures, answered by benchmark surrogates.

    Args:
        benchmark: Factory ``benchmark(scale=..., device=...)`` returning a benchmark object
            (:class:`hwgpt.Benchmark` or anything with its interface).
        scale: Search-space preset.
        objectives: Parsed objectives (see :func:`hwgpt.search.objectives.parse_objectives`).
        device: Default device (``None``: the benchmark's default).
        noise: Draw noisy observations from the surrogates (``True``) or use their medians.
        seed: Seed of the observation noise.

    Raises:
        ValueError: Unknown device, or an objective with no surrogate on its device.
    """

    def __init__(
        self, benchmark: Callable[..., Any], scale: str, objectives: Sequence[Objective],
        device: str | None = None, noise: bool = True, seed: int = 0,
    ) -> None:
        self.space = SearchSpace.from_name(scale)
        self.scale, self.noise, self.seed = scale, bool(noise), int(seed)
        self._factory = benchmark
        default = benchmark(scale=scale, device=None)
        if getattr(default, "evaluator", "surrogate") != "surrogate":
            raise ValueError(
                "search runs on surrogates (evaluator='surrogate'); re-measure a found Pareto front with "
                "hwgpt.Benchmark(evaluator='live').query(...) instead"
            )
        allowed = list(default.devices)
        wanted = {o.device for o in objectives} | {device}
        for dev in sorted(d for d in wanted if d is not None):
            if dev not in allowed:
                hint = "" if allowed else (
                    " (none: fit surrogates first, or try the synthetic stand-in "
                    "benchmark._target_=hwgpt.search.analytic.AnalyticBenchmark)"
                )
                raise ValueError(
                    f"unknown device {dev!r} for scale {scale!r}; devices with surrogates: {allowed}{hint}"
                )
        self._benches: dict[str | None, Any] = {
            None: default if device is None else benchmark(scale=scale, device=device)
        }
        if device is not None:
            self._benches[device] = self._benches[None]
        for dev in wanted - {None}:
            if dev not in self._benches:
                self._benches[dev] = benchmark(scale=scale, device=dev)
        self.objectives = tuple(
            Objective(o.name, o.metric, o.device or (device if o.hardware else None)) for o in objectives
        )
        for o in self.objectives:
            bench = self._bench(o)
            if o.metric not in bench.metrics:
                having = [d for d in allowed if o.metric in benchmark(scale=scale, device=d).metrics]
                raise ValueError(
                    f"objective {o.name!r}: no {o.metric} surrogate for device {self.device_of(o)!r} "
                    f"(scale {scale!r}); devices with one: {having}; "
                    f"metrics on {self.device_of(o)!r}: {list(bench.metrics)}"
                )

    def _bench(self, o: Objective) -> Any:
        return self._benches[o.device if o.hardware else None]

    def device_of(self, o: Objective) -> str | None:
        """The device an objective is answered on (resolved benchmark default included)."""
        return getattr(self._bench(o), "device", o.device)

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def devices(self) -> dict[str, str | None]:
        """``{objective name: device}`` of the hardware objectives."""
        return {o.name: self.device_of(o) for o in self.objectives if o.hardware}

    def evaluate(self, arch: Arch, index: int) -> dict[str, float]:
        """Raw metric values of ``arch`` as evaluation number ``index`` of the run."""
        out = {}
        for j, o in enumerate(self.objectives):
            bench = self._bench(o)
            if self.noise and o.metric not in EXACT_METRICS:
                seed = observation_seed(self.seed, index, j)
                out[o.name] = float(bench.sample_observation(arch, o.metric, seed=seed))
            else:
                out[o.name] = float(bench.query(arch, metrics=[o.metric])[o.metric])
        return out

    def medians(self, archs: Sequence[Arch]) -> dict[str, np.ndarray]:
        """Noise-free (median) values of ``archs``, batched per objective."""
        archs = list(archs)
        if not archs:
            return {o.name: np.zeros(0) for o in self.objectives}
        return {
            o.name: np.asarray(self._bench(o).query(archs, metrics=[o.metric])[o.metric], dtype=np.float64)
            for o in self.objectives
        }

    def normalization(self, n_archs: int = 2000, seed: int = 0) -> Normalization:
        """Min-max bounds from the medians of ``n_archs`` seeded unique samples plus the smallest and largest arch.

        Depends only on the benchmark, scale, objectives and ``(n_archs, seed)``, never on the
        optimizer or the run's seed, so hypervolumes are comparable across runs. Cached per process.
        """
        key = (
            getattr(self._factory, "__qualname__", repr(self._factory)), self.scale,
            tuple((o.name, o.metric, self.device_of(o)) for o in self.objectives), int(n_archs), int(seed),
        )
        if key not in _BOUNDS_CACHE:
            archs = self.space.sample_unique(n_archs, seed) + [self.space.smallest(), self.space.largest()]
            med = self.medians(archs)
            _BOUNDS_CACHE[key] = {k: (float(np.min(v)), float(np.max(v))) for k, v in med.items()}
            log.info("normalization bounds from %d archs: %s", len(archs), _BOUNDS_CACHE[key])
        return Normalization(self.objectives, _BOUNDS_CACHE[key])
