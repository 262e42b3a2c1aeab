"""Fast, exact re-implementations of the surrogates' raw predictions for :class:`hwgpt.Benchmark`'s cache.

XGBoost's ``inplace_predict`` costs ~0.25 ms per call for a single row (call overhead, not trees),
and a quantile surrogate needs two calls. The trees themselves are small (depth 3-5, a few
hundred to a few thousand of them), so a numpy walk of all trees at once costs tens of µs. This
module turns an ``xgboost.Booster`` into flat arrays once (:class:`CompiledTrees`) and evaluates
them with XGBoost's own rule (float32 features, ``x < split`` goes left, missing follows
``default_left``, per output ``base_score`` plus the leaf values in model order, summed in float32),
so that the predictions are XGBoost's bit for bit, whatever the batch.

:func:`compile_surrogate` mirrors ``QuantileSurrogate._raw_quantiles`` / ``PointSurrogate._median``
on these arrays; surrogates of another kind (the NumPy MLP is already fast) keep their own
methods. ``tests/test_benchmark.py`` checks that the results equal XGBoost's exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from hwgpt.surrogates import conformal
from hwgpt.surrogates.surrogate import Surrogate

_CHUNK = 1 << 20
"""Rows x trees evaluated per block (bounds the temporary arrays to a few tens of MB)."""
MUX_DEPTH, MUX_ROWS = 4, 4
"""Batches of at least ``MUX_ROWS`` rows through trees of depth up to ``MUX_DEPTH`` are walked by
:meth:`CompiledTrees._walk_mux` (every comparison, then boolean selections: ``2**depth - 1`` comparisons per
tree), the rest level by level (:meth:`CompiledTrees._walk`). Measured on 400 trees (µs, level walk vs mux): depth
3 at 4 / 20 / 512 rows 33 vs 27, 97 vs 54, 3847 vs 1810; depth 4 at 4 / 20 rows 43 vs 43, 125 vs 78; depth 5
at 4 / 20 rows 55 vs 74, 144 vs 114."""


class CompiledTrees:
    """All trees of one gbtree booster as complete binary trees in heap order (flat arrays).

    Every tree is re-laid as a complete tree of the booster's maximum depth ``D``: a leaf above
    the bottom level is pushed down (the splits below it send every row left, threshold +inf;
    the bottom slots below it hold its value). Walking a row is then
    ``slot -> 2 slot + 1 + (x[feature] >= threshold)``, ``D`` times, for all trees at once.

    Several boosters can be compiled together (one walk for all): their outputs are concatenated
    in order.

    Args:
        *boosters: Trained ``xgboost.Booster`` objects (``gbtree``, numerical splits).

    Raises:
        ValueError: a booster this evaluator does not cover (dart, linear, categorical splits).
    """

    def __init__(self, *boosters: object) -> None:
        trees: list[dict] = []
        groups, bases = [], []
        for booster in boosters:
            model = json.loads(bytes(booster.save_raw("json")))["learner"]
            gb = model["gradient_booster"]
            if gb.get("name") != "gbtree":
                raise ValueError(f"only gbtree boosters compile, got {gb.get('name')!r}")
            param = model["learner_model_param"]
            n_out = max(1, int(param.get("num_target", "1")), int(param.get("num_class", "0")))
            base = np.array([float(v) for v in param["base_score"].strip("[]").split(",")], dtype=np.float64)
            groups.append(np.asarray(gb["model"]["tree_info"], dtype=np.int64) + sum(len(b) for b in bases))
            bases.append(np.repeat(base, n_out) if len(base) == 1 else base)
            trees += gb["model"]["trees"]
        self.base_score = np.concatenate(bases)
        self.n_outputs = len(self.base_score)
        self.group = np.concatenate(groups)
        for t in trees:
            if any(t.get("split_type", [])) or t.get("categories"):
                raise ValueError("categorical splits are not supported by the compiled evaluator")
        self.n_trees = T = len(trees)
        self.depth = D = max([_depth(t["left_children"], t["right_children"]) for t in trees] + [1])
        n_int, n_leaf = (1 << D) - 1, 1 << D
        # After the T trees, 1 + n_outputs constant trees (every split +inf, every leaf one value): a zero,
        # then each output's base_score. The walk then yields every term of XGBoost's sums in one array.
        self._n_walk = W = T + 1 + self.n_outputs
        feat = np.zeros((W, n_int), dtype=np.int64)
        thr = np.full((W, n_int), np.inf, dtype=np.float32)
        dleft = np.ones((W, n_int), dtype=bool)
        val = np.zeros((W, n_leaf), dtype=np.float32)
        val[T + 1:] = self.base_score.astype(np.float32)[:, None]
        for i, t in enumerate(trees):
            left, right = t["left_children"], t["right_children"]
            cond, split, dl = t["split_conditions"], t["split_indices"], t["default_left"]
            stack = [(0, 0, 0)]  # (xgboost node, heap slot, level)
            while stack:
                node, slot, level = stack.pop()
                if left[node] < 0:
                    width = 1 << (D - level)
                    first = (slot + 1) * width - 1 - n_int
                    val[i, first:first + width] = cond[node]
                    continue
                feat[i, slot], thr[i, slot], dleft[i, slot] = split[node], cond[node], bool(dl[node])
                stack += [(left[node], 2 * slot + 1, level + 1), (right[node], 2 * slot + 2, level + 1)]
        self._feat, self._thr, self._dleft, self._val = feat.ravel(), thr.ravel(), dleft.ravel(), val.ravel()
        self._off = (np.arange(W, dtype=np.int64) * n_int)[None, :]
        self._leaf_off = (np.arange(W, dtype=np.int64) * n_leaf - n_int)[None, :]
        # the root level read directly (every row starts at slot 0), and the leaf offsets with the last +1
        self._feat0, self._thr0 = feat[:, 0].copy(), thr[:, 0].copy()
        self._leaf_off1 = self._leaf_off + 1
        # XGBoost's sum, reproduced bit for bit: per output, start from base_score (float32) and add the
        # leaves of that output's trees in model order, in float32. Outputs are padded to the same
        # number of trees with a zero leaf (x + 0 == x), so one sequential accumulate does them all.
        counts = np.bincount(self.group, minlength=self.n_outputs)
        width = int(counts.max()) + 1
        zero, base0 = T, T + 1  # the constant trees' columns: a zero, then one base_score per output
        index = np.full((self.n_outputs, width), zero, dtype=np.int64)
        index[:, 0] = base0 + np.arange(self.n_outputs)
        for g in range(self.n_outputs):
            trees_g = np.flatnonzero(self.group == g)
            index[g, 1:1 + len(trees_g)] = trees_g
        self._sum_index = np.ascontiguousarray(index.T)  # (width, n_outputs): the terms in the order added
        self._mux = D <= MUX_DEPTH
        if self._mux:  # the comparisons once per distinct (feature, threshold), see _walk_mux
            code = (feat.astype(np.int64) << 32) | thr.view(np.uint32).astype(np.int64)
            split = np.isfinite(thr)
            distinct, which = np.unique(code[split], return_inverse=True)
            pair = np.zeros((W, n_int), dtype=np.int64)  # 0: a +inf threshold (no split: every row left)
            pair[split] = which + 1
            self._pair = np.ascontiguousarray(pair.T)  # (slot, tree)
            self._pair_feat = np.concatenate([[0], distinct >> 32])
            self._pair_thr = np.concatenate([[np.inf], (distinct & 0xFFFFFFFF).astype(np.uint32).view(np.float32)]
                                            ).astype(np.float32)[:, None]
            self._leaf_base = (np.arange(W, dtype=np.int64) * n_leaf)[:, None]

    def _sum(self, leaves: np.ndarray) -> np.ndarray:
        """Leaf values ``(W, n)`` (float32; the constant trees' last) -> predictions ``(n, n_outputs)``
        (float64), as XGBoost adds them: per output and row, base_score then each tree's leaf in model order,
        in float32. A reduction over the first axis of a C-ordered array adds whole rows of the others in turn
        (numpy's pairwise summation is for the last axis only), the same sequence of float32 additions, much
        faster than an accumulate; with a single term per step (one row, one output) it would be the last
        axis, so that case accumulates."""
        width, n_out = self._sum_index.shape
        terms = leaves.take(self._sum_index, axis=0, mode="clip").reshape(width, -1)  # (width, n_outputs * n)
        if terms.shape[1] >= 2:
            total = np.add.reduce(terms, axis=0, dtype=np.float32)
        else:
            total = np.add.accumulate(terms, axis=0, dtype=np.float32)[-1]
        return total.reshape(n_out, -1).T.astype(np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw predictions ``(n,)`` (one output) or ``(n, n_outputs)``, float64 of float32 sums."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        n = len(X)
        out = np.empty((n, self.n_outputs), dtype=np.float64)
        step = max(1, _CHUNK // max(1, self.n_trees))
        for a in range(0, n, step):
            out[a:a + step] = self._predict_block(X[a:a + step])
        return out[:, 0] if self.n_outputs == 1 else out

    def _predict_block(self, X: np.ndarray) -> np.ndarray:
        if np.isnan(X).any():
            return self._predict_nan(X)
        if self._mux and len(X) >= MUX_ROWS:
            return self._walk_mux(X)
        return self._walk(X[0] if len(X) == 1 else X)

    def _walk_mux(self, X: np.ndarray) -> np.ndarray:
        """Rows without NaN ``(n, F)``, trees of depth <= :data:`MUX_DEPTH`: every split's comparison, then the
        path. The comparisons are made once per distinct (feature, threshold) (a few hundred for thousands of
        splits) and spread to every slot of every tree, ``(slots, W, n)``; the branch taken at level ``l`` is
        the comparison of the node the path so far reached, selected among that level's ``2**l`` nodes by the
        bits of the path (``x0 ^ (s & (x0 ^ x1))``: boolean operations, no gathers); the path's bits are the
        leaf's position. The same comparisons (``x >= threshold`` in float32) and leaves as :meth:`_walk`."""
        right = np.ascontiguousarray(X.T).take(self._pair_feat, axis=0) >= self._pair_thr  # (pairs, n)
        C = right.take(self._pair, axis=0)  # (slots, W, n)
        bits = [C[0]]
        for level in range(1, self.depth):
            cand = list(C[(1 << level) - 1:(1 << (level + 1)) - 1])  # the level's nodes, left to right
            for b in reversed(bits):  # the path's last bit picks within pairs, then the one before, ...
                cand = [x0 ^ (b & (x0 ^ x1)) for x0, x1 in zip(cand[0::2], cand[1::2], strict=True)]
            bits.append(cand[0])
        leaf = bits[0].astype(np.int64)
        for b in bits[1:]:
            leaf <<= 1
            leaf += b
        leaf += self._leaf_base
        return self._sum(self._val.take(leaf, mode="clip"))  # leaves: (W, n) float32

    def _walk(self, X: np.ndarray) -> np.ndarray:
        """Rows without NaN ``(n, F)``, or one row ``(F,)`` (1-D arrays: fewer numpy calls): the walk in place,
        the root level without gathers (every row starts at slot 0)."""
        one = X.ndim == 1
        off, leaf_off1 = (self._off[0], self._leaf_off1[0]) if one else (self._off, self._leaf_off1)
        slot = (X.take(self._feat0, axis=-1) >= self._thr0).astype(np.int64)
        if self.depth > 1:  # (the last level's + 1 is in _leaf_off1)
            slot += 1
        flat = X.ravel()
        row_off = None if one else (np.arange(len(X), dtype=np.int64) * X.shape[1])[:, None]
        for level in range(1, self.depth):
            g = slot + off
            feat = self._feat.take(g, mode="clip")
            right = flat.take(feat if one else feat + row_off) >= self._thr.take(g, mode="clip")
            slot *= 2
            slot += right
            if level < self.depth - 1:
                slot += 1
        slot += leaf_off1  # (the last level's + 1)
        leaves = self._val.take(slot, mode="clip")  # (n, W) float32, or (W,) for one row
        return self._sum(leaves.T if leaves.ndim == 2 else leaves[:, None])

    def _predict_nan(self, X: np.ndarray) -> np.ndarray:
        """Rows with missing values: the walk with XGBoost's default directions."""
        n, F = X.shape
        flat = X.ravel()
        row_off = (np.arange(n, dtype=np.int64) * F)[:, None]
        slot = np.zeros((n, self._n_walk), dtype=np.int64)
        for _ in range(self.depth):
            g = slot + self._off
            x = flat.take(self._feat.take(g, mode="clip") + row_off)
            right = np.where(np.isnan(x), ~self._dleft.take(g, mode="clip"), x >= self._thr.take(g, mode="clip"))
            slot = 2 * slot + 1 + right
        return self._sum(self._val.take(slot + self._leaf_off).T)


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Number of edges on the longest root-to-leaf path."""
    depth, frontier = 0, [0]
    while True:
        nxt = [c for i in frontier for c in (left[i], right[i]) if c >= 0]
        if not nxt:
            return depth
        depth, frontier = depth + 1, nxt


def compile_surrogate(s: Surrogate) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``X -> (quantiles (n, K), median (n,))`` in fit space, equal to ``(s.quantiles(X), s._median(X))``.

    The quantiles are calibrated and non-crossing; the median is the surrogate's point prediction
    (what :meth:`hwgpt.Benchmark.query` answers). XGBoost-based quantile and point surrogates are
    evaluated on :class:`CompiledTrees`; any other surrogate falls back to its own methods.
    """
    import xgboost as xgb

    from hwgpt.surrogates.predictor import PointSurrogate
    from hwgpt.surrogates.quantile import QuantileSurrogate

    shift = np.zeros(len(s.levels))
    for key, (i, j) in conformal.central_pairs(s.levels).items():
        c = s.corrections.get(key, 0.0)
        shift[i] -= c
        shift[j] += c

    def calibrate(raw: np.ndarray) -> np.ndarray:  # conformal.apply_corrections as one vector add
        return np.sort(np.sort(raw, axis=-1) + shift, axis=-1)

    def margin_of(base):  # noqa: ANN001, ANN202 - LinearBase or None
        return (lambda X: base.predict(X)) if base is not None else (lambda X: np.zeros(len(X)))

    try:
        if isinstance(s, QuantileSurrogate):
            both = CompiledTrees(s.median_booster, s.outer_booster)  # output 0: the median booster
            margin, from_median, k = margin_of(s.base), bool(s.meta.get("outer_from_median")), s.median_index

            def quantiles(X: np.ndarray) -> np.ndarray:
                m0 = margin(X)
                raw = both.predict(X).reshape(len(X), -1)
                med = raw[:, 0] + m0
                outer = raw[:, 1:] + (med if from_median else m0)[:, None]
                return calibrate(np.concatenate([outer[:, :k], med[:, None], outer[:, k:]], axis=1)), med

            return quantiles
        if isinstance(s, PointSurrogate) and isinstance(s.model, xgb.Booster):
            trees, margin = CompiledTrees(s.model), margin_of(s.base)
            K = len(s.levels)

            def point(X: np.ndarray) -> np.ndarray:
                med = trees.predict(X).reshape(-1) + margin(X)
                return calibrate(np.repeat(med[:, None], K, axis=1)), med

            return point
    except ValueError:
        pass
    return lambda X: (s.quantiles(X), s._median(X))
