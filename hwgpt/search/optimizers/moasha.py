"""MOASHA with Syne Tune 0.16's rung decisions computed incrementally instead of in O(n^2) and worse.

Syne Tune's :class:`~syne_tune.optimizer.schedulers.multiobjective.moasha.MOASHA` decides, for every
result that reaches a rung, whether the trial continues: its :class:`~syne_tune.optimizer.schedulers.asha.Bracket`
ranks the ``n`` results recorded at that rung with ``NonDominatedPriority`` (``nondominated_sort``:
the Pareto fronts one after another, each found by a pairwise dominance check against the rest, and
within each front an epsilon-net order with an ``O(f^3)`` distance loop), then stops the trial if
``ranks[-1] > 1 / reduction_factor``. Per result that is ``O(n^2)`` or worse, so a run of ``N``
trials costs ``O(N^3)``: ~0.5 s per result at 2,000 results; a 2-simulated-hour budget did not finish.

The seam: :class:`MOASHA` builds its brackets as :class:`FastBracket`, whose ``on_result`` makes the
same decision from the same inputs. ``priorities`` in Syne Tune's code is the flattened sort order
(item indices, best first), a permutation of ``0..n-1``; ``np.searchsorted(sorted(p), p) / n`` is
then ``p / n``, so ``ranks[-1]`` is the *index of the item placed last* divided by ``n`` (not the new
trial's rank; and each front is listed as ``front[ranks]``, indexed by the epsilon net's ranks
rather than its order: Syne Tune 0.16's behaviour, kept as it is). Only the last element is
needed: the fronts are Pareto ranks kept up to date as results reach the rung (:class:`_Rows`: each
result re-ranks, with ``moocore.pareto_rank``, only the results it dominates that are low enough to rise,
a handful per result, after one ``O(n)`` numpy dominance scan, so the cost per result is nearly flat as
the rung grows; equal points share a front, as in Syne Tune's check), the worst front is kept with them,
and only it is ordered, by
:func:`epsilon_net_order` (Syne Tune's epsilon net with the same arithmetic and tie-breaking,
``O(f^2)``). Other priorities (``multiobjective_priority`` given, or ``dim=None``, or
``max_num_samples``) fall back to Syne Tune's code. Tested equal to Syne Tune's decisions and to
``nondominated_sort(X)[-1]`` on random inputs with ties.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from syne_tune.optimizer.scheduler import SchedulerDecision
from syne_tune.optimizer.schedulers.asha import Bracket
from syne_tune.optimizer.schedulers.multiobjective.moasha import MOASHA as _SyneTuneMOASHA
from syne_tune.optimizer.schedulers.multiobjective.multiobjective_priority import NonDominatedPriority


def epsilon_net_order(X: np.ndarray, dim: int = 0) -> list[int]:
    """Syne Tune's ``compute_epsilon_net`` order of the rows of ``X`` (as a list of row indices).

    Seed: the first row with the smallest value in column ``dim``; then repeatedly the remaining row
    farthest (Euclidean) from every chosen one, ties to the smallest index (Syne Tune iterates a
    set of small ints, i.e. in increasing order). Minimum distances are kept up to date as rows are
    chosen (``O(f^2)``; Syne Tune recomputes them from scratch, ``O(f^3)``), with the same float operations
    (each distance is ``np.linalg.norm(X[r] - X[last])``; for up to :data:`PAIRWISE_MAX` rows all of them
    in one call). Chosen rows are masked with ``-inf`` rather than deleted: ``argmax`` takes the first
    maximum, the smallest remaining index, as before.
    """
    f = len(X)
    first = int(np.argmin(X, axis=0)[dim])
    if f <= 2:
        return [first] if f == 1 else [first, 1 - first]
    pairwise = np.linalg.norm(X[:, None, :] - X[None, :, :], axis=-1) if f <= PAIRWISE_MAX else None
    order = [first]
    mind = np.full(f, np.inf)
    mind[first] = -np.inf
    last = first
    for _ in range(f - 1):
        d = pairwise[:, last] if pairwise is not None else np.linalg.norm(X - X[last], axis=-1)
        np.minimum(mind, d, out=mind)
        last = int(np.argmax(mind))
        order.append(last)
        mind[last] = -np.inf
    return order


PAIRWISE_MAX = 256
"""Fronts up to this size get all their distances in one call (``f x f x m`` floats)."""


def last_in_nondominated_sort(X: np.ndarray, dim: int = 0) -> int:
    """``nondominated_sort(X, dim=dim)[-1]`` (Syne Tune), from the worst front only."""
    import moocore

    X = np.asarray(X, dtype=np.float64)
    rank = moocore.pareto_rank(X)
    return _last_of_worst(X, np.flatnonzero(rank == rank.max()).tolist(), dim)


def _last_of_worst(X: np.ndarray, worst: list[int], dim: int) -> int:
    """The last item of Syne Tune's non-dominated sort of ``X``, given its worst front ``worst`` (increasing
    indices). Syne Tune lists a front as ``front[compute_epsilon_net(...)]``, indexing by the *ranks* the net
    returns, so its last entry is ``front[rank of the front's last member]``."""
    return int(worst[epsilon_net_order(X[worst], dim).index(len(worst) - 1)])


def nondominated_sort_fast(X: np.ndarray, dim: int = 0) -> list[int]:
    """Syne Tune's ``nondominated_sort(X, dim=dim)`` (flattened, every item), with moocore's fronts and the
    incremental epsilon net: each front, in increasing index order, listed as ``front[ranks]``."""
    import moocore

    X = np.asarray(X, dtype=np.float64)
    if len(X) == 0:
        return []
    rank = moocore.pareto_rank(X)
    out: list[int] = []
    for r in range(int(rank.max()) + 1):
        front = np.flatnonzero(rank == r)
        order = epsilon_net_order(X[front], dim)
        ranks = np.empty(len(order), dtype=int)
        ranks[order] = np.arange(len(order))
        out.extend(front[ranks].tolist())
    return out


class FastNonDominatedPriority(NonDominatedPriority):
    """Syne Tune's ``NonDominatedPriority`` (``dim`` given, all items) computed by :func:`nondominated_sort_fast`:
    the same priorities, without the pairwise front peeling and the ``O(f^3)`` epsilon net (morea re-sorts its
    population after every result with it)."""

    def priority_unsafe(self, objectives: np.ndarray) -> np.ndarray:
        if self.dim is None or self.max_num_samples is not None:
            return super().priority_unsafe(objectives)
        return np.array(nondominated_sort_fast(objectives, self.dim))


class FastBracket(Bracket):
    """Syne Tune's ``Bracket`` with the multi-objective rung decision from incrementally kept ranks (same decisions)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rows: dict[float, _Rows] = {}  # per rung: the recorded metrics, in order

    @classmethod
    def of(cls, bracket: Bracket) -> FastBracket:
        """A FastBracket with the state (rungs, reduction factor, priority) of ``bracket``."""
        new = cls.__new__(cls)
        new.__dict__.update(bracket.__dict__)
        new._rows = {}
        return new

    def _fast(self) -> bool:
        p = self.priority
        return type(p) is NonDominatedPriority and p.dim is not None and p.max_num_samples is None

    def on_result(self, trial_id: int, cur_iter: int, metrics: dict | None) -> str:
        if not self._fast():
            return super().on_result(trial_id, cur_iter, metrics)
        action = SchedulerDecision.CONTINUE
        for milestone, recorded in self.rungs:
            if cur_iter < milestone or trial_id in recorded:
                continue
            if milestone not in self._rows:
                self._rows[milestone] = _Rows([list(x.values()) for x in recorded.values()])
            rows = self._rows[milestone]
            rows.append(list(metrics.values()))
            if recorded:
                if rows.last_in_nondominated_sort(self.priority.dim) / rows.n > 1 / self.rf:
                    action = SchedulerDecision.STOP
            recorded[trial_id] = metrics
            break
        return action


class _Rows:
    """The results recorded at one rung (a growing 2-d float array: amortised O(1) append; Syne Tune rebuilt it
    from dicts per result) with every row's Pareto rank kept up to date as rows come.

    ``rank`` equals ``moocore.pareto_rank`` of the rows (tested): the length of the longest chain of
    dominating rows above a row. A new row ``p`` gets ``r = 1 +`` the largest rank among its dominators (0 if
    none); only rows ``p`` dominates can rise, to ``r +`` their longest chain below ``p``. A row rises only
    if the row above it on that chain rose too (one that kept its rank already held the row below it lower),
    so a row at ``r + t`` or above can rise only through a chain of ``t + 1`` rising rows at ``r + t`` or
    below: :meth:`_raise` re-ranks (``moocore.pareto_rank``) just the dominated rows up to ``r + t``, and if
    no chain there is longer than ``t``, nothing above moves; else ``t`` doubles (from
    :data:`CASCADE_START`). In a run a result raises a handful of rows, 3 to 4 ranks deep on average, and
    60% raise none (one comparison), where re-ranking every dominated row (a growing share of the rung: 440
    rows at 7,000 results) made the per-result cost grow with the rung.

    ``worst`` (the rows of the largest rank ``top``, in increasing order) is kept as rows come and rise, so
    the decision reads the worst front without a scan. Per result: one ``O(n)`` column-wise dominance
    scan (numpy), then the re-ranking of the few rows that can rise.
    """

    def __init__(self, rows: list[list[float]]) -> None:
        self.n = 0
        self.buf = np.empty((0, 0))
        self.rank = np.empty(0, dtype=np.int64)
        self.top = -1  # the largest rank
        self.worst: list[int] = []  # the rows of rank ``top``, in increasing order (the worst front)
        for r in rows:
            self.append(r)

    def append(self, row: list[float]) -> None:
        if self.n == len(self.buf):
            cap = max(16, 2 * self.n)
            grown = np.empty((cap, len(row)), order="F")  # columns contiguous: the scans below go by column
            ranks = np.zeros(cap, dtype=np.int64)
            if self.n:
                grown[:self.n], ranks[:self.n] = self.buf[:self.n], self.rank[:self.n]
            self.buf, self.rank = grown, ranks
        n = self.n
        x = [float(v) for v in row]
        cols = [self.buf[:n, j] for j in range(len(x))]
        le, ge = cols[0] <= x[0], cols[0] >= x[0]  # per row: <= x everywhere, >= x everywhere
        for c, v in zip(cols[1:], x[1:], strict=True):
            le &= c <= v
            ge &= c >= v
        # dominates x: <= everywhere and not equal (not >= everywhere); x dominates: the other way round
        r = int(np.max(self.rank[:n], where=le > ge, initial=-1)) + 1
        below = np.flatnonzero(ge > le)
        self.buf[n], self.rank[n] = x, r
        self.n += 1
        if r > self.top:
            self.top, self.worst = r, [n]
        elif r == self.top:
            self.worst.append(n)
        if len(below):
            self._raise(x, below, r)

    def _raise(self, x: list[float], below: np.ndarray, r: int) -> None:
        """Raise the ranks of the rows ``below`` (those the new row ``x``, of rank ``r``, dominates) to their
        longest chains through ``x``, re-ranking only the dominated rows that can rise (see the class)."""
        import moocore

        old = self.rank[below]
        t = CASCADE_START
        if old.min() > r:  # every row x dominates already ranks below x: none rises
            return
        while True:
            low = old <= r + t
            idx = below[low]
            sub = moocore.pareto_rank(np.concatenate([np.asarray(x)[None, :], self.buf[idx]]))[1:]
            if int(sub.max()) <= t or len(idx) == len(below):
                raised = np.maximum(old[low], r + sub)
                self.rank[idx] = raised
                top = int(raised.max())
                if top > self.top:  # (only raised rows can hold a rank above the old largest)
                    self.top, self.worst = top, idx[raised == top].tolist()
                elif top == self.top:  # raised rows that reached the worst front join it, in order
                    self.worst = sorted({*self.worst, *idx[(raised == top) & (old[low] < top)].tolist()})
                return
            t *= 2

    def last_in_nondominated_sort(self, dim: int) -> int:
        """:func:`last_in_nondominated_sort` of the rows, from the kept ranks."""
        return _last_of_worst(self.buf, self.worst, dim)


CASCADE_START = 8
"""Rank headroom of the first subset :meth:`_Rows._raise` re-ranks (doubled until the chains fit in it)."""


class MOASHA(_SyneTuneMOASHA):
    """Syne Tune's MOASHA (same arguments) with :class:`FastBracket` brackets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.brackets = [FastBracket.of(b) for b in self.brackets]
