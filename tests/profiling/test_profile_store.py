"""The SQLite store: round trip, resume, transactions, schema/corruption/lock errors, export, merge."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hwgpt
from hwgpt.profiling.store import (
    OBS_COLUMNS,
    Observation,
    Settings,
    Store,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    StoreReadOnlyError,
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


def _complete_store(path: Path, n: int = 2) -> list[hwgpt.Arch]:
    store = Store(path, create=True)
    archs = SPACE.sample_unique(n, seed=4)
    for a in archs:
        _write(store, a)
    store.close()
    return archs


def test_readonly_store_reads_exports_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    archs = _complete_store(path)
    before = path.read_bytes()
    store = Store(path, readonly=True)
    assert store.readonly and len(store.observations()) == 6
    assert store.completed("tiny", "cpu", "latency") == {a.id for a in archs}
    out = store.export(tmp_path / "out" / "obs.parquet")
    assert len(pd.read_parquet(out)) == 6
    with pytest.raises(StoreReadOnlyError, match=r"read-only .*copy the file to a writable place"):
        _write(store, SPACE.sample(9))
    with pytest.raises(StoreReadOnlyError, match=str(path)):
        store.claim(archs, scale="tiny", device="cpu", metrics=["latency"], settings=SET, owner="x", lease=10,
                    limit=1)
    store.close()
    assert path.read_bytes() == before


def test_unwritable_file_or_directory_opens_readonly(tmp_path: Path, monkeypatch) -> None:
    """As a non-root user a 444 file, an immutable file or a read-only directory look like this to os.access."""
    import os

    path = tmp_path / "s.sqlite"
    _complete_store(path)
    real = os.access
    for denied in (path, tmp_path):
        monkeypatch.setattr(os, "access", lambda p, mode, d=denied: False if Path(p) == d else real(p, mode))
        store = Store(path)
        assert store.readonly and len(store.observations()) == 6
        with pytest.raises(StoreReadOnlyError, match="not writable"):
            _write(store, SPACE.sample(9))
        store.close()
        with pytest.raises(StoreReadOnlyError, match=r"cannot be written.*store=<a writable path>"):
            Store(path, readonly=False)  # what profile.py asks for


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
                    reason="root ignores file permissions")
def test_chmod_444_store_really_is_readonly(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _complete_store(path)
    path.chmod(0o444)
    store = Store(path)
    assert store.readonly and len(store.observations()) == 6
    with pytest.raises(StoreReadOnlyError):
        _write(store, SPACE.sample(9))


def test_unwritable_location_for_a_new_store(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=r"cannot create the store .*pass store=<a path in a writable directory>"):
        Store(blocker / "sub" / "s.sqlite", create=True)


def test_claims_share_work_and_expire(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    a, b = Store(path, create=True), Store(path)
    archs = SPACE.sample_unique(5, seed=6)
    kw = dict(scale="tiny", device="cpu", metrics=["latency"], settings=SET, lease=60.0, limit=2)
    first = a.claim(archs, owner="A", **kw)
    second = b.claim(archs, owner="B", **kw)
    assert [x.id for x in first.archs] == [x.id for x in archs[:2]]
    assert [x.id for x in second.archs] == [x.id for x in archs[2:4]] and second.n_held == 2
    assert len(a.claims()) == 4
    # A writes one of its archs (its claim goes with the write) and gives the other back.
    key = a.register_device("cpu", "cpu", {"cpu_model": "test"})
    a.start_run("A", key, {})
    a.write_arch(arch=archs[0], scale="tiny", device="cpu", settings=SET, run_id="A", device_key=key, owner="A",
                 observations=[Observation("latency", 1.0, "s")])
    assert a.release_claims("A") == 1
    third = b.claim(archs, owner="C", **{**kw, "limit": 5})
    assert {x.id for x in third.archs} == {archs[1].id, archs[4].id}
    assert third.n_complete == 1 and third.n_held == 2
    # An expired lease goes back to the pool.
    assert b.renew_claims("B", -1.0) == 2
    fourth = a.claim(archs, owner="D", **{**kw, "limit": 5})
    assert {x.id for x in fourth.archs} == {archs[2].id, archs[3].id}


def test_claim_scans_candidates_a_window_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim reads only the prefix of candidates it needs (windows), reporting the complete ones it met."""
    import hwgpt.profiling.store as store_mod

    monkeypatch.setattr(store_mod, "CLAIM_WINDOW", 3)
    store = Store(tmp_path / "s.sqlite", create=True)
    archs = SPACE.sample_unique(10, seed=8)
    key = store.register_device("cpu", "cpu", {"cpu_model": "test"})
    store.start_run("W", key, {})
    for a in archs[:4]:  # more than a window complete at the front
        store.write_arch(arch=a, scale="tiny", device="cpu", settings=SET, run_id="W", device_key=key,
                         observations=[Observation("latency", 1.0, "s")])
    kw = dict(scale="tiny", device="cpu", metrics=["latency"], settings=SET, lease=60.0)
    seen = []

    def candidates():  # noqa: ANN202
        for a in archs:
            seen.append(a.id)
            yield a

    got = store.claim(candidates(), owner="A", limit=1, **kw)
    assert [a.id for a in got.archs] == [archs[4].id]
    assert [a.id for a in got.complete] == [a.id for a in archs[:4]] and got.n_complete == 4
    assert len(seen) == 6  # two windows of 3, not all 10 candidates
    rest = store.claim(archs, owner="B", limit=10, **kw)
    assert [a.id for a in rest.archs] == [a.id for a in archs[5:]] and rest.n_held == 1 and rest.n_complete == 4


