"""Validation of new-device transfer on this machine: fresh archs against the surrogates of named devices.

``fresh``: fresh archs measured on this machine (a store) against surrogates of named devices
(e.g. the shipped ``cpu`` before adapting and ``local`` after): ratio measured / predicted,
coverage, tau. ``interleaved``: the design of ``fit=true`` and fresh archs measured alternately,
then fitted and checked with :func:`fresh`. The command line is
``python -m hwgpt.surrogates.transfer_validation {fresh,interleaved} ...``
(:mod:`hwgpt.surrogates.transfer_validation`, which also runs the leave-one-device-out validation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau
from tqdm.auto import tqdm

from hwgpt.search_space import SearchSpace
from hwgpt.surrogates import data
from hwgpt.surrogates.transfer_core import TransferSettings


def fresh(store: str | Path, scale: str, measured_as: str, devices: list[str], exclude_store: str | Path | None = None,
          metric: str = "latency") -> dict[str, Any]:
    """Fresh archs measured as ``measured_as`` in ``store`` against the surrogates of ``devices``.

    Archs also measured in ``exclude_store`` (the adaptation design) are left out.
    """
    import hwgpt
    from hwgpt.profiling.store import Store

    with Store(store) as st:
        df = st.observations(scale=scale, device=measured_as, metric=metric)
    if exclude_store:
        with Store(exclude_store) as st:
            used = set(st.observations(scale=scale)["arch_id"])
        df = df[~df["arch_id"].isin(used)]
    space = SearchSpace.from_name(scale)
    archs = data.archs_of(df, space)
    ids = list(archs)
    med = df.groupby("arch_id")["value"].median().reindex(ids).to_numpy()
    out: dict[str, Any] = {"scale": scale, "n_archs": len(ids), "n_observations": len(df),
                           "flags": sorted(set().union(*df["flags"].map(data.parse_flags))) if len(df) else []}
    for d in devices:
        b = hwgpt.Benchmark(scale, device=d)
        pred = b.query([archs[a] for a in ids], [metric])[metric]
        lo, hi = b.interval([archs[a] for a in ids], metric, 0.9)
        pos = {a: i for i, a in enumerate(ids)}
        j = df["arch_id"].map(pos).to_numpy()
        v = df["value"].to_numpy(float)
        ratio = med / pred
        out[d] = {"ratio_median": float(np.median(ratio)), "ratio_p10": float(np.quantile(ratio, 0.1)),
                  "ratio_p90": float(np.quantile(ratio, 0.9)),
                  "coverage_of_medians_0.9": float(np.mean((med >= lo) & (med <= hi))),
                  "coverage_0.9": float(np.mean((v >= lo[j]) & (v <= hi[j]))),
                  "kendall_tau": float(kendalltau(pred, med).statistic),
                  "median_relative_error": float(np.median(np.abs(pred / med - 1))),
                  "model": b.report(metric).get("model")}
    return out


def interleaved(scale: str, n_design: int, n_fresh: int, repeats: int, store: str | Path, seed: int = 0,
                fresh_seed: int = 1000, device: str = "local", threads: int = 1) -> dict[str, Any]:
    """The tiny check with both sets measured in one interleaved pass (a shared core's load drifts).

    The design of ``python profile.py ... device=<device> n_archs=<n_design> fit=true`` and ``n_fresh``
    other archs are measured alternately (same latency settings as ``conf/metric/latency.yaml``) into
    ``store`` as ``device`` and ``fresh``; the design's observations are then fitted exactly as the
    command's final step does (into ``$HWGPT_HOME``), and the fresh archs are checked with :func:`fresh`.
    """
    import torch

    from hwgpt.profiling.base import Context
    from hwgpt.profiling.device import DeviceSpec, identity
    from hwgpt.profiling.latency import LatencyMetric
    from hwgpt.profiling.store import Settings, Store
    from hwgpt.surrogates import artifacts, transfer, userdirs
    from hwgpt.surrogates.fit import device_identity

    space = SearchSpace.from_name(scale)
    design = transfer.design(space, n_design, seed)
    ids = {a.id for a in design}
    extra = [a for a in space.sample_unique(3 * n_fresh + 10, fresh_seed) if a.id not in ids][:n_fresh]
    order = [a for pair in zip(design, extra + [None] * len(design), strict=False) for a in pair if a is not None]
    order += extra[len(design):]
    torch.set_num_threads(threads)
    settings = Settings(1, space.block_size, "float32", torch.get_num_threads())
    ctx = Context(space, torch.device("cpu"), device, settings, seed)
    metric = LatencyMetric(repeats=repeats, warmup=3, interleave=4, contention_threshold=0.05, max_retries=3)
    metric.setup(ctx)
    import uuid

    run_id = uuid.uuid4().hex
    with Store(store, create=True) as st:
        key = st.register_device(device, "cpu", identity(DeviceSpec(device, "cpu"), torch.device("cpu"), threads))
        st.start_run(run_id, key, {"interleaved": True, "n_design": n_design, "n_fresh": n_fresh, "repeats": repeats})
        done = st.completed(scale, device, "latency") | st.completed(scale, "fresh", "latency")
        todo = [a for a in order if a.id not in done]
        for i in tqdm(range(0, len(todo), 4), desc="interleaved latency", unit="chunk"):
            chunk = todo[i:i + 4]
            res = metric.measure(chunk)
            for a in chunk:
                st.write_arch(arch=a, scale=scale, device=device if a.id in ids else "fresh", settings=settings,
                              observations=res[a.id], run_id=run_id, device_key=key)
        df = st.observations(scale=scale, device=device)
        ident = device_identity(st.devices(), df, device)
    metric.close()
    sources = transfer.shipped_sources(scale, "latency", (device,))
    fitted = transfer.fit_transfer(df, space, "latency", device, sources, TransferSettings(seed=seed), ident)
    artifacts.save(fitted.surrogate, userdirs.user_root())
    out = fresh(store, scale, "fresh", [*sources, device], metric="latency")
    out["fit"] = {k: fitted.report[k] for k in ("method", "n_archs_train", "kendall_tau", "median_relative_error",
                                                  "coverage", "unadapted")}
    return out
