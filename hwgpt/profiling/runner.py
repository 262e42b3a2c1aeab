"""``run(cfg)``: profile a fixed set of architectures of one scale on one device into the store.

Called by ``profile.py`` (Hydra). The architecture set is :func:`arch_set` — identical for
every device and metric, so tables join on ``arch_id``. Architectures already complete in the
store (same scale, device, metric and settings) are skipped, so an interrupted or killed run
resumes where it stopped; chunks are re-checked before measuring, so concurrent processes
share the work without writing duplicates.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from hwgpt.profiling import device as devices
from hwgpt.profiling.base import Context, Metric, parse_dtype
from hwgpt.profiling.store import Settings, Store
from hwgpt.search_space import Arch, SearchSpace

log = logging.getLogger(__name__)


def arch_set(space: SearchSpace, n_archs: int, seed: int = 0) -> list[Arch]:
    """Smallest, largest, then ``space.sample_unique(n_archs, seed)`` (duplicates dropped).

    A prefix property holds: the set for ``n`` is a prefix of the set for any ``m > n``.
    """
    if n_archs < 0:
        raise ValueError(f"n_archs must be >= 0, got {n_archs}")
    archs: dict[str, Arch] = {a.id: a for a in (space.smallest(), space.largest())}
    for a in space.sample_unique(n_archs, seed):
        archs.setdefault(a.id, a)
    return list(archs.values())


def _chunks(items: Sequence[Arch], size: int) -> list[list[Arch]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _config_dict(cfg: DictConfig) -> dict[str, Any]:
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - hydra:... resolvers outside a Hydra run
        return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


def settings_from_cfg(cfg: DictConfig, space: SearchSpace) -> Settings:
    """Validated run settings; sets torch's thread count to ``cfg.threads``."""
    seq_len = space.block_size if cfg.get("seq_len") is None else int(cfg.seq_len)
    if int(cfg.batch) < 1 or not 1 <= seq_len <= space.block_size:
        raise ValueError(f"need batch >= 1 and 1 <= seq_len <= {space.block_size} (scale {space.name}); "
                         f"got batch={cfg.batch}, seq_len={seq_len}")
    parse_dtype(cfg.dtype)
    threads = int(cfg.threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    return Settings(int(cfg.batch), seq_len, str(cfg.dtype), torch.get_num_threads())


def _done(store: Store, scale: str, device: str, outputs: Sequence[str], settings: Settings) -> set[str]:
    sets = [store.completed(scale, device, m, settings) for m in outputs]
    return set.intersection(*sets) if sets else set()


def run(cfg: DictConfig) -> dict[str, Any]:
    """Profile ``cfg.n_archs`` (+ smallest, largest) architectures of ``cfg.scale`` on ``cfg.device``.

    Args:
        cfg: The composed ``conf/profile.yaml``: ``scale``, ``device``, ``metric`` (a
            ``_target_`` Metric), ``n_archs``, ``seed``, ``store``, ``batch``, ``seq_len``,
            ``dtype``, ``threads``, ``max_seconds``, ``store_timeout``, ``export``, ``progress``.

    Returns:
        A summary: store path, run id, counts (``n_archs``, ``n_already``, ``n_written``,
        ``n_skipped``), ``seconds``, ``stopped_early``.
    """
    space = SearchSpace.from_name(cfg.scale.name)
    spec = devices.DeviceSpec.from_cfg(cfg.device)
    tdev = devices.resolve(spec)
    settings = settings_from_cfg(cfg, space)
    metric: Metric = instantiate(cfg.metric)
    if not isinstance(metric, Metric):
        raise TypeError(f"metric config must instantiate an hwgpt.profiling.base.Metric, got {type(metric).__name__}")
    ctx = Context(space, tdev, spec.name, settings, int(cfg.seed))
    from hwgpt.surrogates import new_device  # fit=true: checks, identity warning, design of archs (issue 13)

    design = new_device.before_profiling(cfg, space, spec, list(metric.outputs))
    archs = design if design is not None else arch_set(space, int(cfg.n_archs), int(cfg.seed))
    t_start = time.perf_counter()
    metric.setup(ctx)  # checkpoint, data, counters: fails before the store is touched
    try:
        with Store(cfg.store, create=True, timeout=float(cfg.get("store_timeout", 60))) as store:
            metric.check_store(store, space.name, spec.name)
            summary = _profile(cfg, store, metric, ctx, spec, archs, t_start)
            if cfg.get("export"):
                store.export(cfg.export)
    finally:
        metric.close()
    log.info("done: %s", summary)
    # Final step, fit=true only: the new device's surrogates by transfer (hwgpt.surrogates.new_device).
    if (fitted := new_device.after_profiling(cfg, summary, space, spec, list(metric.outputs))) is not None:
        summary["fit"] = fitted
    return summary


def _profile(
    cfg: DictConfig, store: Store, metric: Metric, ctx: Context, spec: devices.DeviceSpec, archs: list[Arch],
    t_start: float,
) -> dict[str, Any]:
    """The resumable loop: skip completed archs, measure chunk by chunk, one transaction per arch."""
    scale, msettings = ctx.space.name, metric.settings(ctx)
    summary: dict[str, Any] = {"store": str(store.path), "scale": scale, "device": spec.name,
                               "metrics": list(metric.outputs), "n_archs": len(archs), "n_written": 0,
                               "n_skipped": 0, "stopped_early": False}
    key = store.register_device(spec.name, spec.kind, devices.identity(spec, ctx.device, ctx.settings.threads))
    summary["run_id"] = run_id = uuid.uuid4().hex
    store.start_run(run_id, key, {"config": _config_dict(cfg), "metric": metric.describe(),
                                  "settings": msettings.__dict__})
    done = _done(store, scale, spec.name, metric.outputs, msettings)
    todo = [a for a in archs if a.id not in done]
    summary["n_already"] = len(archs) - len(todo)
    log.info("profiling %s on %s (%s, %s): %d archs, %d already in %s", list(metric.outputs), spec.name,
             scale, msettings, len(archs), summary["n_already"], store.path)
    max_seconds = cfg.get("max_seconds")
    bar = tqdm(total=len(archs), initial=summary["n_already"], desc=f"{'+'.join(metric.outputs)} {spec.name}",
               unit="arch", disable=not cfg.get("progress", True))
    try:
        with bar:
            for chunk in _chunks(todo, max(1, metric.chunk_size)):
                if max_seconds is not None and time.perf_counter() - t_start > float(max_seconds):
                    log.warning("max_seconds=%s reached; stopping (rerun to resume)", max_seconds)
                    summary["stopped_early"] = True
                    break
                fresh = _done(store, scale, spec.name, metric.outputs, msettings)
                skipped = [a for a in chunk if a.id in fresh]  # done meanwhile by a concurrent process
                chunk = [a for a in chunk if a.id not in fresh]
                summary["n_skipped"] += len(skipped)
                bar.update(len(skipped))
                if not chunk:
                    continue
                results = metric.measure(chunk)
                for a in chunk:
                    written = store.write_arch(arch=a, scale=scale, device=spec.name, settings=msettings,
                                               observations=results[a.id], run_id=run_id, device_key=key)
                    summary["n_written" if written else "n_skipped"] += 1
                    bar.update(1)
    except KeyboardInterrupt:
        log.warning("interrupted: %d architectures written, the store is consistent; rerun the same command "
                    "to resume", summary["n_written"])
        raise
    summary["seconds"] = time.perf_counter() - t_start
    return summary
