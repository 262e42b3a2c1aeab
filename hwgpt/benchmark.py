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

Simulation hot path: an architecture's calibrated quantiles are deterministic, so they are
computed once per (surrogate, arch) on trees compiled to numpy (:mod:`hwgpt.fast_predict`) and
cached; a noisy draw is then an interpolation in the cached row. Draws are *keyed*: the uniform
behind a draw is a hash (splitmix64) of ``(seed, arch id, metric@device, repeat index)``, so draws
are independent across seeds, architectures, metrics and devices, and the same for the same key
whether drawn alone or in a batch, in any order, in any process. Latency and energy draws of one
arch are independent: in the measurements they come from separate runs and their per-repeat
deviations are uncorrelated (Spearman 0.006, p = 0.68, 4004 tiny pairs; 0.019, p = 0.54, 1004 at
S; README, "Search as a simulator"), so a joint (correlated) draw is not offered.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwgpt import libm
from hwgpt.errors import InvalidInput, check_float, check_int
from hwgpt.search_space import Arch, SearchSpace
from hwgpt.surrogates import artifacts
from hwgpt.surrogates.distribution import U_EPS, inverse_cdf
from hwgpt.surrogates.features import FeatureSpec, arch_arrays, cost_arrays, features
from hwgpt.surrogates.surrogate import EXACT_METRICS, POINT_METRICS, Surrogate

log = logging.getLogger(__name__)

METRICS = ("perplexity", "accuracy", "latency", "energy", "memory", "flops", "params")
#: artifact directory of device-independent surrogates (perplexity, accuracy of the paper scales); not a device
ANY_DEVICE = "any"
EVALUATORS = ("surrogate", "live")

ArchOrList = Arch | list[Arch] | tuple[Arch, ...]


_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix(z: int) -> int:
    """splitmix64's finaliser (Steele et al. 2014): a bijective 64-bit mixer."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix_np(z: np.ndarray) -> np.ndarray:
    """:func:`_mix` on uint64 arrays (wrapping arithmetic, bit-identical)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stream_key(name: str) -> int:
    """64-bit key of a draw stream (``"latency@cpu"``), stable across processes."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def draw_key(seed: int, arch_key: int, stream: int) -> int:
    """64-bit key of the draws ``(seed, arch, stream)``; repeat ``r`` is :func:`uniform_of` ``(key, r)``."""
    return _mix(_mix(_mix(((seed & _M64) + _GOLDEN) & _M64) ^ stream) ^ arch_key)


def uniform_of(key: int, repeat: int = 0) -> float:
    """The uniform in (0, 1) of repeat ``repeat`` under ``key``: 53 bits of a hash."""
    return ((_mix((key + (repeat + 1) * _GOLDEN) & _M64) >> 11) + 0.5) * 2.0 ** -53


def keyed_uniform(seed: int, arch_key: int, stream: int, repeat: int = 0) -> float:
    """The uniform in (0, 1) behind the draw ``(seed, arch, stream, repeat)``."""
    return uniform_of(draw_key(seed, arch_key, stream), repeat)


def keyed_uniforms(seed: np.ndarray, arch_key: np.ndarray, stream: int, repeat: np.ndarray) -> np.ndarray:
    """Vectorised :func:`keyed_uniform` (broadcasting its uint64 arguments); bit-identical."""
    with np.errstate(over="ignore"):
        s = np.asarray(seed).astype(np.uint64) + np.uint64(_GOLDEN)
        z = _mix_np(_mix_np(_mix_np(s) ^ np.uint64(stream)) ^ np.asarray(arch_key, dtype=np.uint64))
        r = (np.asarray(repeat).astype(np.uint64) + np.uint64(1)) * np.uint64(_GOLDEN)
        z = _mix_np(z + r)
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


PENDING_MAX = 1 << 16
"""Draws computed ahead and kept per surrogate before the unused ones are dropped."""

BATCH_NATIVE = 32
"""From this many new archs at once, the cache is filled by XGBoost's batched predictor."""


