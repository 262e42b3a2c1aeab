"""MOASHA's rung ranks kept as results come (issue 19: its own cost flat over a run) equal a full re-ranking."""

from __future__ import annotations

import moocore
import numpy as np

from hwgpt.search.optimizers.moasha import _Rows, last_in_nondominated_sort


def test_incremental_ranks_equal_moocore_and_the_decision_is_unchanged() -> None:
    """After every appended row: the ranks are ``moocore.pareto_rank`` of the rows so far and the last item of
    the non-dominated sort is the one from scratch; random rows, integer rows (ties, duplicates), 2 and 3
    objectives, and a sequence where each new row dominates all before it (every rank rises)."""
    rng = np.random.RandomState(1)
    cases = []
    for trial in range(200):
        n, m = int(rng.randint(1, 90)), int(rng.choice([2, 3]))
        cases.append(rng.rand(n, m) if trial % 2 else rng.randint(0, 4, size=(n, m)).astype(float))
    cases.append(np.stack([np.linspace(1, 0, 40), np.linspace(1, 0, 40)], axis=1))
    for X in cases:
        rows = _Rows([])
        for k in range(len(X)):
            rows.append(X[k].tolist())
            np.testing.assert_array_equal(rows.rank[:k + 1], moocore.pareto_rank(X[:k + 1]))
            assert rows.last_in_nondominated_sort(0) == last_in_nondominated_sort(X[:k + 1], 0)
    assert _Rows(cases[-1].tolist()).rank[:40].tolist() == list(range(40))[::-1]
