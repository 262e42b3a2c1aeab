"""Live evaluation: :class:`hwgpt.Benchmark` queries answered by measuring on this machine.

``hwgpt.Benchmark(scale, device="cpu", evaluator="live")`` has the same ``query`` interface as the
surrogate benchmark, so a Pareto front found on the surrogates can be checked against reality.
Hardware metrics reuse the profiler's measurements (:mod:`hwgpt.profiling`): ``latency`` and
``energy`` are the median of ``repeats`` observations, ``memory`` the measured peak; ``perplexity``
and ``accuracy`` evaluate the supernet checkpoint's inherited weights (the shipped one of the
scale, or ``checkpoint=``) on the validation windows. Nothing is written to a store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwgpt.search_space import Arch, SearchSpace

log = logging.getLogger(__name__)

METRICS = ("latency", "energy", "memory", "perplexity", "accuracy")
QUALITY = ("perplexity", "accuracy")


class LiveEvaluator:
    """Measures metrics of architectures on a device of this machine.

    Args:
        space: Search space of the scale.
        device: Device config name (``conf/device/<name>.yaml``); None: ``cpu``.
        batch: Sequences per forward (hardware metrics).
        seq_len: Tokens per sequence; None: the scale's block size.
        dtype: ``float32``, ``bfloat16`` or ``float16``.
        threads: torch threads (1: stable CPU timings on a shared machine).
        repeats: Observations per architecture for latency and energy (their median is returned).
        seed: Seed of the random weights (hardware metrics) and input tokens.
        checkpoint: Supernet ``.safetensors`` for perplexity/accuracy; None: the shipped one.
        windows: Validation windows for perplexity/accuracy.
        quality_batch_size: Windows per forward for perplexity/accuracy.
        data: Data factory for perplexity/accuracy (see :class:`hwgpt.profiling.quality.QualityMetric`);
            None: the prepared corpus of the scale's tokenizer.

    Raises:
        hwgpt.errors.InvalidInput: a bad argument (named, with what is allowed) or an unknown device
            config; ``DeviceNotFoundError`` if that device is not present.
    """

    metrics = METRICS

    def __init__(
        self, space: SearchSpace, device: str | None = None, *, batch: int = 1, seq_len: int | None = None,
        dtype: str = "float32", threads: int = 1, repeats: int = 5, seed: int = 0, checkpoint: str | Path | None = None,
        windows: int = 32, quality_batch_size: int = 8, data: Callable[..., Any] | None = None,
    ) -> None:
        import torch
        from omegaconf import OmegaConf

        from hwgpt.errors import InvalidInput, check_int, check_seed
        from hwgpt.names import check_name
        from hwgpt.profiling import device as devices
        from hwgpt.profiling.base import MAX_REPEATS, Context, parse_dtype
        from hwgpt.profiling.runner import MAX_BATCH, MAX_THREADS
        from hwgpt.profiling.store import Settings

        batch = check_int("batch", batch, min=1, max=MAX_BATCH)
        if seq_len is not None:
            seq_len = check_int("seq_len", seq_len, min=1, max=space.block_size)
        threads = check_int("threads", threads, min=1, max=MAX_THREADS)
        repeats = check_int("repeats", repeats, min=1, max=MAX_REPEATS)
        seed = check_seed("seed", seed)
        windows = check_int("windows", windows, min=1)
        quality_batch_size = check_int("quality_batch_size", quality_batch_size, min=1)
        parse_dtype(dtype)
        name = check_name("device", "cpu" if device is None else device)
        path = devices.CONF_DIR / f"{name}.yaml"
        if not path.is_file():
            raise InvalidInput(f"unknown device {name!r} for live evaluation; device configs: "
                               f"{devices.known_devices()}")
        spec = devices.DeviceSpec.from_cfg(OmegaConf.to_container(OmegaConf.load(path)))
        tdev = devices.resolve(spec)
        from hwgpt.surrogates.new_device import warn_if_other_machine  # issue 13: say when the surrogate is elsewhere

        warn_if_other_machine(space.name, spec, ["latency"], threads)
        torch.set_num_threads(threads)
        seq = space.block_size if seq_len is None else int(seq_len)
        self.space, self.device, self.repeats = space, name, repeats
        self.ctx = Context(space, tdev, name, Settings(int(batch), seq, dtype, torch.get_num_threads()), seed)
        self._quality_kwargs = {"windows": windows, "batch_size": quality_batch_size,
                                "checkpoint": None if checkpoint is None else str(checkpoint)}
        if data is not None:
            self._quality_kwargs["data"] = data
        self._meters: dict[str, Any] = {}

    def _meter(self, metric: str) -> Any:
        key = "quality" if metric in QUALITY else metric
        if key not in self._meters:
            from hwgpt.profiling.energy import EnergyMetric
            from hwgpt.profiling.latency import LatencyMetric
            from hwgpt.profiling.memory import MemoryMetric
            from hwgpt.profiling.quality import QualityMetric

            factories = {
                "latency": lambda: LatencyMetric(repeats=self.repeats, warmup=2, interleave=1),
                "energy": lambda: EnergyMetric(repeats=self.repeats, interleave=1),
                "memory": lambda: MemoryMetric(repeats=1),
                "quality": lambda: QualityMetric(outputs=QUALITY, **self._quality_kwargs),
            }
            meter = factories[key]()
            meter.setup(self.ctx)
            self._meters[key] = meter
        return self._meters[key]

    def measure(self, archs: Sequence[Arch], metric: str) -> np.ndarray:
        """Median measured value of ``metric`` for each arch (validated against the space first)."""
        if metric not in METRICS:
            raise ValueError(f"live evaluation measures {list(METRICS)}, not {metric!r}")
        for a in archs:
            self.space.validate(a)
        meter = self._meter(metric)
        out = np.empty(len(archs))
        for i, a in enumerate(archs):
            obs = [o.value for o in meter.measure([a])[a.id] if o.metric == metric]
            out[i] = float(np.median(obs))
        return out

    def close(self) -> None:
        """Release meters (codecarbon trackers, NVML handles)."""
        for m in self._meters.values():
            m.close()
        self._meters.clear()
