"""Objectives of a search: which metric, measured on which device, minimised how, normalised how.

Every objective is minimised. ``accuracy`` is the one metric where larger is better: it enters
as the error ``1 - accuracy``; after min-max normalisation with bounds ``[lo, hi]`` (recorded in
raw accuracy units) that is ``(hi - accuracy) / (hi - lo)``. Hardware metrics (latency, energy,
memory) belong to a device: the run's ``device`` by default, or per objective through
``devices={name: device}`` or the ``metric@device`` form (the paper's 3-objective case:
``[perplexity, latency@rtx2080, energy@a6000]``). The other metrics do not depend on the device.

Device names are checked as names (:func:`hwgpt.names.check_name`: ASCII ``a-z 0-9 _ -``, no path
separators, no look-alike Unicode) before any file is touched; an entry holds at most one ``@``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hwgpt.errors import InvalidInput
from hwgpt.metrics import EXACT_METRICS, METRICS  # noqa: F401 - the one list of metric names, re-exported here
from hwgpt.names import check_name

HARDWARE_METRICS = ("latency", "energy", "memory")
MAXIMISED_METRICS = ("accuracy",)


@dataclass(frozen=True)
class Objective:
    """One objective of a search.

    Attributes:
        name: Key in results (the entry as written: ``latency`` or ``latency@a100``).
        metric: Benchmark metric name.
        device: Device of a hardware metric; ``None`` for device-independent metrics, or for the
            benchmark's default device when the run's ``device`` is ``None``.
    """

    name: str
    metric: str
    device: str | None = None

    @property
    def maximize(self) -> bool:
        """True for metrics where larger is better (they are minimised as ``hi - value``)."""
        return self.metric in MAXIMISED_METRICS

    @property
    def hardware(self) -> bool:
        return self.metric in HARDWARE_METRICS


def parse_objectives(
    objectives: Sequence[str], device: str | None = None, devices: Mapping[str, str] | None = None
) -> list[Objective]:
    """Objectives from their names; validates metric names, devices and duplicates.

    Args:
        objectives: Entries ``metric`` or ``metric@device``.
        device: Device of hardware metrics without an explicit one (``None``: the benchmark's default).
        devices: Per-objective device overrides ``{entry: device}`` (hardware metrics only).
    """
    if isinstance(objectives, str) or not isinstance(objectives, Sequence) or not objectives:
        raise InvalidInput(
            f"objectives must be a non-empty list of metric names from {list(METRICS)}, got {objectives!r}"
        )
    for entry in objectives:
        if not isinstance(entry, str):
            raise InvalidInput(f"objectives: {entry!r} ({type(entry).__name__}) is not a metric name; allowed: "
                               f"{list(METRICS)}, optionally as metric@device")
    if device is not None:
        check_name("device", device)
    devices = dict(devices or {})
    for key, dev in devices.items():
        if dev is None or not isinstance(dev, str):
            raise InvalidInput(f"devices.{key} must be a device name, got {dev!r}")
        check_name("device", dev)
    unknown = sorted(set(devices) - set(objectives))
    if unknown:
        raise InvalidInput(f"devices: {unknown} are not objectives; objectives are {list(objectives)}")
    parsed: list[Objective] = []
    for entry in objectives:
        metric, at, dev = entry.partition("@")
        if metric not in METRICS:
            raise InvalidInput(f"unknown objective metric {metric!r} (in {entry!r}); allowed: {list(METRICS)}")
        if at and not dev:
            raise InvalidInput(f"objective {entry!r} has no device after '@'; write {metric} or {metric}@<device>")
        if "@" in dev:
            raise InvalidInput(f"objective {entry!r} has more than one '@'; write {metric}@<device>")
        if dev:
            check_name("device", dev)
        if dev and entry in devices:
            raise InvalidInput(f"objective {entry!r} names its device twice (also devices.{entry}={devices[entry]!r})")
        dev = dev or devices.get(entry) or None
        if metric not in HARDWARE_METRICS:
            if dev is not None:
                raise InvalidInput(
                    f"objective {entry!r}: {metric} does not depend on the device; "
                    f"only {list(HARDWARE_METRICS)} take one"
                )
        else:
            dev = dev or device
        parsed.append(Objective(name=str(entry), metric=metric, device=dev))
    keys = [(o.metric, o.device) for o in parsed]
    if len(set(keys)) != len(keys) or len({o.name for o in parsed}) != len(parsed):
        raise InvalidInput(f"objectives contain duplicates: {list(objectives)}")
    return parsed


@dataclass(frozen=True)
class Normalization:
    """Min-max normalisation to minimised objectives in about ``[0, 1]``.

    Attributes:
        objectives: The objectives, in order.
        bounds: ``{name: (lo, hi)}`` in raw metric units.
    """

    objectives: tuple[Objective, ...]
    bounds: Mapping[str, tuple[float, float]]

    def __post_init__(self) -> None:
        for o in self.objectives:
            if o.name not in self.bounds:
                raise InvalidInput(f"normalization bounds lack objective {o.name!r}; they have {sorted(self.bounds)}")
            try:
                lo, hi = (float(x) for x in self.bounds[o.name])
            except (TypeError, ValueError) as e:
                raise InvalidInput(f"normalization bounds of {o.name!r} must be two numbers (lo, hi), got "
                                   f"{self.bounds[o.name]!r}") from e
            if not np.isfinite([lo, hi]).all() or hi <= lo:
                raise InvalidInput(f"normalization bounds of {o.name!r} must be finite with hi > lo, got {[lo, hi]}")

    def __call__(self, values: Mapping[str, float | np.ndarray]) -> np.ndarray:
        """Raw ``{name: value(s)}`` -> minimised, normalised array (``(m,)`` or ``(n, m)``)."""
        cols = []
        for o in self.objectives:
            lo, hi = self.bounds[o.name]
            if o.name not in values:
                raise InvalidInput(f"normalization: no value of objective {o.name!r} (got {sorted(values)})")
            try:
                v = np.asarray(values[o.name], dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise InvalidInput(f"normalization: {o.name} must be numbers, got {values[o.name]!r}") from e
            if not np.isfinite(v).all():
                raise InvalidInput(f"normalization: {o.name} holds a non-finite value ({v[~np.isfinite(v)][:3]}); "
                                   "objective values must be finite numbers")
            cols.append((hi - v) / (hi - lo) if o.maximize else (v - lo) / (hi - lo))
        return np.stack(cols, axis=-1)

    def to_dict(self) -> dict[str, list[float]]:
        return {o.name: [float(self.bounds[o.name][0]), float(self.bounds[o.name][1])] for o in self.objectives}
