"""Crash-safe SQLite store of profiling observations (standard library ``sqlite3``).

One row per observation in ``observations``; an architecture's observations of one metric
under one setting are written in a single transaction together with its row in
``completed``. So a SIGKILL at any moment loses at most the architectures in flight and never
leaves a partial one, a rerun skips what ``completed`` lists, and two processes writing the
same file (``BEGIN IMMEDIATE`` + ``busy_timeout`` + UNIQUE keys) never duplicate rows.

The journal is SQLite's default rollback journal (not WAL): it works on network file
systems and read-only copies, and writes here are small and rare (one per architecture).

Tables: ``meta`` (schema_version), ``devices`` (identity JSON), ``runs`` (config, versions),
``observations``, ``completed``. Another schema version, a corrupt file or a file that is not
a store raise :class:`StoreError` subclasses before anything is written.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha1
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SETTINGS = ("batch", "seq_len", "dtype", "threads")
OBS_COLUMNS = (
    "arch_id", "arch", "scale", "device", "metric", "value", "unit", *SETTINGS,
    "repeat", "flags", "extra", "run_id", "device_key", "created_at",
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    device_key TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
    identity TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, device_key TEXT NOT NULL REFERENCES devices(device_key),
    config TEXT NOT NULL, started_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY, arch_id TEXT NOT NULL, arch TEXT NOT NULL, scale TEXT NOT NULL,
    device TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL,
    batch INTEGER NOT NULL, seq_len INTEGER NOT NULL, dtype TEXT NOT NULL, threads INTEGER NOT NULL,
    repeat INTEGER NOT NULL, flags TEXT NOT NULL DEFAULT '', extra TEXT NOT NULL DEFAULT '{{}}',
    run_id TEXT NOT NULL REFERENCES runs(run_id), device_key TEXT NOT NULL REFERENCES devices(device_key),
    created_at TEXT NOT NULL,
    UNIQUE (arch_id, scale, device, metric, {", ".join(SETTINGS)}, repeat));
CREATE TABLE IF NOT EXISTS completed (
    arch_id TEXT NOT NULL, scale TEXT NOT NULL, device TEXT NOT NULL, metric TEXT NOT NULL,
    batch INTEGER NOT NULL, seq_len INTEGER NOT NULL, dtype TEXT NOT NULL, threads INTEGER NOT NULL,
    n_obs INTEGER NOT NULL, run_id TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (arch_id, scale, device, metric, {", ".join(SETTINGS)}));
CREATE INDEX IF NOT EXISTS obs_query ON observations (scale, device, metric);
"""


class StoreError(RuntimeError):
    """Base class of store errors; the file is left exactly as it was."""


class StoreLockedError(StoreError):
    """Another process held the write lock for longer than the timeout."""


class StoreCorruptError(StoreError):
    """The file is not a readable SQLite database, or fails SQLite's integrity check."""


