"""The search's config (conf/search.yaml composed): read and checked before any work.

:func:`resolve_scale` fills in the scale a run's device defaults to, :func:`resolve_config` turns missing keys
and interpolations that do not resolve into one clear error, :func:`check_config` checks every value that needs
no benchmark (with what is allowed), and :func:`budget_seconds`, :func:`max_evals` and :func:`protocol` read the
budgets and the measurement protocol. :mod:`hwgpt.search.runner` runs the search on what they return.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from hwgpt.errors import InvalidInput, check_int
from hwgpt.search_space import SearchSpace
from hwgpt.simulation.protocol import MeasurementProtocol

log = logging.getLogger(__name__)

__all__ = ["DUPLICATES", "MAX_EVALS", "budget_seconds", "check_config", "max_evals", "parse_devices", "protocol",
           "resolve_config", "resolve_scale"]

DUPLICATES = ("reuse", "remeasure")
MAX_EVALS = 1_000_000
"""Cap on ``n_evals`` and ``budget.max_evals`` (also capped by the number of architectures of the space)."""
MAX_NORMALIZATION_ARCHS = 1_000_000
MAX_THREADS = 4096
REQUIRED_KEYS = ("objectives", "n_evals", "seed", "noise", "reference_point", "normalization", "optimizer",
                 "device", "benchmark", "paths")


def check_config(cfg: DictConfig) -> None:
    """Config errors that need no benchmark, with what is allowed."""
    n = cfg.n_evals
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise InvalidInput(f"n_evals must be a positive int, got {n!r}")
    most = max_evals(cfg)
    if n > most:
        raise InvalidInput(f"n_evals must be <= {most} ({_cap_reason(cfg, most)}), got {n}")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise InvalidInput(f"seed must be a non-negative int, got {cfg.seed!r}")
    if not isinstance(cfg.noise, bool):
        raise InvalidInput(f"noise must be true or false, got {cfg.noise!r}")
    ref = cfg.reference_point
    if isinstance(ref, bool) or not isinstance(ref, (int, float)) or not np.isfinite(ref) or ref <= 0:
        raise InvalidInput(f"reference_point must be a positive number, finite (normalised units, e.g. 1.1), "
                           f"got {ref!r}")
    threads = cfg.get("threads")
    if threads is not None:
        check_int("threads", threads, min=1, max=MAX_THREADS)
    check_int("normalization.n_archs", cfg.normalization.n_archs, min=1, max=MAX_NORMALIZATION_ARCHS)
    check_int("normalization.seed", cfg.normalization.seed, min=0, max=2**63 - 1)
    if "searcher" not in cfg.optimizer and "scheduler" not in cfg.optimizer:
        raise InvalidInput(f"optimizer config {cfg.optimizer.get('name')!r} has no 'searcher' (or 'scheduler') node")
    dup = cfg.get("duplicates", "reuse")
    if dup not in DUPLICATES:
        raise InvalidInput(f"duplicates must be one of {list(DUPLICATES)}, got {dup!r}")
    if not isinstance(cfg.get("resume", False), bool):
        raise InvalidInput(f"resume must be true or false, got {cfg.get('resume')!r}")
    budget_seconds(cfg)
    protocol(cfg)


def budget_seconds(cfg: DictConfig) -> float | None:
    """``budget.simulated_hours`` in seconds (None: no time budget); must be positive."""
    hours = (cfg.get("budget") or {}).get("simulated_hours")
    if hours is None:
        return None
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not np.isfinite(hours) or hours <= 0:
        raise InvalidInput(f"budget.simulated_hours must be a positive number of hours (or null for none), "
                           f"got {hours!r}")
    most = cfg.budget.get("max_evals", 100_000)
    if isinstance(most, bool) or not isinstance(most, int) or most <= 0:
        raise InvalidInput(f"budget.max_evals must be a positive int, got {most!r}")
    cap = max_evals(cfg)
    if most > cap:
        raise InvalidInput(f"budget.max_evals must be <= {cap} ({_cap_reason(cfg, cap)}), got {most}")
    return float(hours) * 3600.0


def _cap_reason(cfg: DictConfig, cap: int) -> str:
    if cap < MAX_EVALS:
        return f"the number of distinct architectures of scale {OmegaConf.select(cfg, 'scale.name', default='tiny')}"
    return "the cap on evaluations of one run, hwgpt.search.config.MAX_EVALS"


def max_evals(cfg: DictConfig) -> int:
    """The most evaluations a run may ask for: :data:`MAX_EVALS`, or the number of distinct
    architectures of the scale's space if smaller."""
    scale = OmegaConf.select(cfg, "scale.name", default=None) or "tiny"
    return min(MAX_EVALS, SearchSpace.from_name(scale).size)


