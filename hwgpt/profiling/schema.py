"""The measurement store's schema: its tables, their version, and the records written to them.

:data:`_SCHEMA` creates the tables of a new store (``meta``, ``devices``, ``runs``, ``observations``,
``completed``), :data:`_CLAIMS` the ``claims`` table (added to older files of the same version on first
write); a store of another :data:`SCHEMA_VERSION` is refused. The records: :class:`Settings` (the
conditions an observation was made under, part of its key), :class:`Observation` (what a metric
returns), :class:`Claim` (what :meth:`hwgpt.profiling.store.Store.claim` returns) and
:func:`device_key`. Standard library only; :mod:`hwgpt.profiling.store` is the SQLite store itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from hashlib import sha1
from typing import Any

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

_CLAIMS = f"""
CREATE TABLE IF NOT EXISTS claims (
    arch_id TEXT NOT NULL, scale TEXT NOT NULL, device TEXT NOT NULL, task TEXT NOT NULL,
    batch INTEGER NOT NULL, seq_len INTEGER NOT NULL, dtype TEXT NOT NULL, threads INTEGER NOT NULL,
    owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (arch_id, scale, device, task, {", ".join(SETTINGS)}))
"""


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
class Claim:
    """The outcome of :meth:`Store.claim`.

    Attributes:
        archs: The architectures now claimed by the caller (measure these).
        n_complete: Of the scanned candidates, how many are complete already.
        n_held: Of the scanned candidates, how many are claimed by other live processes.
        complete: The scanned candidates that are complete (e.g. measured meanwhile by another process).
    """

    archs: list[Any]
    n_complete: int
    n_held: int
    complete: list[Any] = field(default_factory=list)


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
