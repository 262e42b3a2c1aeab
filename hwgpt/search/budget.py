"""One hardware budget, ``metric[@device] <= budget`` (:class:`Constraint`), and how budgets are written
(:func:`parse_constraints`: ``constraints={latency:0.015}``, ``{memory@a100:1e9,params:2e8}``).

How a search uses them (feasibility during the search, the probability of feasibility in the answer, each
optimizer's handling) is :mod:`hwgpt.search.constraints`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hwgpt.errors import InvalidInput
from hwgpt.search.objectives import HARDWARE_METRICS, MAXIMISED_METRICS, METRICS

__all__ = ["BUDGET_METRICS", "PREFIX", "Constraint", "parse_constraints"]

BUDGET_METRICS = tuple(m for m in METRICS if m not in MAXIMISED_METRICS)
"""Metrics a budget (an upper bound) can be put on; accuracy is maximised (a cap on it makes no sense)."""

PREFIX = "constraint:"
"""Key prefix of a budget's observed value in an evaluation's raw dict (apart from the objectives)."""


@dataclass(frozen=True)
class Constraint:
    """One budget ``metric[@device] <= budget``.

    Attributes:
        name: The key as written (``latency``, ``memory@a100``, ``params``).
        metric: Benchmark metric.
        budget: Upper bound in the benchmark's units (seconds, joules, bytes, count, perplexity).
        device: Device of a hardware metric (``None``: the run's device, or device-independent).
    """

    name: str
    metric: str
    budget: float
    device: str | None = None

    @property
    def hardware(self) -> bool:
        return self.metric in HARDWARE_METRICS

    @property
    def key(self) -> str:
        """Key of its observed value in an evaluation's raw dict."""
        return PREFIX + self.name

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "device": self.device, "budget": self.budget}


def _budget(name: str, value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise InvalidInput(f"budget of {name!r} must be a positive number, got {value!r}")
    try:
        b = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"budget of {name!r} must be a positive number (e.g. {name}:0.015 or {name}:2e8), "
                           f"got {value!r}") from None
    if not math.isfinite(b) or b <= 0:
        raise InvalidInput(f"budget of {name!r} must be a positive, finite number, got {value!r}")
    return b


def parse_constraints(value: Any, device: str | None = None) -> list[Constraint]:
    """Budgets from a mapping ``{metric[@device]: budget}`` or the string ``metric:budget[,metric:budget]``.

    Args:
        value: ``None``/empty (no budgets), a mapping, or the string a shell leaves of
            ``constraints={...}`` (``search.py`` joins brace-expanded pieces back).
        device: Device of hardware budgets without ``@device`` (the run's device).

    Raises:
        InvalidInput: unknown metric, accuracy, a device on a device-independent metric, a
            non-numeric, NaN, infinite, zero or negative budget, or a metric twice.
    """
    if value is None or (isinstance(value, (str, Mapping)) and not value):
        return []
    if isinstance(value, str):
        pairs = [p.rpartition(":") for p in value.strip("{}").split(",") if p]
        if any(not k or not sep for k, sep, _ in pairs):
            raise InvalidInput(f"constraints must map metrics to budgets, e.g. constraints={{latency:0.015}} or "
                               f"constraints={{memory@a100:1e9,params:2e8}}, got {value!r}")
        items = [(k, v) for k, _, v in pairs]
    elif isinstance(value, Mapping):
        items = [(str(k), v) for k, v in value.items()]
    else:
        raise InvalidInput(f"constraints must map metrics to budgets, e.g. constraints={{latency:0.015}}, "
                           f"got {value!r}")
    out: list[Constraint] = []
    for name, raw in items:
        metric, at, dev = name.partition("@")
        if metric not in METRICS:
            raise InvalidInput(f"constraints: unknown metric {metric!r} (in {name!r}); budgets can be put on "
                               f"{list(BUDGET_METRICS)} (hardware ones as metric@device)")
        if metric in MAXIMISED_METRICS:
            raise InvalidInput(f"constraints: {metric!r} is maximised and a budget is an upper bound; budgets can "
                               f"be put on {list(BUDGET_METRICS)} (for quality use perplexity, e.g. perplexity:40)")
        if at and not dev:
            raise InvalidInput(f"constraints: {name!r}: '@' must be followed by a device")
        if dev and metric not in HARDWARE_METRICS:
            raise InvalidInput(f"constraints: {name!r}: {metric} does not depend on the device; only "
                               f"{list(HARDWARE_METRICS)} take one")
        budget = _budget(name, raw)
        dev = (dev or device or None) if metric in HARDWARE_METRICS else None
        out.append(Constraint(name=name, metric=metric, budget=budget, device=dev))
    keys = [(c.metric, c.device) for c in out]
    if len(set(keys)) != len(keys):
        raise InvalidInput(f"constraints: a metric has two budgets on the same device: {[c.name for c in out]}")
    return out
