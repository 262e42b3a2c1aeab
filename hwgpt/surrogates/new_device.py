"""``python profile.py scale=<scale> device=local metric=latency n_archs=20 repeats=5 fit=true``.

The profiling runner calls :func:`before_profiling` first (checks the request, warns when this
machine differs from the device a surrogate of that name describes, and picks the design of
archs) and :func:`after_profiling` last (fits the new device's surrogates by transfer from the
shipped devices, into ``$HWGPT_HOME/surrogates/<scale>/<device>/``). Everything else about
measuring (the store, resuming, Ctrl-C) is the runner's. Measurements made on another machine
go through the sibling :mod:`hwgpt.surrogates.from_file` (same transfer and calibration).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from hwgpt.profiling import device as devices
from hwgpt.search_space import Arch, SearchSpace
from hwgpt.surrogates import artifacts, userdirs

log = logging.getLogger(__name__)

HARDWARE = ("latency", "energy", "memory")


def shipped_devices() -> set[str]:
    """Device names the project ships: its device configs (but ``local``) and its surrogates' devices."""
    names = set(devices.known_devices()) - {"local"}
    for devs in artifacts.available(str(artifacts.package_root())).values():
        names |= set(devs)
    return names


def _settings(cfg: Any) -> Any:
    from hwgpt.surrogates.transfer import TransferSettings

    t = dict(cfg.get("transfer") or {})
    return TransferSettings(method=str(t.get("method", "auto")), folds=int(t.get("folds", 20)),
                            seed=int(cfg.get("seed", 0)))


def _recorded_identity(scale: str, device: str, metric: str) -> dict[str, Any] | None:
    try:
        return artifacts.read_meta(scale, device, metric).get("report", {}).get("device")
    except (artifacts.ArtifactError, ValueError):
        return None


def warn_if_other_machine(scale: str, spec: devices.DeviceSpec, metrics: list[str], threads: int = 1) -> list[str]:
    """One warning per surrogate of ``spec.name`` at ``scale`` whose recorded device differs from this machine.

    Only for "this machine" devices (no ``match``: ``cpu``, ``local``, a user's name), which a live
    measurement, ``evaluator=live`` or ``device=local`` compares with the surrogate of that name.
    Returns the warnings.
    """
    if spec.match is not None:
        return []
    here = devices.this_machine(spec.kind, threads)
    out = []
    for m in metrics:
        recorded = _recorded_identity(scale, spec.name, m)
        msg = devices.warn_if_different(recorded, here, f"surrogate {scale}/{spec.name}/{m}")
        if msg:
            out.append(msg)
    return out


def before_profiling(cfg: Any, space: SearchSpace, spec: devices.DeviceSpec, outputs: list[str]) -> list[Arch] | None:
    """Checks before anything is measured; returns the design of archs when ``fit=true`` (else None).

    Raises:
        ValueError: ``fit=true`` with fewer archs than the transfer needs (naming the minimum), a
            device name the project ships without ``overwrite=true``, or a metric that cannot be fitted.
    """
    warn_if_other_machine(space.name, spec, outputs, int(cfg.get("threads", 1)))
    if not cfg.get("fit"):
        return None
    from hwgpt.surrogates import transfer

    artifacts.check_name("device", spec.name)
    if bad := [m for m in outputs if m not in HARDWARE]:
        raise ValueError(f"fit=true fits hardware metrics {list(HARDWARE)}; metric={'+'.join(outputs)} "
                         f"measures {bad}. Use metric=latency (or energy, memory)")
    if spec.name in shipped_devices() and not cfg.get("overwrite"):
        raise ValueError(f"device={spec.name} names a device the project ships; fitting a surrogate under that name "
                         f"would replace it for every query. Use device=local or a name of your own "
                         f"(device=my_laptop), or pass overwrite=true")
    settings = _settings(cfg)
    n_sources = min((len(transfer.shipped_sources(space.name, m, (spec.name,))) for m in outputs), default=0)
    need = transfer.min_archs(settings.method, n_sources)
    n = int(cfg.n_archs) + 2  # the design adds the smallest and the largest
    if n < need:
        raise ValueError(f"fit=true with transfer method {settings.method!r} needs at least {need} archs; "
                         f"n_archs={cfg.n_archs} measures {n} (the smallest and largest are added). "
                         f"Use n_archs>={need - 2}")
    if int(cfg.get("repeats", 1)) < 2:
        log.warning("repeats=%s: the interval's measurement noise is then estimated from single observations",
                    cfg.get("repeats"))
    return transfer.design(space, int(cfg.n_archs), int(cfg.seed))


def after_profiling(cfg: Any, summary: dict[str, Any], space: SearchSpace, spec: devices.DeviceSpec,
                    outputs: list[str]) -> dict[str, Any] | None:
    """Fit ``outputs`` of the new device from the store's complete archs (``fit=true``); None otherwise.

    Returns:
        ``{"dir": ..., "seconds": ..., "metrics": {metric: report summary}}`` (also logged).
    """
    if not cfg.get("fit"):
        return None
    from hwgpt.profiling.store import Store
    from hwgpt.surrogates import transfer
    from hwgpt.surrogates.fit import device_identity, file_sha256

    t0 = time.perf_counter()
    if summary.get("stopped_early"):
        log.warning("the measurement stopped early (max_seconds): fitting on the complete archs only; rerun the same "
                    "command to measure the rest and refit")
    store_path = Path(str(summary["store"]))
    with Store(store_path) as store:
        df = store.observations(scale=space.name, device=spec.name)
        identity = device_identity(store.devices(), df, spec.name)
    out_dir = Path(str(cfg.fit_dir)).expanduser() if cfg.get("fit_dir") else userdirs.user_root()
    settings = _settings(cfg)
    reports: dict[str, Any] = {}
    for m in outputs:
        sources = transfer.shipped_sources(space.name, m, (spec.name,))
        if not sources:
            log.warning("no shipped device has a %s surrogate at scale %s: fitting %s from scratch on its own archs "
                        "(no transfer; expect wider intervals)", m, space.name, spec.name)
        res = transfer.fit_transfer(df, space, m, spec.name, sources, settings, identity, file_sha256(store_path))
        path = artifacts.save(res.surrogate, out_dir)
        r = res.report
        reports[m] = {"path": str(path), "method": r["method"], "sources": r["sources"],
                      "n_archs": r["n_archs_train"], "kendall_tau": r["kendall_tau"],
                      "median_relative_error": r["median_relative_error"], "coverage_0.9": r["coverage"].get("0.9"),
                      "unadapted": r["unadapted"]}
    seconds = time.perf_counter() - t0
    log.info("fitted %s for %s at %s in %.1f s into %s; query it with hwgpt.Benchmark(%r, device=%r) or "
             "`python search.py scale=%s device=%s`", list(reports), spec.name, space.name, seconds,
             out_dir / space.name / spec.name, space.name, spec.name, space.name, spec.name)
    return {"dir": str(out_dir / space.name / spec.name), "seconds": seconds, "metrics": reports}