class StoreSchemaError(StoreError):
    """The file is a store of another schema version, or not an hwgpt store at all."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Settings:
    """The conditions an observation was made under (part of its identity).

    Attributes:
        batch: Sequences per forward.
        seq_len: Tokens per sequence.
        dtype: Weight/activation dtype name, e.g. ``float32``.
        threads: ``torch.get_num_threads()`` during the measurement.
    """

    batch: int
    seq_len: int
    dtype: str
    threads: int

    def as_tuple(self) -> tuple[int, int, str, int]:
        return (self.batch, self.seq_len, self.dtype, self.threads)


@dataclass(frozen=True)
class Observation:
    """One measured (or computed) value of one metric of one architecture.

    Attributes:
        metric: Metric name (``latency``, ``energy``, ...).
        value: The value, in ``unit``.
        unit: Unit of ``value`` (``s``, ``J``, ``bytes``, ...).
        repeat: Index of this observation among the architecture's repeats (0-based).
        flags: Short tags such as ``estimate`` or ``contended``.
        extra: JSON-safe details (run-queue wait, forwards per observation, ...).
    """

    metric: str
    value: float
    unit: str
    repeat: int = 0
    flags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def device_key(name: str, identity: dict[str, Any]) -> str:
    """Stable key of a device config name plus its detected identity."""
    blob = json.dumps({"name": name, "identity": identity}, sort_keys=True, separators=(",", ":"))
    return sha1(blob.encode()).hexdigest()[:16]


class Store:
    """A measurement store file.

    Args:
        path: The SQLite file.
        create: Create the file (and its schema) when it does not exist; otherwise a missing
            file raises FileNotFoundError.
        timeout: Seconds to wait for another process's write lock (SQLite busy timeout).
        check: Run SQLite's ``quick_check`` when opening.

    Raises:
        StoreCorruptError, StoreSchemaError, StoreLockedError: see the classes.
    """

    def __init__(self, path: Path | str, *, create: bool = False, timeout: float = 60.0, check: bool = True) -> None:
        self.path = Path(path).expanduser()
        self.timeout = timeout
        if not self.path.exists():
            if not create:
                raise FileNotFoundError(
                    f"no measurement store at {self.path}; measurements are written by "
                    f"`python profile.py ... store={self.path}`"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif self.path.is_dir():
            raise StoreSchemaError(f"store path {self.path} is a directory, expected an SQLite file")
        self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        try:
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._open(check)
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ opening
    def _open(self, check: bool) -> None:
        try:
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if check:
                result = self._conn.execute("PRAGMA quick_check").fetchone()[0]
                if result != "ok":
                    raise StoreCorruptError(f"{self.path} failed SQLite's integrity check: {result}")
        except sqlite3.OperationalError as e:
            self._raise_locked(e)
            raise
        except sqlite3.DatabaseError as e:
            raise StoreCorruptError(f"{self.path} is not a readable SQLite database ({e}); it was not modified") from e
        if not tables:
            with self.transaction():
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._conn.execute(statement)
                self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (_now(),))
            log.info("created measurement store %s (schema %d)", self.path, SCHEMA_VERSION)
            return
        if "meta" not in tables:
            raise StoreSchemaError(
                f"{self.path} is an SQLite database but not an hwgpt measurement store (tables: {sorted(tables)})"
            )
        row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = row[0] if row else None
        if version != str(SCHEMA_VERSION):
            raise StoreSchemaError(
                f"{self.path} has store schema version {version!r}, this hwgpt reads version {SCHEMA_VERSION}; "
                "use a new store= path (or the hwgpt version that wrote it); the file was not modified"
            )

    def _raise_locked(self, e: sqlite3.OperationalError) -> None:
        if "locked" in str(e) or "busy" in str(e):
            raise StoreLockedError(
                f"{self.path} stayed locked by another process for more than {self.timeout:.0f} s ({e}); "
                "nothing was written. Retry, or raise store_timeout"
            ) from e

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception, Ctrl-C included)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            self._raise_locked(e)
            raise
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as e:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._raise_locked(e)
            raise

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def register_device(self, name: str, kind: str, identity: dict[str, Any]) -> str:
        """Record a device (config name + detected identity); returns its ``device_key``."""
        key = device_key(name, identity)
        with self.transaction() as c:
            c.execute(
                "INSERT OR IGNORE INTO devices VALUES (?, ?, ?, ?, ?)",
                (key, name, kind, json.dumps(identity, sort_keys=True), _now()),
            )
        return key

    def start_run(self, run_id: str, device_key: str, config: dict[str, Any]) -> None:
        """Record a profiling run (its resolved config) before its first observation."""
        with self.transaction() as c:
            c.execute(
                "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?)",
                (run_id, device_key, json.dumps(config, sort_keys=True, default=str), _now()),
            )

    def write_arch(
        self,
        *,
        arch: Any,
        scale: str,
        device: str,
        settings: Settings,
        observations: Sequence[Observation],
        run_id: str,
        device_key: str,
    ) -> list[str]:
        """Write all observations of one architecture in one transaction.

        Metrics already completed for this architecture and settings (by another process, or
        an earlier run) are skipped. Returns the metric names written.
        """
        by_metric: dict[str, list[Observation]] = {}
        for ob in observations:
            by_metric.setdefault(ob.metric, []).append(ob)
        now, arch_json = _now(), arch.to_json()
        key = (arch.id, scale, device)
        written = []
        with self.transaction() as c:
            for metric, obs in by_metric.items():
                done = c.execute(
                    "SELECT 1 FROM completed WHERE arch_id=? AND scale=? AND device=? AND metric=? "
                    "AND batch=? AND seq_len=? AND dtype=? AND threads=?",
                    (*key, metric, *settings.as_tuple()),
                ).fetchone()
                if done:
                    continue
                c.executemany(
                    f"INSERT INTO observations ({', '.join(OBS_COLUMNS)}) VALUES ({', '.join('?' * len(OBS_COLUMNS))})",
                    [
                        (arch.id, arch_json, scale, device, metric, float(o.value), o.unit, *settings.as_tuple(),
                         o.repeat, ",".join(o.flags), json.dumps(o.extra, sort_keys=True), run_id, device_key, now)
                        for o in obs
                    ],
                )
                c.execute(
                    "INSERT INTO completed VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*key, metric, *settings.as_tuple(), len(obs), run_id, now),
                )
                written.append(metric)
        return written

    # ------------------------------------------------------------------ reading
    def _query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        try:
            return pd.read_sql_query(sql, self._conn, params=list(params))
        except sqlite3.OperationalError as e:
            self._raise_locked(e)
            raise

    @staticmethod
    def _where(**filters: Any) -> tuple[str, list[Any]]:
        items = [(k, v) for k, v in filters.items() if v is not None]
        if not items:
            return "", []
        return " WHERE " + " AND ".join(f"{k}=?" for k, _ in items), [v for _, v in items]

    def observations(
        self, scale: str | None = None, device: str | None = None, metric: str | None = None
    ) -> pd.DataFrame:
        """All observations (one row each, in write order), optionally filtered.

        Columns as in :data:`OBS_COLUMNS`: ``arch`` is the canonical JSON of ``Arch.to_dict()``,
        ``flags`` a comma-separated string (``estimate``, ``contended``, ``power_sampled``),
        ``extra`` a JSON object. ``flags`` and ``repeat`` shadow pandas attributes: index them
        as ``df["flags"]``, ``df["repeat"]``.
        """
        where, params = self._where(scale=scale, device=device, metric=metric)
        return self._query(f"SELECT {', '.join(OBS_COLUMNS)} FROM observations{where} ORDER BY id", params)

    def devices(self) -> pd.DataFrame:
        """Registered devices: ``device_key``, ``name``, ``kind``, ``identity`` (JSON), ``created_at``."""
        return self._query("SELECT device_key, name, kind, identity, created_at FROM devices ORDER BY created_at")

    def runs(self) -> pd.DataFrame:
        """Profiling runs: ``run_id``, ``device_key``, ``config`` (JSON), ``started_at``."""
        return self._query("SELECT run_id, device_key, config, started_at FROM runs ORDER BY started_at")

    def completed(
        self, scale: str, device: str, metric: str, settings: Settings | None = None
    ) -> set[str]:
        """Arch ids whose ``metric`` is complete on ``device`` (under ``settings``, if given)."""
        filters: dict[str, Any] = {"scale": scale, "device": device, "metric": metric}
        if settings is not None:
            filters.update(zip(SETTINGS, settings.as_tuple(), strict=True))
        where, params = self._where(**filters)
        try:
            return {r[0] for r in self._conn.execute(f"SELECT arch_id FROM completed{where}", params)}
        except sqlite3.OperationalError as e:
            self._raise_locked(e)
            raise

    def distinct_extra(self, key: str, **filters: Any) -> set[Any]:
        """Distinct values of ``extra[key]`` among observations matching ``filters`` (None omitted)."""
        where, params = self._where(**filters)
        cond = (" AND " if where else " WHERE ") + "json_extract(extra, ?) IS NOT NULL"
        rows = self._conn.execute(
            f"SELECT DISTINCT json_extract(extra, ?) FROM observations{where}{cond}", [f"$.{key}", *params, f"$.{key}"]
        )
        return {r[0] for r in rows}

    def merge(self, other: Path | str) -> int:
        """Copy the architectures complete in store ``other`` and missing here (one transaction).

        Returns the number of ``completed`` entries copied. ``other`` is only read.
        """
        Store(other, timeout=self.timeout).close()  # schema / corruption checks, clear errors
        fields = ("arch_id", "scale", "device", "metric", *SETTINGS)
        key = " AND ".join(f"c.{k}=s.{k}" for k in fields)
        obs_key = " AND ".join(f"o.{k}=s.{k}" for k in fields)
        self._conn.execute("ATTACH DATABASE ? AS src", (str(Path(other).expanduser()),))
        try:
            with self.transaction() as c:
                c.execute("INSERT OR IGNORE INTO devices SELECT * FROM src.devices")
                c.execute("INSERT OR IGNORE INTO runs SELECT * FROM src.runs")
                cols = ", ".join(OBS_COLUMNS)
                c.execute(
                    f"INSERT INTO observations ({cols}) SELECT {', '.join('o.' + k for k in OBS_COLUMNS)} "
                    f"FROM src.observations o JOIN src.completed s ON {obs_key} "
                    f"WHERE NOT EXISTS (SELECT 1 FROM main.completed c WHERE {key}) ORDER BY o.id"
                )
                n = c.execute(
                    f"INSERT INTO completed SELECT * FROM src.completed s "
                    f"WHERE NOT EXISTS (SELECT 1 FROM main.completed c WHERE {key})"
                ).rowcount
        finally:
            self._conn.execute("DETACH DATABASE src")
        return n

    def export(self, path: Path | str) -> Path:
        """Write the observations, joined with device identity, to ``.parquet`` or ``.csv``."""
        path = Path(path)
        if path.suffix not in (".parquet", ".csv"):
            raise ValueError(f"export path {path} must end in .parquet or .csv")
        df = self.observations().merge(
            self.devices()[["device_key", "identity"]].rename(columns={"identity": "device_identity"}),
            on="device_key", how="left",
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        df.to_parquet(tmp, index=False) if path.suffix == ".parquet" else df.to_csv(tmp, index=False)
        tmp.replace(path)
        return path
