"""The SQLite store: round trip, resume, transactions, schema/corruption/lock errors, export, merge."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import hwgpt
from hwgpt.profiling.store import (
    OBS_COLUMNS,
    Observation,
    Settings,
    Store,
    StoreCorruptError,
    StoreLockedError,
    StoreSchemaError,
)

SPACE = hwgpt.SearchSpace.from_name("tiny")
SET = Settings(batch=1, seq_len=64, dtype="float32", threads=1)


def _write(store: Store, arch: hwgpt.Arch, n: int = 3, metric: str = "latency", value=0.5) -> list[str]:
    key = store.register_device("cpu", "cpu", {"cpu_model": "test"})
    store.start_run("r1", key, {"x": 1})
    obs = [Observation(metric, value, "s", r, ("contended",) if r else (), {"wait_s": 0.0}) for r in range(n)]
    return store.write_arch(arch=arch, scale="tiny", device="cpu", settings=SET, observations=obs,
                            run_id="r1", device_key=key)


def test_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", create=True)
    archs = SPACE.sample_unique(3, seed=1)
    for a in archs:
        assert _write(store, a) == ["latency"]
    df = store.observations(scale="tiny", device="cpu", metric="latency")
    assert list(df.columns) == list(OBS_COLUMNS)
    assert len(df) == 9 and set(df.arch_id) == {a.id for a in archs}
    row = df.iloc[1]
    assert hwgpt.Arch.from_dict(json.loads(row.arch)) == archs[0]
    assert row["flags"] == "contended" and row["repeat"] == 1 and row["threads"] == 1 and row["dtype"] == "float32"
    assert store.completed("tiny", "cpu", "latency") == {a.id for a in archs}
    assert store.completed("tiny", "cpu", "latency", Settings(2, 64, "float32", 1)) == set()
    assert store.completed("tiny", "cpu", "energy") == set()
    dev = store.devices()
    assert list(dev.columns[:3]) == ["device_key", "name", "kind"] and dev.name[0] == "cpu"
    assert store.observations(metric="energy").empty


def test_resume_skips_completed(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", create=True)
    a = SPACE.sample(0)
    assert _write(store, a) == ["latency"]
    assert _write(store, a, value=9.9) == []  # already complete: nothing written, nothing changed
    df = store.observations()
    assert len(df) == 3 and (df.value == 0.5).all()


def test_failure_mid_arch_writes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", create=True)
    _write(store, SPACE.sample(0))
    with pytest.raises(ValueError):
        _write(store, SPACE.sample(1), value="not a number")  # fails while inserting the rows
    assert len(store.observations()) == 3
    assert store.completed("tiny", "cpu", "latency") == {SPACE.sample(0).id}


def test_missing_file_without_create(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="profile.py"):
        Store(tmp_path / "nope.sqlite")


def test_schema_version_error_leaves_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path, create=True)
    _write(store, SPACE.sample(0))
    store.close()
    with sqlite3.connect(path) as c:
        c.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    before = path.read_bytes()
    with pytest.raises(StoreSchemaError, match="schema version '99'"):
        Store(path, create=True)
    assert path.read_bytes() == before


def test_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE foo (x)")
    with pytest.raises(StoreSchemaError, match="not an hwgpt measurement store"):
        Store(path, create=True)


def test_corrupt_file_error_leaves_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not sqlite" * 300)
    before = path.read_bytes()
    with pytest.raises(StoreCorruptError, match="not a readable SQLite database"):
        Store(path, create=True)
    assert path.read_bytes() == before


def test_truncated_store_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path, create=True)
    for a in SPACE.sample_unique(20, seed=0):
        _write(store, a, n=50)
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreCorruptError):
        Store(path).observations()


def test_locked_store_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path, create=True, timeout=0.2)
    _write(store, SPACE.sample(0))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreLockedError, match="locked"):
            _write(store, SPACE.sample(1))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert len(store.observations()) == 3
    assert _write(store, SPACE.sample(1)) == ["latency"]  # usable again once the lock is gone


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_export(tmp_path: Path, suffix: str) -> None:
    store = Store(tmp_path / "s.sqlite", create=True)
    _write(store, SPACE.sample(0))
    out = store.export(tmp_path / f"obs{suffix}")
    df = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert len(df) == 3 and "device_identity" in df.columns and set(OBS_COLUMNS) <= set(df.columns)
    with pytest.raises(ValueError, match=".parquet or .csv"):
        store.export(tmp_path / "obs.json")


def test_merge(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a.sqlite", create=True), Store(tmp_path / "b.sqlite", create=True)
    archs = SPACE.sample_unique(3, seed=2)
    _write(a, archs[0])
    _write(b, archs[0], value=7.0)  # conflicting: the destination keeps its own
    _write(b, archs[1])
    assert a.merge(tmp_path / "b.sqlite") == 1
    df = a.observations()
    assert len(df) == 6 and set(df[df.arch_id == archs[0].id].value) == {0.5}
    assert a.merge(tmp_path / "b.sqlite") == 0
