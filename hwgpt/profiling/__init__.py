"""Hardware and quality measurements of architectures, recorded in a crash-safe SQLite store.

``python profile.py scale=tiny device=cpu metric=latency`` runs :func:`hwgpt.profiling.runner.run`;
read the results with ``Store(path).observations(scale=, device=, metric=)``.
"""

from __future__ import annotations

from hwgpt.profiling.base import Context, Metric
from hwgpt.profiling.device import DeviceNotFoundError, DeviceSpec
from hwgpt.profiling.runner import arch_set, run
from hwgpt.profiling.store import (
    Observation,
    Settings,
    Store,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    StoreSchemaError,
)

__all__ = [
    "Context",
    "DeviceNotFoundError",
    "DeviceSpec",
    "Metric",
    "Observation",
    "Settings",
    "Store",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreSchemaError",
    "arch_set",
    "run",
]
