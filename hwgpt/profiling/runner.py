"""``run(cfg)``: profile a fixed set of architectures of one scale on one device into the store.

Called by ``profile.py`` (Hydra). The architecture set is :func:`arch_set` — identical for
every device and metric, so tables join on ``arch_id``. Architectures already complete in the
store (same scale, device, metric and settings) are skipped, so an interrupted or killed run
resumes where it stopped. Concurrent processes on one store share the work: each claims a chunk
(:meth:`Store.claim`, with a lease renewed by a heartbeat thread) before measuring it, and skips
what others hold; a killed process's claims go back when its lease ends or its pid is gone. When
everything left is held by others, a process waits for them (and takes over what they drop).
Ctrl-C or SIGTERM releases the claims and ends with :class:`hwgpt.errors.Interrupted`, whose
message says what the store holds and how to resume.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from hwgpt.errors import HwgptError, Interrupted, InvalidInput, check_float, check_int, check_seed
from hwgpt.profiling import device as devices
from hwgpt.profiling.base import MAX_REPEATS, Context, Metric, parse_dtype
from hwgpt.profiling.store import Settings, Store
from hwgpt.search_space import Arch, SearchSpace

log = logging.getLogger(__name__)


def arch_set(space: SearchSpace, n_archs: int, seed: int = 0) -> list[Arch]:
    """Smallest, largest, then ``space.sample_unique(n_archs, seed)`` (duplicates dropped).

    A prefix property holds: the set for ``n`` is a prefix of the set for any ``m > n``.
    """
    n_archs = check_int("n_archs", n_archs, min=0)
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


MAX_ARCHS = 100_000
"""Most architectures one profiling run may ask for (the published data has 10,000 per series)."""
MAX_BATCH = 4096
"""Largest ``batch`` (sequences per forward)."""
MAX_THREADS = 1024
"""Largest ``threads``."""

CLAIM_LEASE = 120.0
"""Default seconds a claim stays valid without renewal (the heartbeat renews every third of it)."""


def validate_cfg(cfg: DictConfig) -> None:
    """Check the top-level options of ``conf/profile.yaml``; errors name the option and what is allowed."""
    check_int("n_archs", cfg.get("n_archs"), min=0, max=MAX_ARCHS)
    check_seed("seed", cfg.get("seed"))
    check_int("batch", cfg.get("batch"), min=1, max=MAX_BATCH)
    if cfg.get("seq_len") is not None:
        check_int("seq_len", cfg.seq_len, min=1)
    check_int("threads", cfg.get("threads"), min=1, max=MAX_THREADS)
    if "repeats" in cfg:
        check_int("repeats", cfg.repeats, min=1, max=MAX_REPEATS)
    check_float("store_timeout", cfg.get("store_timeout", 60), min=0.0, max=86400.0, inclusive=False)
    check_float("claim_lease", cfg.get("claim_lease", CLAIM_LEASE), min=1.0, max=86400.0)
    if not isinstance(cfg.get("new_device", False), bool):
        raise InvalidInput(f"new_device must be true or false, got {cfg.new_device!r}")
    if cfg.get("max_seconds") is not None:
        check_float("max_seconds", cfg.max_seconds, min=0.0)
    if not isinstance(cfg.get("store"), str) or not cfg.store:
        raise InvalidInput(f"store must be a file path, got {cfg.get('store')!r}")
    export = cfg.get("export")
    if export is not None and (not isinstance(export, str) or not export.endswith((".parquet", ".csv"))):
        raise InvalidInput(f"export must be null or a path ending in .parquet or .csv, got {export!r}")
    if not isinstance(cfg.get("progress", True), bool):
        raise InvalidInput(f"progress must be true or false, got {cfg.progress!r}")


def settings_from_cfg(cfg: DictConfig, space: SearchSpace) -> Settings:
    """Validated run settings; sets torch's thread count to ``cfg.threads``."""
    batch = check_int("batch", cfg.batch, min=1)
    seq_len = space.block_size if cfg.get("seq_len") is None else check_int("seq_len", cfg.seq_len, min=1)
    if not 1 <= seq_len <= space.block_size:
        raise InvalidInput(f"seq_len must be 1 <= seq_len <= {space.block_size} (scale {space.name}), got {seq_len}")
    try:
        parse_dtype(cfg.dtype)
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidInput(f"dtype={cfg.dtype!r}: {e}") from e
    threads = check_int("threads", cfg.threads, min=1)
    torch.set_num_threads(threads)
    return Settings(batch, seq_len, str(cfg.dtype), torch.get_num_threads())