class _Table:
    """Calibrated quantiles (fit space) of one surrogate, one cached row per architecture seen.

    Rows are kept as numpy (batched draws) and as Python lists (a single draw: interpolation in
    pure Python is ~10x cheaper than numpy on 15 numbers). Lookup is by object identity first
    (the table keeps a reference, so ids are never reused while cached), then by value.
    """

    def __init__(self, surrogate: Surrogate, stream: str) -> None:
        from hwgpt.fast_predict import compile_surrogate

        self.surrogate = surrogate
        self.quantiles = compile_surrogate(surrogate)
        self.spec = surrogate.spec
        self.levels = np.asarray(surrogate.levels, dtype=np.float64)
        self.levels_list = self.levels.tolist()
        self.log = surrogate.transform == "log"
        self.noise = surrogate.observation_noise
        self.stream = stream_key(stream)
        self.by_value: dict[Arch, int] = {}
        self.by_id: dict[int, int] = {}
        self.keep: list[Arch] = []
        self.rows: list[list[float]] = []
        self._Q = np.empty((0, len(self.levels)))
        self._M = np.empty(0)
        self._keys = np.empty(0, dtype=np.uint64)
        self.Q, self.M, self.keys = self._Q, self._M, self._keys  # views of the filled part
        self.key_list: list[int] = []
        self.median_list: list[float] = []
        # Order statistics of draws computed ahead in a batch (prefetch_draws): (row, seed, repeats) ->
        # the uniforms the draw reads. Integer hashing, so bit-identical to computing them in draw().
        self.pending: dict[tuple[int, int, int], tuple[float, ...]] = {}
        # Tail scales of the quantile function (see hwgpt.surrogates.distribution), per row.
        self._lo_log = math.log(self.levels_list[1] / self.levels_list[0])
        self._hi_log = math.log((1 - self.levels_list[-2]) / (1 - self.levels_list[-1]))

    def add(self, archs: list[Arch], X: np.ndarray, keys: list[int] | None = None) -> None:
        """Cache the rows of ``archs`` (not seen before) from their feature matrix ``X``.

        Up to :data:`BATCH_NATIVE` archs go through the compiled trees (no per-call overhead);
        larger batches through XGBoost's own predictor (~1 µs per row per booster). Both give the
        same bits (the compiled trees sum the leaves in XGBoost's order), so a row never depends on
        how it was computed.
        """
        if len(archs) >= BATCH_NATIVE:
            Q, med_fit = self.surrogate.quantiles_and_median(X)
        else:
            Q, med_fit = self.quantiles(X)
        start = len(self.rows)
        medians = libm.exp(med_fit) if self.log else med_fit
        keys = [int(a.id, 16) for a in archs] if keys is None else keys
        for i, a in enumerate(archs):
            self.by_value[a] = start + i
            self.by_id[id(a)] = start + i
        self.keep += archs
        self.rows += Q.tolist()
        self.key_list += keys
        self.median_list += medians.tolist()
        end = start + len(archs)
        if end > len(self._Q):  # amortised growth: appending n rows costs O(n), not O(cache size)
            cap = max(64, 2 * end)
            self._Q = np.concatenate([self._Q[:start], np.empty((cap - start, self._Q.shape[1]))])
            self._M = np.concatenate([self._M[:start], np.empty(cap - start)])
            self._keys = np.concatenate([self._keys[:start], np.empty(cap - start, dtype=np.uint64)])
        self._Q[start:end], self._M[start:end] = Q, medians
        self._keys[start:end] = np.asarray(keys, dtype=np.uint64)
        self.Q, self.M, self.keys = self._Q[:end], self._M[:end], self._keys[:end]

    def lookup(self, arch: Arch) -> int | None:
        i = self.by_id.get(id(arch))
        if i is not None:
            return i
        i = self.by_value.get(arch)
        if i is not None:  # an equal object: alias its id (and keep it alive)
            self.by_id[id(arch)] = i
            self.keep.append(arch)
        return i

    def value(self, i: int, u: float) -> float:
        """Quantile function of row ``i`` at ``u``, in the metric's units (scalar path)."""
        levels, q = self.levels_list, self.rows[i]
        u = min(max(u, U_EPS), 1 - U_EPS)
        if u < levels[0]:
            y = q[0] - (q[1] - q[0]) / self._lo_log * math.log(levels[0] / u)
        elif u > levels[-1]:
            y = q[-1] + (q[-1] - q[-2]) / self._hi_log * math.log((1 - levels[-1]) / (1 - u))
        else:
            j = min(max(bisect.bisect_left(levels, u), 1), len(levels) - 1)
            t0, t1 = levels[j - 1], levels[j]
            y = q[j - 1] + (q[j] - q[j - 1]) * (u - t0) / (t1 - t0)
        return math.exp(y) if self.log else y

    def draw(self, i: int, seed: int, repeats: int) -> float:
        """One observation of row ``i``: the median of ``repeats`` keyed draws."""
        picked = self.pending.pop((i, seed, repeats), None)
        if picked is None:
            key = draw_key(seed, self.key_list[i], self.stream)
            picked = self.picks(sorted([uniform_of(key, r) for r in range(repeats)]))
        if len(picked) == 1:
            return self.value(i, picked[0])  # the quantile function is monotone: median of Q(u) = Q(median u)
        return 0.5 * (self.value(i, picked[0]) + self.value(i, picked[1]))

    @staticmethod
    def picks(us: Any) -> Any:
        """The order statistics of ``repeats`` sorted uniforms (last axis) that their median reads."""
        if isinstance(us, np.ndarray):
            h = us.shape[-1] // 2
            return us[..., h:h + 1] if us.shape[-1] % 2 else us[..., h - 1:h + 1]
        h = len(us) // 2
        return us[h:h + 1] if len(us) % 2 else us[h - 1:h + 1]

    def picked_uniforms(self, rows: np.ndarray, seeds: Any, repeats: int) -> np.ndarray:
        """``(len(rows), 1 or 2)``: for each draw ``(rows[k], seeds[k], repeats)`` (one seed for all, or
        one each), the order statistics of its sorted uniforms that the median reads (numpy, exact)."""
        keys = self.keys[rows]
        seeds = np.broadcast_to(np.asarray(seeds, dtype=np.uint64), keys.shape)[:, None]
        r = np.arange(repeats, dtype=np.uint64)[None, :]
        return self.picks(np.sort(keyed_uniforms(seeds, keys[:, None], self.stream, r), axis=1))

    def prefetch_draws(self, rows: np.ndarray, seeds: np.ndarray, repeats: int) -> None:
        """Compute the uniforms of the draws ``(rows[k], seeds[k], repeats)`` in one batch (numpy)."""
        if len(self.pending) > PENDING_MAX:  # suggestions that were never evaluated
            self.pending.clear()
        u = self.picked_uniforms(rows, seeds, repeats)
        keys = zip(rows.tolist(), np.asarray(seeds, dtype=np.uint64).tolist(), [repeats] * len(rows), strict=True)
        self.pending.update(zip(keys, map(tuple, u.tolist()), strict=True))

    def draws(self, rows: np.ndarray, seeds: np.ndarray, repeats: int) -> np.ndarray:
        """Batched :meth:`draw`, bit-identical to it on any CPU (exp/log by the C library, see
        :mod:`hwgpt.libm`; the interpolation in the same order of operations)."""
        u, Qr = self.picked_uniforms(rows, seeds, repeats), self.Q[rows]
        vals = [inverse_cdf(self.levels, Qr, u[:, k]) for k in range(u.shape[1])]
        vals = [libm.exp(v) if self.log else v for v in vals]
        return vals[0] if len(vals) == 1 else 0.5 * (vals[0] + vals[1])


