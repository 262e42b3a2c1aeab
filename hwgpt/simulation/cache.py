"""The per-surrogate quantile cache of the simulator: one row of calibrated quantiles per architecture seen.

An architecture's calibrated quantiles are deterministic, so they are computed once per (surrogate, arch)
on trees compiled to numpy (:mod:`hwgpt.fast_predict`) and cached; a noisy draw is then an interpolation in
the cached row at a keyed uniform (:mod:`hwgpt.simulation.draws`). Single draws interpolate in pure
Python, batches in numpy, with the same operations in the same order and exp/log by the C library
(:mod:`hwgpt.libm`), so both give the same bits on any CPU.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

from hwgpt import libm
from hwgpt.search_space import Arch
from hwgpt.simulation.draws import draw_key, keyed_uniforms, stream_key, uniform_of
from hwgpt.surrogates.distribution import U_EPS, inverse_cdf
from hwgpt.surrogates.surrogate import Surrogate

PENDING_MAX = 1 << 16
"""Draws computed ahead and kept per surrogate before the unused ones are dropped."""

BATCH_NATIVE = 96
"""From this many new archs at once, the cache is filled by XGBoost's batched predictor (measured on the
shipped tiny surrogates, µs per row, compiled trees / XGBoost: 32 rows 8.2 / 13.6 latency and 7.6 / 8.9
perplexity, 64 rows 7.6 / 8.4 and 6.8 / 5.4, 128 rows 7.6 / 5.2 and 7.0 / 3.8; the same bits either way)."""


class QuantileTable:
    """Calibrated quantiles (fit space) of one surrogate, one cached row per architecture seen.

    Rows are kept as numpy (batched draws) and, from the first single draw of a row, as a Python tuple
    (interpolation in pure Python is ~10x cheaper than numpy on 15 numbers). Lookup is by object identity first
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
        # Row i's quantiles as a tuple for the scalar path (untracked by the garbage collector), made
        # when a single draw first reads it (a batch filled by prefetch is usually drawn in numpy only).
        self.rows: list[tuple[float, ...] | None] = []
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

        Below :data:`BATCH_NATIVE` archs go through the compiled trees (no per-call overhead);
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
        index = range(start, start + len(archs))
        self.by_value.update(zip(archs, index, strict=True))
        self.by_id.update(zip(map(id, archs), index, strict=True))
        self.keep += archs
        self.rows += [None] * len(archs)
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
        if q is None:
            q = self.rows[i] = tuple(self._Q[i].tolist())
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
        return self._median_value(i, picked)

    def _median_value(self, i: int, picked: Any) -> float:
        """Row ``i``'s value at the median of its draws, from the picked order statistics (one or two)."""
        if len(picked) == 1:
            return self.value(i, picked[0])  # the quantile function is monotone: median of Q(u) = Q(median u)
        return 0.5 * (self.value(i, picked[0]) + self.value(i, picked[1]))

    def draw_rounds(self, i: int, seed: int, rounds: int) -> list[float]:
        """``[draw(i, seed, r) for r in 1..rounds]`` (the same bits): the uniforms of repeat ``k`` do not
        depend on ``repeats``, so they are hashed once and each fidelity sorts its first ``r``."""
        key = draw_key(seed, self.key_list[i], self.stream)
        us: list[float] = []  # sorted uniforms of repeats 0..r-1
        out = []
        for r in range(1, rounds + 1):
            self.pending.pop((i, seed, r), None)
            bisect.insort(us, uniform_of(key, r - 1))
            out.append(self._median_value(i, self.picks(us)))
        return out

    def draws_rounds(self, rows: np.ndarray, seeds: np.ndarray, rounds: int) -> np.ndarray:
        """``(len(rows), rounds)``: row ``k`` is ``draw_rounds(rows[k], seeds[k], rounds)`` (the same bits): the
        uniforms hashed in one batch, each fidelity's order statistics read from its sorted prefix, and every
        value interpolated in one :func:`inverse_cdf` call (exp by the C library)."""
        keys = self.keys[rows]
        s = np.broadcast_to(np.asarray(seeds, dtype=np.uint64), keys.shape)[:, None]
        u = keyed_uniforms(s, keys[:, None], self.stream, np.arange(rounds, dtype=np.uint64)[None, :])
        picked = [self.picks(np.sort(u[:, :r], axis=1)) for r in range(1, rounds + 1)]
        vals = inverse_cdf(self.levels, self.Q[rows], np.concatenate(picked, axis=1))
        vals = libm.exp(vals) if self.log else vals
        out = np.empty((len(rows), rounds))
        j = 0
        for r, p in enumerate(picked):
            out[:, r] = vals[:, j] if p.shape[1] == 1 else 0.5 * (vals[:, j] + vals[:, j + 1])
            j += p.shape[1]
        return out

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
        vals = inverse_cdf(self.levels, self.Q[rows], self.picked_uniforms(rows, seeds, repeats))  # (n, 1 or 2)
        vals = libm.exp(vals) if self.log else vals
        return vals[:, 0] if vals.shape[1] == 1 else 0.5 * (vals[:, 0] + vals[:, 1])