def _done(store: Store, scale: str, device: str, outputs: Sequence[str], settings: Settings) -> set[str]:
    sets = [store.completed(scale, device, m, settings) for m in outputs]
    return set.intersection(*sets) if sets else set()


def run(cfg: DictConfig) -> dict[str, Any]:
    """Profile ``cfg.n_archs`` (+ smallest, largest) architectures of ``cfg.scale`` on ``cfg.device``.

    Args:
        cfg: The composed ``conf/profile.yaml``: ``scale``, ``device``, ``metric`` (a
            ``_target_`` Metric), ``n_archs``, ``seed``, ``store``, ``batch``, ``seq_len``,
            ``dtype``, ``threads``, ``max_seconds``, ``store_timeout``, ``export``, ``progress``,
            optionally ``claim_lease`` (seconds, default :data:`CLAIM_LEASE`).

    Returns:
        A summary: store path, run id, counts (``n_archs``, ``n_already``, ``n_written``,
        ``n_skipped``, ``n_complete``), ``seconds``, ``stopped_early``.

    Raises:
        hwgpt.errors.InvalidInput: a bad option (named in the message).
        hwgpt.errors.StoreError: the store cannot be opened or written.
        hwgpt.errors.Interrupted: Ctrl-C or SIGTERM (the store stays consistent).
    """
    validate_cfg(cfg)
    space = SearchSpace.from_name(cfg.scale.name)
    spec = devices.DeviceSpec.from_cfg(cfg.device)
    tdev = devices.resolve(spec)
    settings = settings_from_cfg(cfg, space)
    try:
        metric: Metric = instantiate(cfg.metric)
    except InstantiationException as e:  # the metric's own check failed: show its message, not Hydra's wrapper
        if isinstance(e.__cause__, HwgptError):
            raise e.__cause__ from None
        raise InvalidInput(f"metric config {cfg.metric.get('_target_')!r} cannot be built: {e}") from e
    if not isinstance(metric, Metric):
        raise InvalidInput(f"metric config must instantiate an hwgpt.profiling.base.Metric, "
                           f"got {type(metric).__name__}")
    ctx = Context(space, tdev, spec.name, settings, int(cfg.seed))
    from hwgpt.surrogates import new_device  # fit=true: checks, identity warning, design of archs (issue 13)

    design = new_device.before_profiling(cfg, space, spec, list(metric.outputs))
    archs = design if design is not None else arch_set(space, int(cfg.n_archs), int(cfg.seed))
    t_start = time.perf_counter()
    metric.setup(ctx)  # checkpoint, data, counters: fails before the store is touched
    try:
        with Store(cfg.store, create=True, timeout=float(cfg.get("store_timeout", 60)), readonly=False) as store:
            metric.check_store(store, space.name, spec.name)
            summary = _profile(cfg, store, metric, ctx, spec, archs, t_start)
            if cfg.get("export"):
                store.export(cfg.export)
    finally:
        metric.close()
    log.info("done: %s", summary)
    # Later steps (e.g. fitting the new device's surrogates) go here, after the store is closed.
    # fit=true only: the new device's surrogates by transfer (issue 13, hwgpt.surrogates.new_device).
    if (fitted := new_device.after_profiling(cfg, summary, space, spec, list(metric.outputs))) is not None:
        summary["fit"] = fitted
    return summary


