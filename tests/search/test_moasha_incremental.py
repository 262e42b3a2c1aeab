"""MOASHA's rung ranks kept as results come (issue 19: its own cost flat over a run) equal a full re-ranking,
and the rung decision made from them equals the one made from scratch after every result."""

from __future__ import annotations

import moocore
import numpy as np
import pytest

from hwgpt.search.optimizers import moasha
from hwgpt.search.optimizers.moasha import _Rows, last_in_nondominated_sort


def _check_every_prefix(X: np.ndarray) -> _Rows:
    """Append the rows of ``X`` one by one; after each: ranks, worst front and decision as from scratch."""
    rows = _Rows([])
    for k in range(len(X)):
        rows.append(X[k].tolist())
        prefix = X[:k + 1]
        rank = moocore.pareto_rank(prefix)
        np.testing.assert_array_equal(rows.rank[:k + 1], rank)
        assert rows.top == rank.max()
        assert rows.worst == np.flatnonzero(rank == rank.max()).tolist()
        for dim in range(X.shape[1]):
            assert rows.last_in_nondominated_sort(dim) == last_in_nondominated_sort(prefix, dim)
    return rows


def _cases(seed: int, count: int) -> list[np.ndarray]:
    """Random rung sequences: continuous rows, integer rows (ties in a column, duplicate rows), rows drawn
    from a few distinct points (many exact duplicates), in 2 and 3 columns."""
    rng = np.random.RandomState(seed)
    cases = []
    for trial in range(count):
        n, m = int(rng.randint(1, 90)), int(rng.choice([2, 3]))
        kind = trial % 3
        if kind == 0:
            cases.append(rng.rand(n, m))
        elif kind == 1:
            cases.append(rng.randint(0, 4, size=(n, m)).astype(float))
        else:
            points = rng.rand(int(rng.randint(1, 6)), m)
            cases.append(points[rng.randint(0, len(points), size=n)])
    return cases


def _chains() -> list[np.ndarray]:
    """Deep cascades: rows that each dominate every row before them (every rank rises, the chain far deeper
    than the first subset :meth:`_Rows._raise` re-ranks), a staircase of fronts with a new best at the end,
    and the same with duplicated rows."""
    down = np.stack([np.linspace(1, 0, 40), np.linspace(1, 0, 40)], axis=1)
    stairs = np.array([[i + j, i + (4 - j)] for i in range(30) for j in range(5)], dtype=float)[::-1]
    stairs = np.concatenate([stairs, [[-1.0, -1.0]]])
    cube = np.stack([np.linspace(1, 0, 50)] * 3, axis=1)
    return [down, stairs, np.repeat(stairs, 2, axis=0), cube, np.repeat(down, 3, axis=0)]


def test_incremental_ranks_and_decisions_equal_a_full_sort() -> None:
    """After every appended row: ranks equal ``moocore.pareto_rank``, the worst front is the rows of the largest
    rank in order, and the last item of the non-dominated sort is :func:`last_in_nondominated_sort`'s."""
    for X in _cases(1, 300) + _chains():
        _check_every_prefix(X)
    assert _Rows(_chains()[0].tolist()).rank[:40].tolist() == list(range(40))[::-1]


@pytest.mark.parametrize("start", [1, 2, 1000])
def test_subset_size_does_not_change_the_ranks(start: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dominated rows re-ranked first (a headroom of ``CASCADE_START`` ranks, doubled while a chain
    reaches past it) never change the result: every doubling and the whole dominated set give the same."""
    monkeypatch.setattr(moasha, "CASCADE_START", start)
    for X in _cases(2, 60) + _chains():
        _check_every_prefix(X)


def test_long_random_rung() -> None:
    """A rung of 1,500 rows (fronts dozens deep, as in a run): the same ranks and decision at every 50th row,
    and at the end, as from scratch; with duplicates of earlier rows mixed in."""
    rng = np.random.RandomState(3)
    for m in (2, 3):
        X = rng.rand(1500, m)
        X[rng.randint(0, 1500, 200)] = X[rng.randint(0, 1500, 200)]  # duplicate rows
        rows = _Rows([])
        for k in range(len(X)):
            rows.append(X[k].tolist())
            if k % 50 == 49 or k == len(X) - 1:
                np.testing.assert_array_equal(rows.rank[:k + 1], moocore.pareto_rank(X[:k + 1]))
                assert rows.last_in_nondominated_sort(0) == last_in_nondominated_sort(X[:k + 1], 0)
