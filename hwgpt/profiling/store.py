"""Crash-safe SQLite store of profiling observations (standard library ``sqlite3``).

One row per observation in ``observations``; an architecture's observations of one metric
under one setting are written in a single transaction together with its row in
``completed``. So a SIGKILL at any moment loses at most the architectures in flight and never
leaves a partial one, a rerun skips what ``completed`` lists, and two processes writing the
same file (``BEGIN IMMEDIATE`` + ``busy_timeout`` + UNIQUE keys) never duplicate rows.

The journal is SQLite's default rollback journal (not WAL): it works on network file
systems and read-only copies, and writes here are small and rare (one per architecture).

Tables: ``meta`` (schema_version), ``devices`` (identity JSON), ``runs`` (config, versions),
``observations``, ``completed``, ``claims`` (defined, with the records written to them, in
:mod:`hwgpt.profiling.schema`). Another schema version, a corrupt file or a file that
is not a store raise :class:`StoreError` subclasses before anything is written.

**Claims.** Concurrent profilers share the work through ``claims``: a process claims a few
architectures (:meth:`Store.claim`) before measuring them, with a lease it renews while it works
(:meth:`Store.renew_claims`). Another process skips architectures claimed by a live owner. A claim
whose lease expired, or whose owner process is gone (same host, pid no longer running), goes back to
the pool, so a killed profiler's architectures are measured by the next claimant. Claims only
decide who works on what: the no-duplicates guarantee stays with ``completed`` (checked inside the
writing transaction). The table is added to older files of the same schema version on first write.

**Read-only stores.** A file (or directory) this process cannot write to, an immutable file, or
``readonly=True`` opens the store read-only (SQLite ``mode=ro``): reading, export and fitting work;
any write raises :class:`StoreReadOnlyError`, naming the path and what to do.

Length: one class, :class:`Store` (about 450 lines): opening and checking a file, transactions and the
mapping of SQLite's failures to one clear :class:`StoreError`, writing, claims and reading all share one
connection and its lock handling, so they stay together; the schema and records are a module of their
own (:mod:`hwgpt.profiling.schema`).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from hwgpt.errors import InvalidInput, StoreError
from hwgpt.profiling.schema import (
    _CLAIMS,
    _SCHEMA,
    OBS_COLUMNS,
    SCHEMA_VERSION,
    SETTINGS,
    Claim,
    Observation,
    Settings,
    device_key,
)

log = logging.getLogger(__name__)

# The tables and records are in hwgpt.profiling.schema; importable from here as before.
__all__ = ["OBS_COLUMNS", "SCHEMA_VERSION", "SETTINGS", "Claim", "Observation", "Settings", "Store",
           "StoreCorruptError", "StoreError", "StoreFullError", "StoreLockedError", "StoreMissingError",
           "StoreReadOnlyError", "StoreSchemaError", "device_key"]


class StoreLockedError(StoreError):
    """Another process held the write lock for longer than the timeout."""


class StoreCorruptError(StoreError):
    """The file is not a readable SQLite database, or fails SQLite's integrity check."""


class StoreSchemaError(StoreError):
    """The file is a store of another schema version, or not an hwgpt store at all."""


class StoreReadOnlyError(StoreError):
    """A write to a store opened read-only (file, directory or medium not writable)."""


class StoreFullError(StoreError):
    """The disk (or quota) is full: the write was rolled back, everything committed before is kept."""