@dataclass(frozen=True)
class MeasurementProtocol:
    """What really measuring one architecture would involve, for its simulated wall-clock.

    ``simulated_seconds`` of an evaluation at ``r`` repeats (``L_d``: the arch's median latency per
    forward on device ``d``; a forward processes ``b x t`` tokens, the batch and sequence length of
    that latency's surrogate)::

        overhead_seconds
        + sum over devices d with hardware objectives:  (warmup + r * n_d) * L_d
        + (if perplexity or accuracy is an objective)  f * perplexity_windows * block_size / (b * t) * L_p

    ``n_d`` is the number of hardware metrics measured on ``d`` (every observation of every metric
    takes one timed forward), ``L_p`` the latency on the first device of the hardware objectives
    (else the benchmark's default device), and ``f = r / repeats`` the share of the perplexity
    evaluation done (1 at full fidelity).

    Attributes:
        repeats: Timed forwards per hardware metric at full fidelity (the paper: 10 latency
            observations per architecture).
        warmup: Untimed forwards per device before measuring.
        perplexity_windows: Windows of ``block_size`` tokens in the perplexity/accuracy evaluation;
            32 as ``profile.py``'s quality metric (8,192 tokens at tiny, 32,768 at S). The paper
            does not state its budget.
        overhead_seconds: Fixed cost per evaluation (loading, extracting the sub-network), 0 by default.
    """

    repeats: int = 10
    warmup: int = 1
    perplexity_windows: int = 32
    overhead_seconds: float = 0.0

    def __post_init__(self) -> None:
        check_int("repeats", self.repeats, min=1)
        check_int("warmup", self.warmup, min=0)
        check_int("perplexity_windows", self.perplexity_windows, min=0)
        check_float("overhead_seconds", self.overhead_seconds, min=0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def seconds(self, hardware: list[tuple[float, int]], quality_forward: tuple[float, float] | None,
                repeats: int | None = None) -> float:
        """The formula above.

        Args:
            hardware: ``(L_d, n_d)`` per device with hardware objectives (``L_d`` a float or an array).
            quality_forward: ``(L_p, forwards of the full perplexity evaluation)``, or None without one.
            repeats: ``r`` (None: ``self.repeats``).
        """
        r = self.repeats if repeats is None else check_int("repeats", repeats, min=1)
        total = self.overhead_seconds + sum((self.warmup + r * n) * lat for lat, n in hardware)
        if quality_forward is not None:
            lat, forwards = quality_forward
            total = total + (r / self.repeats) * forwards * lat
        return float(total) if np.ndim(total) == 0 else total


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
        self._tables: dict[str, _Table] = {}
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
    def _table(self, metric: str) -> _Table:
        """The cache of ``metric`` (``metric@device`` allowed); one per (device, metric)."""
        t = self._tables.get(metric)
        if t is None:
            name, device = self._surrogate_source(metric, "simulated observations")
            t = self._tables.get(f"{name}@{device}")
            if t is None:
                t = self._tables[f"{name}@{device}"] = _Table(self.surrogate(f"{name}@{device}"), f"{name}@{device}")
            self._tables[metric] = t
        return t

    def _rows(self, t: _Table, archs: list[Arch]) -> np.ndarray:
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
        tables = [self._table(m) for m in metrics] if metrics is not None else list(self._tables.values())
        by_spec: dict[FeatureSpec, list[_Table]] = {}
        for t in {id(t): t for t in tables}.values():
            by_spec.setdefault(t.spec, []).append(t)
        unique = list(dict.fromkeys(archs))
        missing = {spec: [[a for a in unique if t.lookup(a) is None] for t in ts] for spec, ts in by_spec.items()}
        fresh = list(dict.fromkeys(a for ms in missing.values() for m in ms for a in m))
        if not fresh:
            return
        aa = arch_arrays(fresh, self.space)  # once for every setting
        keys = {a: int(a.id, 16) for a in fresh}
        row = {a: i for i, a in enumerate(fresh)}
        for spec, ts in by_spec.items():
            X = features(aa, self.space, spec)
            for t, m in zip(ts, missing[spec], strict=True):
                if m:
                    t.add(m, X[[row[a] for a in m]], [keys[a] for a in m])

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
        check_int("repeats", repeats, min=1)

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

    def sample_observation(self, arch: Arch, metric: str, seed: int | np.random.Generator = 0,
                           repeats: int = 1) -> float:
        """One realistic noisy observation of ``metric`` for ``arch`` (see :meth:`sample_observations`).

        Cost: ~µs for an arch seen before (the cached quantiles are interpolated), one compiled
        surrogate evaluation for a new one.
        """
        t = self._tables.get(metric) or self._table(metric)
        i = t.lookup(arch)
        if i is None:
            if not isinstance(arch, Arch):
                self.space.validate(arch)
            i = int(self._rows(t, [arch])[0])
        if not t.noise:
            return t.median_list[i]
        if type(seed) is not int or seed < 0 or type(repeats) is not int or repeats < 1:
            return float(self.sample_observations([arch], metric, seed, repeats)[0])
        return t.draw(i, seed, repeats)

    def median(self, arch: Arch, metric: str) -> float:
        """The median of ``metric`` for ``arch`` from the cache (the point prediction, cached)."""
        t = self._tables.get(metric) or self._table(metric)
        i = t.lookup(arch)
        if i is None:
            i = int(self._rows(t, [arch])[0])
        return t.median_list[i]

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
        t = self._table(f"latency@{device}")
        rows = self._rows(t, archs)  # first: it may grow the table (t.M is a view of the filled part)
        return t.M[rows]

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
