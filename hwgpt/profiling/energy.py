"""Energy: joules per forward pass of the extracted dense model.

One observation runs ``n`` forwards back to back (``n`` chosen from the warm-up time so the
loop lasts at least ``min_seconds``, because energy counters have coarse update steps) and
divides the energy read over the loop by ``n``.

* GPU: NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ, whole board,
  Volta and newer) read before and after the synchronised loop. Where the counter is not
  supported, power is sampled (``nvmlDeviceGetPowerUsage``) in a thread and integrated;
  those values are flagged ``power_sampled``.
* CPU: codecarbon's ``OfflineEmissionsTracker`` (``start_task``/``stop_task`` around the loop,
  CPU + RAM energy, process tracking mode). codecarbon reads RAPL counters where the kernel
  exposes them; otherwise it *estimates* power from CPU load and a TDP table, and RAM as a
  flat power: those values are flagged ``estimate`` and the mode is kept in ``extra``.

``pynvml`` and ``codecarbon`` are imported lazily, so this module imports on any machine.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import torch

from hwgpt.errors import InvalidInput, check_float, check_int
from hwgpt.profiling.base import MAX_INTERLEAVE, MAX_REPEATS, MAX_WARMUP, Context, Metric
from hwgpt.profiling.store import Observation
from hwgpt.search_space import Arch

log = logging.getLogger(__name__)

KWH = 3.6e6  # joules per kWh
MEASURED_CPU_MODES = ("intel_rapl", "intel_power_gadget", "windows_emi", "powermetrics", "amd_rapl")


class EnergyMeter(Protocol):
    """Energy of one call, in joules, with flags and details."""

    def measure(self, fn: Callable[[], object]) -> tuple[float, tuple[str, ...], dict[str, Any]]: ...

    def close(self) -> None: ...


@contextmanager
def _quiet(level: int = logging.WARNING):
    """Silence log records below ERROR while codecarbon sets itself up."""
    logging.disable(level)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


class CodecarbonMeter:
    """CPU (+ RAM) energy through codecarbon's offline tracker.

    Args:
        country_iso_code: Country for the (unused here) carbon intensity; required offline.
    """

    def __init__(self, country_iso_code: str = "DEU") -> None:
        from codecarbon import OfflineEmissionsTracker

        with _quiet():
            self.tracker = OfflineEmissionsTracker(
                save_to_file=False, log_level="error", country_iso_code=country_iso_code,
                tracking_mode="process",
            )
            self.tracker.start_task("hwgpt-warmup")  # first task pays the hardware set-up (~1.5 s)
            self.tracker.stop_task()
        cpus = [h for h in getattr(self.tracker, "_hardware", []) if type(h).__name__ == "CPU"]
        self.mode = str(getattr(cpus[0], "_mode", "unknown")) if cpus else "unknown"
        self.estimate = self.mode not in MEASURED_CPU_MODES
        if self.estimate:
            log.warning("codecarbon has no power counter here (mode %s): CPU energy values are estimates, "
                        "flagged 'estimate'", self.mode)

    def measure(self, fn: Callable[[], object]) -> tuple[float, tuple[str, ...], dict[str, Any]]:
        self.tracker.start_task()
        fn()
        data = self.tracker.stop_task()
        extra = {"mode": self.mode, "cpu_J": data.cpu_energy * KWH, "ram_J": data.ram_energy * KWH}
        return data.energy_consumed * KWH, (("estimate",) if self.estimate else ()), extra

    def close(self) -> None:
        with _quiet(logging.ERROR):
            self.tracker.stop()


def nvml_handle(device: torch.device) -> Any:
    """The NVML handle of a CUDA device (by UUID, falling back to the index)."""
    import pynvml

    pynvml.nvmlInit()
    index = device.index if device.index is not None else torch.cuda.current_device()
    try:
        uuid = str(torch.cuda.get_device_properties(index).uuid)
        return pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
    except Exception:  # noqa: BLE001 - older torch/driver: no uuid; CUDA_VISIBLE_DEVICES unset -> same order
        return pynvml.nvmlDeviceGetHandleByIndex(index)


class NvmlMeter:
    """GPU board energy via NVML: the total-energy counter, else sampled power.

    Args:
        device: The CUDA device.
        sample_interval: Seconds between power samples in the fallback mode.
    """

    def __init__(self, device: torch.device, sample_interval: float = 0.005) -> None:
        import pynvml

        self.pynvml = pynvml
        self.handle = nvml_handle(device)
        self.sample_interval = sample_interval
        try:
            pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            self.mode = "nvml_energy_counter"
        except pynvml.NVMLError as e:
            log.warning("NVML total-energy counter unavailable (%s); integrating sampled power instead", e)
            self.mode = "nvml_power_sampling"

    def measure(self, fn: Callable[[], object]) -> tuple[float, tuple[str, ...], dict[str, Any]]:
        if self.mode == "nvml_energy_counter":
            e0 = self.pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            fn()
            e1 = self.pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            return (e1 - e0) / 1e3, (), {"mode": self.mode}
        joules, n = self._sampled(fn)
        return joules, ("power_sampled",), {"mode": self.mode, "power_samples": n}

    def _sampled(self, fn: Callable[[], object]) -> tuple[float, int]:
        samples: list[tuple[float, float]] = []
        stop = threading.Event()

        def sample() -> None:
            while True:
                samples.append((time.perf_counter(), self.pynvml.nvmlDeviceGetPowerUsage(self.handle) / 1e3))
                if stop.wait(self.sample_interval):
                    break

        thread = threading.Thread(target=sample, daemon=True)
        t0 = time.perf_counter()
        thread.start()
        fn()
        t1 = time.perf_counter()
        stop.set()
        thread.join()
        pts = [(t0, samples[0][1]), *[(t, w) for t, w in samples if t0 <= t <= t1], (t1, samples[-1][1])]
        joules = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in zip(pts, pts[1:], strict=False))
        return joules, len(samples)

    def close(self) -> None:
        try:
            self.pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


class EnergyMetric(Metric):
    """Joules per forward; ``repeats`` observations per architecture.

    Args:
        repeats: Observations per architecture (paper: up to 50 on GPUs).
        warmup: Untimed forwards per architecture (also calibrate the loop length).
        min_seconds: Minimum duration of one observation's loop of forwards.
        interleave: Architectures measured round-robin together.
        country_iso_code: codecarbon's country (CPU only).
        sample_interval: NVML power sampling interval in the fallback mode (GPU only).
    """

    outputs = ("energy",)

    def __init__(
        self, repeats: int = 10, warmup: int = 2, min_seconds: float = 0.2, interleave: int = 4,
        country_iso_code: str = "DEU", sample_interval: float = 0.005,
    ) -> None:
        repeats = check_int("repeats", repeats, min=1, max=MAX_REPEATS)
        warmup = check_int("metric.warmup", warmup, min=1, max=MAX_WARMUP)
        interleave = check_int("metric.interleave", interleave, min=1, max=MAX_INTERLEAVE)
        min_seconds = check_float("metric.min_seconds", min_seconds, min=0.0, max=3600.0)
        if min_seconds <= 0:
            raise InvalidInput(f"metric.min_seconds must be > 0, got {min_seconds}")
        sample_interval = check_float("metric.sample_interval", sample_interval, min=1e-4, max=10.0)
        self.repeats, self.warmup, self.min_seconds = repeats, warmup, min_seconds
        self.interleave, self.chunk_size = interleave, interleave
        self.country_iso_code, self.sample_interval = country_iso_code, sample_interval
        self._meter: EnergyMeter | None = None

    def setup(self, ctx: Context) -> None:  # noqa: D102
        super().setup(ctx)
        if ctx.is_cuda:
            self._meter = NvmlMeter(ctx.device, self.sample_interval)
        else:
            self._meter = CodecarbonMeter(self.country_iso_code)

    def _calibrate(self, forward: Callable[[], object]) -> int:
        """Forwards per observation so the loop lasts at least ``min_seconds``."""
        self.ctx.synchronize()
        t0 = time.perf_counter()
        for _ in range(self.warmup):
            forward()
        self.ctx.synchronize()
        per = max((time.perf_counter() - t0) / self.warmup, 1e-6)
        return max(1, math.ceil(self.min_seconds / per))

    def measure(self, archs: Sequence[Arch]) -> dict[str, list[Observation]]:  # noqa: D102
        assert self._meter is not None, "call setup() first"
        ctx = self.ctx
        idx = ctx.tokens()
        models = [ctx.dense(a) for a in archs]
        out: dict[str, list[Observation]] = {a.id: [] for a in archs}
        with torch.inference_mode():
            loops = [self._calibrate(lambda m=m: m(idx)) for m in models]
            for r in range(self.repeats):
                for a, m, n in zip(archs, models, loops, strict=True):

                    def loop(m=m, n=n) -> None:
                        for _ in range(n):
                            m(idx)
                        ctx.synchronize()

                    ctx.synchronize()
                    t0 = time.perf_counter()
                    joules, flags, extra = self._meter.measure(loop)
                    extra = {**extra, "n_forwards": n, "seconds": time.perf_counter() - t0}
                    out[a.id].append(Observation("energy", joules / n, "J", r, flags, extra))
        return out

    def close(self) -> None:  # noqa: D102
        if self._meter is not None:
            self._meter.close()
            self._meter = None
