"""The black box a search optimises: benchmark queries (noisy or medians) for a list of objectives.

One benchmark object per device (hardware objectives may come from different devices). Every
check runs in the constructor, before any evaluation: unknown device, objective without a
surrogate on its device.

An evaluation is a simulated measurement (:meth:`SurrogateProblem.observe`) at a fidelity of
``r`` rounds out of ``protocol.repeats`` (full fidelity by default):

* hardware metrics: the median of ``r`` repeated observations (keyed draws, see
  :mod:`hwgpt.benchmark`), so fewer rounds are noisier;
* perplexity: the surrogate's value at full fidelity; with ``r < R`` rounds only a share ``r / R``
  of the evaluation windows is used, and log-perplexity moves by
  ``c + e``, ``c ~ N(0, s_c^2 (1/w - 1/W))`` common to all archs of the run (the windows' difficulty)
  and ``e ~ N(0, s_a^2 (1/w - 1/W))`` per arch, ``w = W r / R`` windows of ``W``. ``s_c = 0.30``
  and ``s_a = 0.032`` nats are the per-window standard deviations measured on the shipped tiny
  supernet (64 windows of 256 tokens, 10 archs; README, "Search as a simulator"); accuracy stays exact;
* ``simulated_seconds``: :meth:`hwgpt.Benchmark.simulated_seconds` at those rounds.

Every draw is keyed by ``(run seed, evaluation index)``: re-running (or resuming) a run gives
the same observations.

Length: one class, :class:`SurrogateProblem`: one evaluation (:meth:`~SurrogateProblem.observe`, every
fidelity at once) and the same values computed ahead in batches (:meth:`~SurrogateProblem.prefetch`,
:meth:`~SurrogateProblem.observe_rounds_many`) share the run's caches and keys, and are tested bit for bit
against each other.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hwgpt import libm
from hwgpt.benchmark import Benchmark as _Benchmark
from hwgpt.errors import InvalidInput
from hwgpt.search.objectives import EXACT_METRICS, Normalization, Objective
from hwgpt.search_space import Arch, SearchSpace
from hwgpt.simulation.draws import (
    _GOLDEN,
    _M64,
    _mix,
    _mix_np,
    draw_key,
    keyed_uniform,
    keyed_uniforms,
    stream_key,
    uniform_of,
)
from hwgpt.simulation.protocol import MeasurementProtocol

log = logging.getLogger(__name__)

_BOUNDS_CACHE: dict[tuple, dict[str, tuple[float, float]]] = {}

BATCH_VALUES = 8
"""From this many archs, :meth:`SurrogateProblem.prefetch` also computes their full-fidelity values and
simulated seconds in one batch (below it, numpy's per-call cost exceeds the scalar path's)."""


NLL_SD_COMMON = 0.30
"""Per-window sd (nats) of the mean NLL shared by all archs (window difficulty), tiny supernet."""
NLL_SD_ARCH = 0.032
"""Per-window sd (nats) of an arch's mean NLL once the windows' difficulty is removed, tiny supernet."""
_NORMAL = __import__("statistics").NormalDist()
_PPL_COMMON, _PPL_ARCH = stream_key("perplexity/windows-common"), stream_key("perplexity/windows-arch")


def observation_seed(seed: int, index: int, objective: int = 0) -> int:
    """Seed of the noise draws of evaluation ``index`` in a run seeded ``seed`` (63 bits).

    Every objective uses it: the benchmark's draws are keyed by metric and device as well.
    ``objective`` is accepted for compatibility and ignored.
    """
    return _mix(((int(seed) & _M64) * _GOLDEN + int(index)) & _M64) >> 1


def observation_seeds(seed: int, indices: np.ndarray) -> np.ndarray:
    """:func:`observation_seed` of each of ``indices`` (uint64; the same integer hashing, bit-identical)."""
    with np.errstate(over="ignore"):
        z = np.uint64(int(seed) & _M64) * np.uint64(_GOLDEN) + np.asarray(indices).astype(np.uint64)
        return _mix_np(z) >> np.uint64(1)


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
        protocol: MeasurementProtocol | None = None,
    ) -> None:
        self.space = SearchSpace.from_name(scale)
        self.scale, self.noise, self.seed = scale, bool(noise), int(seed)
        self.protocol = protocol or MeasurementProtocol()
        self._exact: dict[tuple[Arch, str], float] = {}
        self._factory = benchmark
        default = benchmark(scale=scale, device=None)
        if getattr(default, "evaluator", "surrogate") != "surrogate":
            raise InvalidInput(
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
                raise InvalidInput(
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
        self._full_seconds: dict[Arch, float] = {}
        # Full-fidelity values computed ahead in a batch (prefetch): {evaluation index: (arch, values by
        # objective, None where observe computes it)}; read once by observe at that index, for that arch.
        self._ready: dict[int, tuple[Arch, list[float | None]]] = {}
        self._by_rounds: tuple[Arch | None, list[float]] = (None, [])  # see _seconds_by_rounds
        self._ppl_key: tuple[Arch | None, int] = (None, 0)  # see _perplexity
        self._ppl_rounds: dict[int, tuple[float, float]] = {}  # rounds -> (scale, common shift): see _perplexity
        self._plan = []  # (name, kind, benchmark, metric) per objective: how observe() answers it
        self._plan_prefetch: list[tuple[Any, list[str], list[str]]] | None = None  # see _prefetch_plan
        for o in self.objectives:
            kind = ("exact" if o.metric in EXACT_METRICS else "median" if not self.noise
                    else "perplexity" if o.metric == "perplexity" else "draw" if o.hardware else "median")
            self._plan.append((o.name, kind, self._bench(o), o.metric))
        for o in self.objectives:
            bench = self._bench(o)
            if o.metric not in bench.metrics:
                having = [d for d in allowed if o.metric in benchmark(scale=scale, device=d).metrics]
                raise InvalidInput(
                    f"objective {o.name!r}: no {o.metric} surrogate for device {self.device_of(o)!r} "
                    f"(scale {scale!r}); devices with one: {having}; "
                    f"metrics on {self.device_of(o)!r}: {list(bench.metrics)}"
                )

        # what simulated_seconds measures: every objective, hardware ones on their device
        self._seconds_metrics = [f"{o.metric}@{self.device_of(o)}" if o.hardware and self.device_of(o) else o.metric
                                 for o in self.objectives]

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

    @property
    def max_rounds(self) -> int:
        """Full fidelity: ``protocol.repeats`` rounds."""
        return self.protocol.repeats

    def check_rounds(self, rounds: int | None) -> int:
        """``rounds`` (None: full fidelity) checked against ``1..protocol.repeats``."""
        if rounds is None:
            return self.protocol.repeats
        if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or not 1 <= rounds <= self.max_rounds:
            raise InvalidInput(f"fidelity (rounds) must be an integer in [1, {self.max_rounds}] "
                               f"(simulation.repeats), got {rounds!r}")
        return int(rounds)

    def evaluate(self, arch: Arch, index: int, rounds: int | None = None) -> dict[str, float]:
        """Raw metric values of ``arch`` as evaluation number ``index`` of the run."""
        return self.observe(arch, index, rounds)[0]

    def observe(self, arch: Arch, index: int, rounds: int | None = None) -> tuple[dict[str, float], float]:
        """``(raw objective values, simulated seconds)`` of evaluation ``index`` at ``rounds`` rounds."""
        R = self.protocol.repeats
        r = R if rounds is None else self.check_rounds(rounds)
        ready = self._ready.pop(index, None) if r == R and self._ready else None
        if ready is not None and ready[0] is not arch and ready[0] != arch:
            ready = None  # computed ahead for another arch (a wrong guess): computed now
        seed = None
        out = {}
        for j, (name, kind, bench, metric) in enumerate(self._plan):
            if ready is not None and ready[1][j] is not None:
                out[name] = ready[1][j]
            elif kind == "exact":
                out[name] = self._exact_value(bench, arch, metric)
            elif kind == "draw":
                seed = observation_seed(self.seed, index) if seed is None else seed
                out[name] = float(bench.sample_observation(arch, metric, seed=seed, repeats=r))
            elif kind == "perplexity" and r < R:
                out[name] = self._perplexity(bench, arch, r)
            else:
                out[name] = _median(bench, arch, metric)
        if r == R:
            secs = self._full_seconds.get(arch)
            if secs is None:
                secs = self._full_seconds[arch] = self.seconds(arch, R)
            return out, secs
        return out, self._seconds_by_rounds(arch)[r - 1]

    def observe_rounds(self, arch: Arch, index: int) -> list[tuple[dict[str, float], float]]:
        """``[observe(arch, index, r) for r in 1..R]`` (the same bits), for a multi-fidelity trial that reads
        every fidelity: what does not depend on the rounds (seed, medians, exact values, the draws' keyed
        uniforms) is computed once."""
        R = self.protocol.repeats
        if index in self._ready:  # (values computed ahead at full fidelity: observe reads them)
            return [self.observe(arch, index, r) for r in range(1, R + 1)]
        seed = None
        outs: list[dict[str, float]] = [{} for _ in range(R)]
        for name, kind, bench, metric in self._plan:
            if kind == "draw":
                seed = observation_seed(self.seed, index) if seed is None else seed
                if hasattr(bench, "sample_observation_rounds"):
                    vals = [float(v) for v in bench.sample_observation_rounds(arch, metric, seed, R)]
                else:
                    vals = [float(bench.sample_observation(arch, metric, seed=seed, repeats=r))
                            for r in range(1, R + 1)]
            elif kind == "exact":
                vals = [self._exact_value(bench, arch, metric)] * R
            elif kind == "perplexity":
                ppl = _median(bench, arch, metric)
                vals = [self._perplexity(bench, arch, r, ppl) for r in range(1, R)] + [ppl]
            else:
                vals = [_median(bench, arch, metric)] * R
            for out, v in zip(outs, vals, strict=True):
                out[name] = v
        by_rounds = self._seconds_by_rounds(arch)  # (its R-th: the scalar formula's bits, + - * / only)
        secs = self._full_seconds.setdefault(arch, by_rounds[R - 1])
        return list(zip(outs, [*by_rounds[:R - 1], secs], strict=True))

    def observe_rounds_many(self, archs: Sequence[Arch], start: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``observe_rounds(archs[k], start + k)`` for every ``k``, in one batch and as arrays (the same bits):
        ``(values, seconds)`` of shapes ``(n, R, objectives)`` (objectives in :attr:`names`' order) and
        ``(n, R)``, at ``1..R`` rounds. For a multi-fidelity searcher whose next trials are known (MOASHA's
        random configurations, see :mod:`hwgpt.search.multifidelity`).

        Fills the surrogate caches for ``archs`` (:meth:`prefetch`) in any case; returns None, leaving the
        values to :meth:`observe_rounds`, for fewer than :data:`BATCH_VALUES` archs and for a benchmark
        without batched multi-fidelity draws.
        """
        archs = list(archs)
        self.prefetch(archs)
        base = self._benches[None]
        if len(archs) < BATCH_VALUES or not all(hasattr(b, "sample_observations_rounds") and hasattr(b, "medians")
                                                for b in self._benches.values()):
            return None
        R, n = self.max_rounds, len(archs)
        seeds = observation_seeds(self.seed, np.arange(start, start + n))
        values = np.empty((n, R, len(self._plan)))
        for j, (_, kind, bench, metric) in enumerate(self._plan):
            if kind == "draw":
                values[:, :, j] = bench.sample_observations_rounds(archs, metric, seeds, R)
            elif kind == "exact":
                values[:, :, j] = np.array([self._exact_value(bench, a, metric) for a in archs])[:, None]
            elif kind == "perplexity":
                values[:, :, j] = self._perplexities(bench, archs, metric)
            else:
                values[:, :, j] = np.asarray(bench.medians(archs, metric), dtype=np.float64)[:, None]
        secs = np.stack([np.asarray(base.simulated_seconds(archs, self._seconds_metrics, self.protocol, repeats=r))
                         for r in range(1, R + 1)], axis=1)  # (the scalar formula's bits, + - * / only)
        return values, secs

    def _exact_value(self, bench: Any, arch: Arch, metric: str) -> float:
        """An exact metric (flops, params) of ``arch``, queried once per run."""
        key = (arch, metric)
        if key not in self._exact:
            self._exact[key] = float(bench.query(arch, metrics=[metric])[metric])
        return self._exact[key]

    def _perplexities(self, bench: Any, archs: list[Arch], metric: str) -> np.ndarray:
        """``(len(archs), R)``: :meth:`_perplexity` of each arch at ``1..R`` rounds (the same bits: the keyed
        uniforms in numpy, the normal quantiles and exp by the same scalar functions, + - * elementwise)."""
        R = self.max_rounds
        ppl = np.asarray(bench.medians(archs, metric), dtype=np.float64)
        out = np.repeat(ppl[:, None], R, axis=1)
        if self.protocol.perplexity_windows == 0 or R == 1:
            return out
        keys = np.array([int(a.id, 16) for a in archs], dtype=np.uint64)[:, None]
        rs = np.arange(1, R, dtype=np.uint64)[None, :]
        u = keyed_uniforms(np.uint64(self.seed & _M64), keys, _PPL_ARCH, rs)  # = uniform_of(draw_key(...), r)
        z = np.fromiter(map(_NORMAL.inv_cdf, u.ravel().tolist()), np.float64, u.size).reshape(u.shape)
        scale, common = (np.array(v) for v in zip(*(self._ppl_round(r) for r in range(1, R)), strict=True))
        shift = scale * (common + NLL_SD_ARCH * z)
        out[:, :R - 1] = ppl[:, None] * libm.exp(shift)
        return out

    def _ppl_round(self, r: int) -> tuple[float, float]:
        """``(scale, common shift)`` of the perplexity at ``r < R`` rounds: what depends on the run and the
        rounds only (one common offset per run and rounds: the same windows for every arch), cached."""
        per_rounds = self._ppl_rounds.get(r)
        if per_rounds is None:
            R, W = self.protocol.repeats, self.protocol.perplexity_windows
            w = W * r / R
            u_c = keyed_uniform(self.seed, r, _PPL_COMMON)
            per_rounds = self._ppl_rounds[r] = (float(np.sqrt(1.0 / w - 1.0 / W)),
                                                NLL_SD_COMMON * _NORMAL.inv_cdf(u_c))
        return per_rounds

    def _seconds_by_rounds(self, arch: Arch) -> list[float]:
        """Simulated seconds of ``arch`` at ``1..R`` rounds (multi-fidelity: every rung reads them), in
        one call where the benchmark takes an array of repeats (the same arithmetic per element as
        :meth:`seconds`), else one call per number of rounds. The last arch's only."""
        if self._by_rounds[0] is arch:
            return self._by_rounds[1]
        R = self.max_rounds
        secs = None
        if isinstance(self._benches[None], _Benchmark):
            secs = np.asarray(self._benches[None].simulated_seconds(
                arch, self._seconds_metrics, self.protocol, repeats=np.arange(1, R + 1))).tolist()
        if not isinstance(secs, list) or len(secs) != R:
            secs = [self.seconds(arch, r) for r in range(1, R + 1)]
        self._by_rounds = (arch, secs)
        return secs

    def prepare(self) -> float:
        """Load and compile every surrogate the evaluations read, once, before the first one.

        Returns its wall seconds: a one-off cost, reported apart from the per-evaluation cost.
        """
        t0 = time.perf_counter()
        self.prefetch([])
        return time.perf_counter() - t0

    def prefetch(self, archs: Sequence[Arch], start: int | None = None) -> None:
        """Warm the benchmarks' caches for ``archs`` (one batch per surrogate), where they have one.

        ``start``: the evaluation index ``archs[0]`` will most likely have (the rest following in
        order): their full-fidelity draws and simulated seconds are computed now, in one batch
        (:meth:`hwgpt.Benchmark.sample_observations`, bit-identical to one draw at a time). An
        evaluation at another index (a duplicate in between) or of another arch is computed when it
        comes: the values never depend on the guess.
        """
        base = self._benches[None]  # simulated seconds read the latency of every hardware device
        for bench, metrics, without_latency in self._prefetch_plan():
            try:
                bench.prefetch(list(archs), metrics)
            except ValueError:  # a device without a latency surrogate: simulated_seconds will say so
                bench.prefetch(list(archs), without_latency)
        if start is None or len(archs) < BATCH_VALUES or not hasattr(base, "prefetch_draws"):
            return  # (a few archs: observe's scalar path on the filled caches is cheaper than numpy's)
        fresh = list(dict.fromkeys(a for a in archs if a not in self._full_seconds))
        if fresh:
            secs = base.simulated_seconds(fresh, self._seconds_metrics, self.protocol, repeats=self.max_rounds)
            self._full_seconds.update(zip(fresh, secs.tolist(), strict=True))
        archs = list(archs)
        seeds = observation_seeds(self.seed, np.arange(start, start + len(archs)))
        columns: list[list[float] | None] = [  # what observe reads at full fidelity: draws and medians
            bench.sample_observations(archs, metric, seeds, self.max_rounds).tolist()
            if kind == "draw" and hasattr(bench, "prefetch_draws")
            else bench.medians(archs, metric).tolist() if kind in ("perplexity", "median") and hasattr(bench, "medians")
            else None
            for _, kind, bench, metric in self._plan
        ]
        if len(self._ready) > 4 * len(archs) + 1024:  # guesses that were never evaluated
            self._ready.clear()
        for k, a in enumerate(archs):
            self._ready[start + k] = (a, [None if c is None else c[k] for c in columns])

    def _prefetch_plan(self) -> list[tuple[Any, list[str], list[str]]]:
        """``(benchmark, metrics, metrics without the simulated time's latencies)`` for each benchmark
        with a cache that :meth:`prefetch` fills (the same every call: computed once)."""
        if self._plan_prefetch is None:
            by_bench: dict[int, tuple[Any, set[str]]] = {}
            for o in self.objectives:
                if o.metric not in EXACT_METRICS:
                    bench = self._bench(o)
                    by_bench.setdefault(id(bench), (bench, set()))[1].add(o.metric)
            base = self._benches[None]
            latency = {f"latency@{self.device_of(o)}" for o in self.objectives if o.hardware and self.device_of(o)}
            if latency and "latency" in getattr(base, "metrics", []):
                by_bench.setdefault(id(base), (base, set()))[1].update(latency)
            self._plan_prefetch = [(bench, sorted(ms), sorted(m for m in ms if m not in latency))
                                   for bench, ms in by_bench.values() if hasattr(bench, "prefetch")]
        return self._plan_prefetch

    def _perplexity(self, bench: Any, arch: Arch, r: int, ppl: float | None = None) -> float:
        """Perplexity of ``arch`` at ``r`` rounds (``ppl``: its median, when the caller has it)."""
        ppl = _median(bench, arch, "perplexity") if ppl is None else ppl
        R, W = self.protocol.repeats, self.protocol.perplexity_windows
        if r >= R or W == 0:
            return ppl
        scale, common = self._ppl_round(r)
        if self._ppl_key[0] is not arch:  # the last arch's key (a multi-fidelity trial reads every r)
            self._ppl_key = (arch, draw_key(self.seed, int(arch.id, 16), _PPL_ARCH))
        u_a = uniform_of(self._ppl_key[1], r)  # = keyed_uniform(self.seed, arch key, _PPL_ARCH, r)
        shift = scale * (common + NLL_SD_ARCH * _NORMAL.inv_cdf(u_a))
        return float(ppl * math.exp(shift))  # libm, not numpy's SIMD exp: one code path per value

    def seconds(self, arch: Arch, rounds: int | None = None) -> float:
        """Simulated seconds of measuring every objective of ``arch`` at ``rounds`` rounds."""
        bench = self._benches[None]
        key = (arch, f"seconds/{rounds}")
        if key not in self._exact:
            self._exact[key] = float(bench.simulated_seconds(arch, self._seconds_metrics, self.protocol,
                                                             repeats=rounds))
        return self._exact[key]

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


def _median(bench: Any, arch: Arch, metric: str) -> float:
    """The benchmark's cached median when it has one (hwgpt.Benchmark), else its query."""
    if hasattr(bench, "median"):
        return float(bench.median(arch, metric))
    return float(bench.query(arch, metrics=[metric])[metric])