class StoreMissingError(StoreError, FileNotFoundError):
    """No store at the path (and ``create`` was not asked for); also a ``FileNotFoundError``."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child that was not reaped yet is a zombie: gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _unwritable_reason(path: Path) -> str | None:
    """Why this process cannot write ``path`` (an existing file) and its journal, or None."""
    if not os.access(path, os.W_OK):
        return "the file is not writable by this user (or is immutable)"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"its directory {path.parent} is not writable (SQLite writes its journal there)"
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


CLAIM_WINDOW = 512
"""Candidates :meth:`Store.claim` checks per query (an SQL ``IN`` list; SQLite allows 999 parameters)."""


class Store:
    """A measurement store file.

    Args:
        path: The SQLite file.
        create: Create the file (and its schema) when it does not exist; otherwise a missing
            file raises FileNotFoundError.
        timeout: Seconds to wait for another process's write lock (SQLite busy timeout).
        check: Run SQLite's ``quick_check`` when opening.
        readonly: ``True``: open read-only; ``None`` (default): read-only exactly when this
            process cannot write the file or its directory; ``False``: refuse to open such a
            file (:class:`StoreReadOnlyError`).

    Raises:
        StoreCorruptError, StoreSchemaError, StoreLockedError, StoreReadOnlyError: see the classes;
        StoreError: the file cannot be created where asked.
    """

    def __init__(
        self, path: Path | str, *, create: bool = False, timeout: float = 60.0, check: bool = True,
        readonly: bool | None = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise InvalidInput(f"store path must be a file path, got {path!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise InvalidInput(f"store timeout must be a number of seconds > 0, got {timeout!r}")
        self.path = Path(path).expanduser()
        self.timeout = float(timeout)
        self.readonly_reason: str | None = None
        if not self.path.exists():
            if not create:
                raise StoreMissingError(
                    f"no measurement store at {self.path}; measurements are written by "
                    f"`python profile.py ... store={self.path}`"
                )
            if readonly:
                raise StoreReadOnlyError(f"no measurement store at {self.path} to open read-only")
            self._make_parent()
        elif self.path.is_dir():
            raise StoreSchemaError(f"store path {self.path} is a directory, expected an SQLite file")
        else:
            reason = "opened with readonly=True" if readonly else _unwritable_reason(self.path)
            if reason is not None and readonly is False:
                raise StoreReadOnlyError(f"store {self.path} cannot be written: {reason}; "
                                         "pass store=<a writable path> (or copy the file there)")
            self.readonly_reason = reason
        try:
            if self.readonly:
                uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}?mode=ro"
                self._conn = sqlite3.connect(uri, timeout=timeout, isolation_level=None, uri=True)
            else:
                self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open store {self.path} ({e}); check the path and its permissions") from e
        try:
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._open(check)
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ opening
    @property
    def readonly(self) -> bool:
        """Whether this store was opened read-only (see :attr:`readonly_reason`)."""
        return self.readonly_reason is not None

    def _make_parent(self) -> None:
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the store {self.path}: its directory {parent} cannot be created "
                             f"({e.strerror or e}); pass store=<a path in a writable directory>") from e
        if not os.access(parent, os.W_OK | os.X_OK):
            raise StoreError(f"cannot create the store {self.path}: directory {parent} is not writable; "
                             "pass store=<a path in a writable directory>")

    def _require_writable(self, what: str) -> None:
        if self.readonly:
            raise StoreReadOnlyError(
                f"store {self.path} is read-only ({self.readonly_reason}); cannot {what}, nothing was written. "
                "Reading, export and fitting work as is; to add measurements, copy the file to a writable "
                "place and pass store=<the copy>"
            )

    def _open(self, check: bool) -> None:
        self._has_claims = False
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
            if self.readonly:
                raise StoreSchemaError(f"{self.path} is an empty file opened read-only, not a measurement store "
                                       f"({self.readonly_reason})")
            with self.transaction():
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._conn.execute(statement)
                self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (_now(),))
                self._ensure_claims(self._conn)
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
        self._has_claims = "claims" in tables

    def _ensure_claims(self, c: sqlite3.Connection) -> None:
        if not self._has_claims:
            c.execute(_CLAIMS)
            self._has_claims = True

    def _raise_locked(self, e: sqlite3.OperationalError) -> None:
        if "locked" in str(e) or "busy" in str(e):
            raise StoreLockedError(
                f"{self.path} stayed locked by another process for more than {self.timeout:.0f} s ({e}); "
                "nothing was written. Retry, or raise store_timeout"
            ) from e
        if "full" in str(e) or "disk I/O error" in str(e):
            raise StoreFullError(
                f"store {self.path} cannot be written: {e} (disk or quota full); the unfinished write was rolled "
                "back and everything committed before is kept. Free some space (or pass store=<a path on another "
                "disk>) and rerun the same command to resume"
            ) from e
        if "readonly" in str(e) or "read-only" in str(e) or "unable to open" in str(e):
            raise StoreReadOnlyError(
                f"store {self.path} cannot be written ({e}): the file, its directory or the medium is read-only; "
                "nothing was written. Pass store=<a writable path> (copy the file there to keep its measurements)"
            ) from e

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception, Ctrl-C included)."""
        self._require_writable("write")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            self._raise_locked(e)
            raise
        try:
            yield self._conn
        except BaseException as e:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.OperationalError):
                self._raise_locked(e)  # disk full, read-only, locked: one clear StoreError
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
        owner: str | None = None,
    ) -> list[str]:
        """Write all observations of one architecture in one transaction.

        Metrics already completed for this architecture and settings (by another process, or
        an earlier run) are skipped. ``owner``'s claims on the architecture are released in the
        same transaction. Returns the metric names written.
        """
        self._require_writable("write observations")
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
            if owner is not None and self._has_claims:
                c.execute(f"DELETE FROM claims WHERE owner=? AND arch_id=? AND scale=? AND device=? AND "
                          f"{' AND '.join(f'{k}=?' for k in SETTINGS)}", (owner, *key, *settings.as_tuple()))
        return written

    # ------------------------------------------------------------------ claims
    @staticmethod
    def task_key(metrics: Sequence[str]) -> str:
        """The claim key of a set of metrics measured together."""
        return ",".join(sorted(metrics))

    def claim(
        self, archs: Iterable[Any], *, scale: str, device: str, metrics: Sequence[str], settings: Settings,
        owner: str, lease: float, limit: int,
    ) -> Claim:
        """Claim up to ``limit`` of ``archs`` (in order) that are neither complete nor held by a live owner.

        Stale claims (lease expired, or owner process gone on this host) are dropped first. The
        caller's own claims count as free (it may re-claim). One transaction. The candidates are
        scanned in order, :data:`CLAIM_WINDOW` at a time, until ``limit`` are claimed: a claim costs
        the scanned prefix, not the whole list or the whole store (the counts in the result are of
        that prefix: of every candidate when fewer than ``limit`` were free).

        Args:
            archs: Candidate architectures (``.id``), in the order to measure them (any iterable).
            metrics: The metrics measured together (an architecture is complete when all are).
            owner: A unique id of the claiming process (e.g. its run id).
            lease: Seconds the claims stay valid without :meth:`renew_claims`.
            limit: Most architectures to claim.
        """
        self._require_writable("claim architectures")
        task, now, host, pid = self.task_key(metrics), time.time(), socket.gethostname(), os.getpid()
        where = "scale=? AND device=? AND " + " AND ".join(f"{k}=?" for k in SETTINGS)
        params = (scale, device, *settings.as_tuple())
        with self.transaction() as c:
            self._ensure_claims(c)
            rows = c.execute(f"SELECT arch_id, owner, host, pid, expires_at FROM claims WHERE task=? AND {where}",
                             (task, *params)).fetchall()
            stale = [r[0] for r in rows if r[4] < now or (r[2] == host and r[1] != owner and not _pid_alive(r[3]))]
            if stale:
                c.executemany(f"DELETE FROM claims WHERE arch_id=? AND task=? AND {where}",
                              [(a, task, *params) for a in stale])
            held = {r[0] for r in rows if r[1] != owner} - set(stale)
            limit = max(0, int(limit))
            picked: list[Any] = []
            complete: list[Any] = []
            n_held = 0
            candidates = iter(archs)
            while len(picked) < limit and (window := list(itertools.islice(candidates, CLAIM_WINDOW))):
                marks = ",".join("?" * len(window))
                ids = [a.id for a in window]
                sets = [{r[0] for r in c.execute(
                    f"SELECT arch_id FROM completed WHERE metric=? AND {where} AND arch_id IN ({marks})",
                    (m, *params, *ids))} for m in metrics]
                done = set.intersection(*sets) if sets else set()
                for a in window:
                    if a.id in done:
                        complete.append(a)
                    elif a.id in held:
                        n_held += 1
                    elif len(picked) < limit:
                        picked.append(a)
            expires = now + float(lease)
            c.executemany(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.id, scale, device, task, *settings.as_tuple(), owner, host, pid, expires) for a in picked],
            )
        return Claim(picked, len(complete), n_held, complete)

    def renew_claims(self, owner: str, lease: float) -> int:
        """Extend every claim of ``owner`` to ``lease`` seconds from now; returns how many."""
        if not self._has_claims:
            return 0
        with self.transaction() as c:
            return c.execute("UPDATE claims SET expires_at=? WHERE owner=?", (time.time() + lease, owner)).rowcount

    def release_claims(self, owner: str) -> int:
        """Drop every claim of ``owner`` (at the end of a run, or when it is interrupted)."""
        if self.readonly or not self._has_claims:
            return 0
        with self.transaction() as c:
            return c.execute("DELETE FROM claims WHERE owner=?", (owner,)).rowcount

    def claims(self) -> pd.DataFrame:
        """The claims table (empty when no profiler ever claimed): one row per claimed architecture."""
        if not self._has_claims:
            return pd.DataFrame(columns=["arch_id", "scale", "device", "task", *SETTINGS, "owner", "host", "pid",
                                         "expires_at"])
        return self._query("SELECT * FROM claims")

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

        Returns the number of ``completed`` entries copied. ``other`` is only read (opened read-only,
        so an empty or foreign file is refused, never turned into a store).

        Raises:
            InvalidInput: ``other`` is this store itself.
            StoreError: ``other`` is missing, corrupt, of another schema, or not a store.
        """
        self._require_writable("merge another store into it")
        if not isinstance(other, (str, os.PathLike)) or not str(other):
            raise InvalidInput(f"store to merge must be a file path, got {other!r}")
        src = Path(other).expanduser()
        if src.exists() and (src.resolve() == self.path.resolve() or os.path.samefile(src, self.path)):
            raise InvalidInput(f"cannot merge the store {self.path} into itself (it already holds everything)")
        Store(src, timeout=self.timeout, readonly=True).close()  # schema / corruption checks, clear errors
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
            raise InvalidInput(f"export path {path} must end in .parquet or .csv")
        df = self.observations().merge(
            self.devices()[["device_key", "identity"]].rename(columns={"identity": "device_identity"}),
            on="device_key", how="left",
        )
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            df.to_parquet(tmp, index=False) if path.suffix == ".parquet" else df.to_csv(tmp, index=False)
            tmp.replace(path)
        except OSError as e:
            raise StoreError(f"cannot write the export {path} ({e.strerror or e}); pass a path in a writable "
                             "directory") from e
        return path
