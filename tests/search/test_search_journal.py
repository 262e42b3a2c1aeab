"""The search journal and the per-evaluation callback hook: history kept as it goes, resume from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_helpers import SMALL

from hwgpt.search import run


@pytest.mark.parametrize("optimizer", ["rs", "nsga2", "moasha"])
def test_callbacks_get_one_record_per_counted_evaluation(optimizer: str, search_cfg, tmp_path: Path) -> None:
    records: list[dict] = []
    res = run(search_cfg(f"optimizer={optimizer}", "n_evals=12", *SMALL[optimizer]), callbacks=[records.append])
    assert [r["index"] for r in records] == list(range(12))
    for r, e in zip(records, res["history"], strict=True):
        assert r["arch"] == e["arch"] and r["objectives"] == e["objectives"]
        assert r["simulated_seconds"] == e["simulated_seconds"] and r["rounds"] == e["rounds"]
        assert r["replayed"] is False