class _Heartbeat:
    """Renews ``owner``'s claims every ``lease / 3`` seconds from a thread (own SQLite connection)."""

    def __init__(self, path: Any, owner: str, lease: float, timeout: float) -> None:
        self.path, self.owner, self.lease, self.timeout = path, owner, lease, timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hwgpt-claims-heartbeat", daemon=True)

    def _loop(self) -> None:
        store = None
        try:
            store = Store(self.path, timeout=self.timeout, check=False)
            while not self._stop.wait(self.lease / 3):
                try:
                    store.renew_claims(self.owner, self.lease)
                except Exception as e:  # noqa: BLE001 - a missed renewal only risks duplicated work
                    log.warning("could not renew the claims in %s: %s", self.path, e)
        except Exception as e:  # noqa: BLE001
            log.warning("claims heartbeat stopped: %s", e)
        finally:
            if store is not None:
                store.close()

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _profile(
    cfg: DictConfig, store: Store, metric: Metric, ctx: Context, spec: devices.DeviceSpec, archs: list[Arch],
    t_start: float,
) -> dict[str, Any]:
    """The resumable, shared loop: claim a chunk, measure it, one transaction per arch; repeat."""
    scale, msettings = ctx.space.name, metric.settings(ctx)
    summary: dict[str, Any] = {"store": str(store.path), "scale": scale, "device": spec.name,
                               "metrics": list(metric.outputs), "n_archs": len(archs), "n_written": 0,
                               "n_skipped": 0, "stopped_early": False}
    key = store.register_device(spec.name, spec.kind, devices.identity(spec, ctx.device, ctx.settings.threads))
    summary["run_id"] = run_id = uuid.uuid4().hex
    store.start_run(run_id, key, {"config": _config_dict(cfg), "metric": metric.describe(),
                                  "settings": msettings.__dict__})
    done = _done(store, scale, spec.name, metric.outputs, msettings)
    todo = {a.id: a for a in archs if a.id not in done}  # in order; claimed and finished ones leave in O(1)
    summary["n_already"] = len(archs) - len(todo)
    log.info("profiling %s on %s (%s, %s): %d archs, %d already in %s", list(metric.outputs), spec.name,
             scale, msettings, len(archs), summary["n_already"], store.path)
    max_seconds = cfg.get("max_seconds")
    lease = float(cfg.get("claim_lease", CLAIM_LEASE))
    size = max(1, metric.chunk_size)
    claim_args = dict(scale=scale, device=spec.name, metrics=list(metric.outputs), settings=msettings,
                      owner=run_id, lease=lease)
    bar = tqdm(total=len(archs), initial=summary["n_already"], desc=f"{'+'.join(metric.outputs)} {spec.name}",
               unit="arch", disable=not cfg.get("progress", True))
    waited = False
    try:
        with bar, _Heartbeat(store.path, run_id, lease, store.timeout):
            while todo:
                if max_seconds is not None and time.perf_counter() - t_start > float(max_seconds):
                    log.warning("max_seconds=%s reached; stopping (rerun to resume)", max_seconds)
                    summary["stopped_early"] = True
                    break
                got = store.claim(todo.values(), limit=size, **claim_args)
                if got.complete:  # done meanwhile by a concurrent process
                    summary["n_skipped"] += len(got.complete)
                    bar.update(len(got.complete))
                    for a in got.complete:
                        del todo[a.id]
                if not got.archs:
                    if not todo:
                        break
                    if not waited:
                        log.info("%d archs are being measured by other processes; waiting for them "
                                 "(taking over any they drop)", got.n_held)
                        waited = True
                    time.sleep(min(2.0, lease / 10))
                    continue
                chunk = got.archs
                results = metric.measure(chunk)
                for a in chunk:
                    written = store.write_arch(arch=a, scale=scale, device=spec.name, settings=msettings,
                                               observations=results[a.id], run_id=run_id, device_key=key,
                                               owner=run_id)
                    summary["n_written" if written else "n_skipped"] += 1
                    bar.update(1)
                    todo.pop(a.id, None)
    except KeyboardInterrupt as e:
        n_complete = len(_done(store, scale, spec.name, metric.outputs, msettings) & {a.id for a in archs})
        raise Interrupted(
            f"{summary['n_written']} architectures written by this run; {n_complete} of {len(archs)} complete "
            f"in {store.path} (consistent, nothing partial). Rerun the same command to resume"
        ) from e
    finally:
        try:
            store.release_claims(run_id)
        except Exception as e:  # noqa: BLE001 - the lease expires anyway
            log.warning("could not release the claims of run %s: %s", run_id, e)
    summary["n_complete"] = len(_done(store, scale, spec.name, metric.outputs, msettings) & {a.id for a in archs})
    summary["seconds"] = time.perf_counter() - t_start
    return summary