def protocol(cfg: DictConfig) -> MeasurementProtocol:
    """The measurement protocol of ``cfg.simulation`` (defaults where absent)."""
    sim = dict(cfg.get("simulation") or {})
    unknown = set(sim) - set(MeasurementProtocol.__dataclass_fields__)
    if unknown:
        raise InvalidInput(f"simulation: unknown keys {sorted(unknown)}; allowed: "
                           f"{sorted(MeasurementProtocol.__dataclass_fields__)}")
    return MeasurementProtocol(**sim)


def resolve_scale(cfg: DictConfig) -> str:
    """The scale: ``scale=<name>`` if given, else the device config's ``default_scale`` (else tiny).

    conf/search.yaml selects no scale by default; the paper's devices name the paper's S scale
    (conf/device/<gpu>.yaml ``default_scale: s``), this machine's ``cpu`` names tiny. The
    resolved name is written into ``cfg.scale.name``, which the optimizer configs interpolate.
    """
    scale = OmegaConf.select(cfg, "scale.name", default=None)
    if scale is None:
        scale = OmegaConf.select(cfg, "device.default_scale", default=None) or "tiny"
        with open_dict(cfg):
            cfg.scale = {"name": scale}
        log.info("no scale given: %s, the default of device %s", scale, OmegaConf.select(cfg, "device.name"))
    return scale


def parse_devices(value: Any) -> dict[str, str]:
    """``devices``: a mapping, or the string ``metric:device[,metric:device]`` (what a shell leaves of a
    brace-expanded ``devices={...}``)."""
    if value is None:
        return {}
    if isinstance(value, str):
        pairs = [p.partition(":") for p in value.split(",") if p]
        if not pairs or any(not k or not v for k, _, v in pairs):
            raise InvalidInput(f"devices must map objectives to devices, e.g. devices={{latency:rtx2080,energy:a6000}}"
                               f" (quote it in the shell), got {value!r}")
        return {k: v for k, _, v in pairs}
    try:
        pairs = dict(value).items()
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"devices must map objectives to devices, e.g. devices={{latency:rtx2080}}, "
                           f"got {value!r}") from e
    for k, v in pairs:
        if not isinstance(v, str):
            raise InvalidInput(f"devices.{k} must be a device name, got {v!r}")
    try:
        return {str(k): v for k, v in pairs}
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"devices must map objectives to devices, e.g. devices={{latency:rtx2080}}, "
                           f"got {value!r}") from e


def resolve_config(cfg: DictConfig) -> None:
    """Missing keys (``~objectives``) and interpolations that do not resolve
    (``n_evals=${oc.env:NOT_SET}``) as one clear error, before any work."""
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise InvalidInput(f"the config lacks {missing} (removed with ~key?); conf/search.yaml sets them, "
                           "e.g. objectives=[perplexity,latency]")
    for key in cfg:
        if key == "hydra":
            continue
        try:
            OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
        except OmegaConfBaseException as e:
            if "HydraConfig was not set" in str(e):  # ${hydra:...} outside a Hydra app: resolved later, if used
                continue
            msg = str(e).splitlines()[0]
            raise InvalidInput(f"config key {key!r} does not resolve: {msg}") from e
