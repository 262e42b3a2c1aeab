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

Simulation hot path (:mod:`hwgpt.simulation`): an architecture's calibrated quantiles are deterministic,
so they are computed once per (surrogate, arch) on trees compiled to numpy (:mod:`hwgpt.fast_predict`) and
cached (:mod:`hwgpt.simulation.cache`); a noisy draw is then an interpolation in the cached row.
Draws are *keyed* (:mod:`hwgpt.simulation.draws`): the uniform behind a draw is a hash (splitmix64) of
``(seed, arch id, metric@device, repeat index)``, so draws are independent across seeds, architectures,
metrics and devices, and the same for the same key whether drawn alone or in a batch, in any order, in any
process. Latency and energy draws of one arch are independent: in the measurements they come from separate
runs and their per-repeat deviations are uncorrelated (Spearman 0.006, p = 0.68, 4004 tiny pairs; 0.019, p =
0.54, 1004 at S; docs, "Search as a simulator"), so a joint (correlated) draw is not offered.

Length: one class, the public facade :class:`Benchmark` (about 430 lines): its methods are the API users
call (``query``, ``interval``, ``sample_observation(s)``, ``simulated_seconds``, ``report`` and their checks).
What they stand on has its own modules: the draws, the quantile cache and the measurement protocol
(:mod:`hwgpt.simulation`), the artifacts (:mod:`hwgpt.surrogates.artifacts`), the metric names
(:mod:`hwgpt.metrics`) and the live evaluator (:mod:`hwgpt.live`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from hwgpt import libm
from hwgpt.errors import InvalidInput, check_float, check_int
from hwgpt.metrics import METRICS
from hwgpt.search_space import Arch, SearchSpace
from hwgpt.simulation.cache import BATCH_NATIVE, PENDING_MAX, QuantileTable
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
from hwgpt.surrogates import artifacts
from hwgpt.surrogates.distribution import inverse_cdf
from hwgpt.surrogates.features import FeatureSpec, arch_arrays, cost_arrays, features, features_by_spec
from hwgpt.surrogates.surrogate import EXACT_METRICS, POINT_METRICS, Surrogate

log = logging.getLogger(__name__)

# Moved into hwgpt.simulation (one concept per module); importable from here as before.
__all__ = [
    "ANY_DEVICE", "BATCH_NATIVE", "EVALUATORS", "METRICS", "PENDING_MAX", "Benchmark", "MeasurementProtocol",
    "QuantileTable", "_GOLDEN", "_M64", "_Table", "_mix", "_mix_np", "draw_key", "keyed_uniform", "keyed_uniforms",
    "stream_key", "uniform_of",
]
_Table = QuantileTable

MAX_DRAW_REPEATS = 100_000
"""Most ``repeats`` one simulated observation may take (the median of that many draws; the paper uses 10)."""
#: artifact directory of device-independent surrogates (perplexity, accuracy of the paper scales); not a device
ANY_DEVICE = "any"
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
            raise InvalidInput(f"unknown evaluator {evaluator!r}; allowed: {list(EVALUATORS)}")
        if live_kwargs and evaluator != "live":
            raise InvalidInput(f"{sorted(live_kwargs)} are options of evaluator='live' (see hwgpt.live.LiveEvaluator)")
        self.space = SearchSpace.from_name(scale)
        self.scale = scale
        self.evaluator = evaluator
        if artifacts_dir is not None and evaluator == "surrogate" and not Path(artifacts_dir).is_dir():
            raise InvalidInput(f"artifacts_dir {str(artifacts_dir)!r} is missing (not a directory); give a directory "
                               "holding <scale>/<device>/<metric>.meta.json files, or None for the shipped ones")
        self.artifacts_dir = artifacts_dir
        self._available = artifacts.available(artifacts_dir).get(scale, {})
        self._cache: dict[tuple[str, str], Surrogate] = {}
        self._tables: dict[str, QuantileTable] = {}
        self._plans: dict[tuple, tuple] = {}  # simulated_seconds: metric list -> what it measures
        self._live = None
        if evaluator == "live":
            from hwgpt.live import LiveEvaluator

            self._live = LiveEvaluator(self.space, device=device, **live_kwargs)
            self.device = self._live.device
            return
        if device is None:
            ranked = sorted(((d, m) for d, m in self._available.items() if d != ANY_DEVICE),
                            key=lambda kv: (-len(kv[1]), kv[0]))
            device = ranked[0][0] if ranked else None
        elif device not in self._available:
            raise InvalidInput(self._missing_message(None, device))
        self.device = device

    # ------------------------------------------------------------ discovery
    @property
    def devices(self) -> list[str]:
        """Devices with at least one surrogate at this scale (device-independent surrogates are not a device)."""
        if self._live is not None:
            return [self.device]
        return sorted(d for d in self._available if d != ANY_DEVICE)

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
            raise InvalidInput(f"metric names are strings, got {metric!r}")
        name, at, device = metric.partition("@")
        if at and not device:
            raise InvalidInput(f"metric {metric!r}: '@' must be followed by a device (e.g. 'latency@cpu'); "
                               f"devices at scale {self.scale!r}: {self.devices}")
        if name not in METRICS:
            raise InvalidInput(f"unknown metric {name!r}; allowed: {list(METRICS)} (optionally as 'metric@device')")
        if name in EXACT_METRICS:
            return name, None
        if self._live is not None:
            if device and device != self.device:
                raise InvalidInput(f"the live evaluator measures on {self.device!r} only, not {device!r}")
            return name, self.device
        if device:
            if name not in self._available.get(device, []):
                raise InvalidInput(self._missing_message(name, device))
            return name, device
        if self.device is not None and name in self._available.get(self.device, []):
            return name, self.device
        if name in POINT_METRICS:
            for dev in sorted(self._available):
                if name in self._available[dev]:
                    return name, dev
        raise InvalidInput(self._missing_message(name, self.device))

    def surrogate(self, metric: str) -> Surrogate:
        """The loaded surrogate answering ``metric`` (``metric@device`` allowed); loaded once."""
        name, device = self.resolve(metric)
        if device is None:
            raise InvalidInput(f"{name!r} is exact (hwgpt.cost); it has no surrogate")
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
        elif not isinstance(metrics, (list, tuple)):
            raise InvalidInput(f"metrics must be a metric name or a list of them (from {list(METRICS)}), "
                               f"got {metrics!r}")
        devices = dict(devices or {})
        if extra := set(devices) - {m.partition("@")[0] for m in metrics}:
            raise InvalidInput(f"devices= names metrics that are not queried: {sorted(extra)}; "
                               f"queried: {list(metrics)}")
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

    def _surrogate_source(self, metric: str, what: str) -> tuple[str, str]:
        """(metric, device) of the surrogate behind ``what``; refused for the live evaluator and exact metrics."""
        if self._live is not None:
            raise InvalidInput(f"{what} come from surrogates; the live evaluator measures (use query)")
        name, device = self.resolve(metric)
        if device is None:
            raise InvalidInput(f"{name!r} is exact (hwgpt.cost): it has no interval and no noise")
        return name, device

    def _surrogate_features(self, arch: ArchOrList, metric: str) -> tuple[Surrogate, np.ndarray, bool]:
        self._surrogate_source(metric, "intervals and simulated observations")
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
        check_float("coverage", coverage, min=0.0, max=1.0, inclusive=False)
        s, X, single = self._surrogate_features(arch, metric)
        lo, hi = s.interval(X, coverage)
        return (float(lo[0]), float(hi[0])) if single else (lo, hi)

    # ------------------------------------------------------------ simulation
    def _table(self, metric: str) -> QuantileTable:
        """The cache of ``metric`` (``metric@device`` allowed); one per (device, metric)."""
        t = self._tables.get(metric)
        if t is None:
            name, device = self._surrogate_source(metric, "simulated observations")
            t = self._tables.get(f"{name}@{device}")
            if t is None:
                key = f"{name}@{device}"
                t = self._tables[key] = QuantileTable(self.surrogate(key), key)
            self._tables[metric] = t
        return t

    def _rows(self, t: QuantileTable, archs: list[Arch]) -> np.ndarray:
        """Row index of every arch in ``t``, computing the missing ones in one batch."""
        rows = [t.lookup(a) for a in archs]
        missing = [a for a, r in zip(archs, rows, strict=True) if r is None]
        if missing:
            fresh = list({a: None for a in missing})
            for a in fresh:
                if not isinstance(a, Arch):
                    self.space.validate(a)  # raises the space's error
            t.add(fresh, features(arch_arrays(fresh, self.space), self.space, t.spec))
            rows = [t.lookup(a) for a in archs]
        return np.asarray(rows, dtype=np.int64)

    def prefetch(self, archs: list[Arch], metrics: list[str] | None = None) -> None:
        """Fill the cache for ``archs`` in one batch per surrogate (features once per setting).

        Later draws and medians of these archs cost µs. ``metrics``: which (``metric@device``
        allowed); None: every surrogate already in use.
        """
        if self._live is not None:
            return
        tables = [self._tables.get(m) or self._table(m) for m in metrics] if metrics is not None \
            else list(self._tables.values())
        unique = list(dict.fromkeys(archs))
        # per distinct table, the archs it lacks (usually the same list for all: computed once)
        missing: list[tuple[QuantileTable, list[Arch]]] = []
        seen: set[int] = set()
        for t in tables:
            if id(t) not in seen:
                seen.add(id(t))
                by_id, by_value = t.by_id, t.by_value  # (t.lookup's test, inline: this runs per arch and table)
                missing.append((t, [a for a in unique if id(a) not in by_id and a not in by_value]))
        fresh = missing[0][1] if missing else []
        if any(m != fresh for _, m in missing):  # (list equality tries identity first: the same archs cost no __eq__)
            lacking = {id(a) for _, m in missing for a in m}
            fresh = [a for a in unique if id(a) in lacking]
        if not fresh:
            return
        aa = arch_arrays(fresh, self.space)  # once for every setting
        keys = [int(a.id, 16) for a in fresh]
        row = None
        feats = features_by_spec(aa, self.space, [t.spec for t, m in missing if m])  # once per setting
        for t, m in missing:
            if not m:
                continue
            X = feats[t.spec]
            if len(m) == len(fresh):  # (m is fresh, in order)
                t.add(m, X, keys)
            else:
                row = row or {a: i for i, a in enumerate(fresh)}
                idx = [row[a] for a in m]
                t.add(m, X[idx], [keys[i] for i in idx])

    def prefetch_draws(self, archs: list[Arch], metric: str, seeds: np.ndarray, repeats: int = 1) -> None:
        """Compute the draws ``sample_observation(archs[k], metric, seeds[k], repeats)`` ahead, in one batch.

        For a searcher that knows its next evaluations (random search); the later calls then cost
        an interpolation. Results are bit-identical to computing each draw on its own.
        """
        if self._live is not None:
            return
        self._check_draw(seeds, repeats)
        t = self._table(metric)
        if t.noise and len(archs):
            t.prefetch_draws(self._rows(t, list(archs)), np.asarray(seeds), repeats)

    @staticmethod
    def _check_draw(seed: Any, repeats: int) -> None:
        if not isinstance(seed, np.random.Generator):
            s = np.asarray(seed)
            if s.dtype.kind not in "iu" or (s.dtype.kind == "i" and (s < 0).any()) or s.dtype == bool:
                raise InvalidInput(f"seed must be a non-negative integer (or an array of them, or a "
                                   f"numpy Generator), got {seed!r}")
        check_int("repeats", repeats, min=1, max=MAX_DRAW_REPEATS)  # each repeat is a draw: 10**12 would hang

    def sample_observations(self, archs: list[Arch], metric: str, seed: int | np.ndarray | np.random.Generator = 0,
                            repeats: int = 1) -> np.ndarray:
        """One simulated noisy observation per arch (inverse CDF of the calibrated quantiles).

        Args:
            archs: Architectures (repeats allowed: each entry is its own draw when its seed differs).
            metric: Metric name (``metric@device`` allowed).
            seed: Non-negative int (every arch drawn with it), an array of one seed per arch, or a
                numpy Generator (its next uniforms are used instead of keyed ones).
            repeats: Observations aggregated into one (their median), as a measurement that
                repeats the forward ``repeats`` times reports.

        Perplexity and accuracy are deterministic per architecture: their "observation" is the median.
        """
        self._check_draw(seed, repeats)
        archs = list(archs)
        t = self._table(metric)
        rows = self._rows(t, archs)
        if not t.noise:
            return t.M[rows].copy()
        if isinstance(seed, np.random.Generator):
            u = seed.random((len(archs), repeats))
            vals = np.stack([inverse_cdf(t.levels, t.Q[rows], u[:, k]) for k in range(repeats)], axis=1)
            vals = libm.exp(vals) if t.log else vals
            return np.median(vals, axis=1)
        seeds = np.asarray(seed)
        if seeds.ndim and seeds.shape != (len(archs),):
            raise InvalidInput(f"seed: an array of seeds needs one per arch ({len(archs)}), got shape {seeds.shape}")
        return t.draws(rows, seeds, repeats)

    def sample_observations_rounds(self, archs: list[Arch], metric: str, seeds: np.ndarray,
                                   rounds: int) -> np.ndarray:
        """``(len(archs), rounds)``: row ``k`` is ``sample_observation_rounds(archs[k], metric, seeds[k], rounds)``
        (the same bits), in one batch: what a multi-fidelity searcher's trials read, computed ahead."""
        self._check_draw(seeds, rounds)
        archs = list(archs)
        seeds = np.asarray(seeds)
        if seeds.shape != (len(archs),):
            raise InvalidInput(f"seeds: one per arch ({len(archs)}), got shape {seeds.shape}")
        t = self._table(metric)
        rows = self._rows(t, archs)
        if not t.noise:
            return np.repeat(t.M[rows][:, None], rounds, axis=1)
        return t.draws_rounds(rows, seeds, rounds)

    def _row(self, arch: Arch, metric: str) -> tuple[QuantileTable, int]:
        """``metric``'s cache and ``arch``'s row in it (computed now if new: :meth:`_rows` validates it)."""
        t = self._tables.get(metric) or self._table(metric)
        i = t.lookup(arch)
        if i is None:
            i = int(self._rows(t, [arch])[0])
        return t, i

    def sample_observation(self, arch: Arch, metric: str, seed: int | np.random.Generator = 0,
                           repeats: int = 1) -> float:
        """One realistic noisy observation of ``metric`` for ``arch`` (see :meth:`sample_observations`).

        Cost: ~µs for an arch seen before (the cached quantiles are interpolated), one compiled
        surrogate evaluation for a new one.
        """
        t, i = self._row(arch, metric)
        if not t.noise:
            return t.median_list[i]
        if type(seed) is not int or seed < 0 or type(repeats) is not int or not 1 <= repeats <= MAX_DRAW_REPEATS:
            return float(self.sample_observations([arch], metric, seed, repeats)[0])
        return t.draw(i, seed, repeats)

    def sample_observation_rounds(self, arch: Arch, metric: str, seed: int, rounds: int) -> list[float]:
        """``[sample_observation(arch, metric, seed, r) for r in 1..rounds]``, bit-identical, the keyed
        uniforms hashed once (a multi-fidelity trial reads every number of rounds)."""
        t, i = self._row(arch, metric)
        if not t.noise:
            return [t.median_list[i]] * rounds
        if type(seed) is not int or seed < 0 or type(rounds) is not int or not 1 <= rounds <= MAX_DRAW_REPEATS:
            return [self.sample_observation(arch, metric, seed, r) for r in range(1, rounds + 1)]
        return t.draw_rounds(i, seed, rounds)

    def median(self, arch: Arch, metric: str) -> float:
        """The median of ``metric`` for ``arch`` from the cache (the point prediction, cached)."""
        t, i = self._row(arch, metric)
        return t.median_list[i]

    def medians(self, archs: list[Arch], metric: str) -> np.ndarray:
        """:meth:`median` of each of ``archs`` (the same floats), the new ones computed in one batch."""
        t = self._table(metric)
        rows = self._rows(t, list(archs))  # first: it may grow the table (t.M is a view of the filled part)
        return t.M[rows]

    def simulated_seconds(self, arch: ArchOrList, metrics: list[str],
                          protocol: MeasurementProtocol | None = None, repeats: int | None = None) -> Any:
        """Wall-clock seconds that really measuring ``metrics`` of ``arch`` would take (the formula of
        :class:`MeasurementProtocol`).

        Args:
            arch: The architecture (a float), or a list of them (an array, computed in one batch).
            metrics: The evaluated metrics (``metric@device`` allowed); flops/params cost nothing.
            protocol: Measurement protocol; None: the defaults.
            repeats: Fidelity ``r`` (None: ``protocol.repeats``, full fidelity).

        Raises:
            ValueError: a device of a hardware metric (or the perplexity device) has no latency surrogate.
        """
        p = protocol or MeasurementProtocol()
        devices, quality_device, forwards = self._seconds_plan(tuple(metrics), p.perplexity_windows)
        if isinstance(arch, Arch):
            latency: Any = lambda d: self._latency(arch, d)  # noqa: E731
        else:
            archs = list(arch)
            lat = {d: self._latencies(archs, d) for d in {*(d for d, _ in devices), quality_device} - {None}}
            latency = lat.__getitem__
        hardware = [(latency(d), n) for d, n in devices]
        forward = None if quality_device is None else (latency(quality_device), forwards)
        total = p.seconds(hardware, forward, repeats)
        if isinstance(arch, Arch):
            return total
        return np.broadcast_to(np.asarray(total, dtype=np.float64), (len(archs),)).copy()

    def _seconds_plan(self, metrics: tuple[str, ...],
                      windows: int) -> tuple[tuple[tuple[str, int], ...], str | None, float]:
        """What :meth:`simulated_seconds` measures, per metric list (cached): ``((device, n_d), ...)``,
        the perplexity device (None: no quality objective) and its forwards for ``windows`` windows."""
        plan = self._plans.get((metrics, windows))
        if plan is not None:
            return plan
        per_device: dict[str, int] = {}
        quality = False
        for m in metrics:
            name, device = self.resolve(m)
            if name in POINT_METRICS:
                quality = True
            elif device is not None:
                per_device[device] = per_device.get(device, 0) + 1
        for d in per_device:
            self._check_latency(d)
        quality_device, forwards = None, 0.0
        if quality and windows:
            quality_device = next(iter(per_device), self.device)
            if quality_device is None:
                raise InvalidInput(self._missing_message("latency", quality_device))
            self._check_latency(quality_device)
            spec = self._table(f"latency@{quality_device}").spec
            forwards = windows * self.space.block_size / (spec.batch * spec.seq_len)
        plan = self._plans[(metrics, windows)] = (tuple(per_device.items()), quality_device, forwards)
        return plan

    def _check_latency(self, device: str) -> None:
        if f"latency@{device}" not in self._tables and "latency" not in self._available.get(device, []):
            raise InvalidInput(f"simulated time needs the latency of device {device!r} at scale {self.scale!r}; "
                               + self._missing_message("latency", device))

    def _latency(self, arch: Arch, device: str) -> float:
        return self.median(arch, f"latency@{device}")

    def _latencies(self, archs: list[Arch], device: str) -> np.ndarray:
        return self.medians(archs, f"latency@{device}")

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