def test_claims_of_a_dead_process_go_back_at_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "s.sqlite"
    archs = SPACE.sample_unique(3, seed=7)
    Store(path, create=True).close()
    code = ("import sys, hwgpt; from hwgpt.profiling.store import Store, Settings; "
            "s = Store(sys.argv[1]); sp = hwgpt.SearchSpace.from_name('tiny'); "
            "print(len(s.claim(sp.sample_unique(3, seed=7), scale='tiny', device='cpu', metrics=['latency'], "
            "settings=Settings(1, 64, 'float32', 1), owner='dead', lease=3600, limit=3).archs))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "3", out.stderr
    store = Store(path)
    assert len(store.claims()) == 3  # still listed, but the owner's pid has exited
    got = store.claim(archs, scale="tiny", device="cpu", metrics=["latency"], settings=SET, owner="live",
                      lease=60, limit=3)
    assert len(got.archs) == 3 and set(store.claims().owner) == {"live"}


def test_old_store_without_claims_table_gets_one(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _complete_store(path, n=1)
    with sqlite3.connect(path) as c:
        c.execute("DROP TABLE claims")
    store = Store(path)
    assert store.claims().empty and store.release_claims("x") == 0
    got = store.claim(SPACE.sample_unique(3, seed=4), scale="tiny", device="cpu", metrics=["latency"],
                      settings=SET, owner="x", lease=5, limit=5)
    assert len(got.archs) == 2 and got.n_complete == 1


def _quality_frame(archs: list, first: int, windows: int, losses: list[float], accs: list[float]) -> pd.DataFrame:
    rows = []
    for a, loss, acc in zip(archs, losses, accs, strict=True):
        extra = json.dumps({"checkpoint_sha256": "abc", "tokens": windows * 16, "windows": windows,
                            "first_window": first})
        for metric, value in (("perplexity", float(np.exp(loss))), ("accuracy", acc)):
            rows.append(dict(arch_id=a.id, arch=a.to_json(), scale="tiny", device="cpu", metric=metric, value=value,
                             unit="x", batch=8, seq_len=256, dtype="float32", threads=1, extra=extra))
    return pd.DataFrame(rows)


def test_pool_windows_is_the_token_weighted_measurement(tmp_path: Path) -> None:
    from hwgpt.errors import InvalidInput
    from hwgpt.profiling.quality import pool_windows

    archs = SPACE.sample_unique(3, seed=8)
    a = _quality_frame(archs, 0, 32, [5.0, 4.0, 4.5], [0.2, 0.3, 0.25])
    b = _quality_frame(archs[:2], 32, 96, [5.4, 4.4], [0.1, 0.2])
    assert pool_windows([a, b], tmp_path / "p.sqlite") == 2  # the arch missing from b is left out
    df = Store(tmp_path / "p.sqlite").observations().set_index(["arch_id", "metric"])["value"]
    assert df[(archs[0].id, "perplexity")] == pytest.approx(np.exp((32 * 5.0 + 96 * 5.4) / 128))
    assert df[(archs[1].id, "accuracy")] == pytest.approx((32 * 0.3 + 96 * 0.2) / 128)
    with pytest.raises(InvalidInput, match="overlapping windows"):
        pool_windows([a, _quality_frame(archs, 16, 32, [1, 1, 1], [0, 0, 0])], tmp_path / "q.sqlite")
