"""Supernet training: Lightning module, sandwich-rule callback, schedule, evaluation, ``run(cfg)``.

Lightning is imported lazily: ``import hwgpt.training`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SupernetModule": "hwgpt.training.module",
    "SandwichCallback": "hwgpt.training.callbacks",
    "RankConsistency": "hwgpt.training.callbacks",
    "SubNetwork": "hwgpt.training.callbacks",
    "sandwich": "hwgpt.training.callbacks",
    "warmup_cosine": "hwgpt.training.schedule",
    "median_arch": "hwgpt.training.evaluate",
    "perplexities": "hwgpt.training.evaluate",
    "results_table": "hwgpt.training.evaluate",
    "run": "hwgpt.training.run",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
