"""Latency: seconds per forward pass of the extracted dense model, after warm-up.

CPU: wall clock (``time.perf_counter``) around one forward, with the thread count fixed
(default 1: with more threads than free cores a forward waits for its slowest thread and
tails explode). Each observation also records the run-queue wait of the process's threads
during that forward (``/proc/self/task/*/schedstat``, field 2, delta): an observation whose
wait exceeds ``contention_threshold`` of its wall time is flagged ``contended`` (kept, not
dropped: downstream code decides). A contended observation is first re-timed up to
``max_retries`` times (the count is kept in ``extra.retries``), so a short burst of other work
costs a retry instead of a corrupt sample. GPU: CUDA events around the forward, then synchronize.

Architectures of a chunk are measured round-robin — repeat ``r`` of every architecture
before repeat ``r + 1`` of any — so slow drifts and bursts of contention spread over the
chunk instead of hitting all repeats of one architecture.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from hwgpt.errors import check_float, check_int
from hwgpt.profiling.base import MAX_INTERLEAVE, MAX_REPEATS, MAX_WARMUP, Metric
from hwgpt.profiling.store import Observation
from hwgpt.search_space import Arch

log = logging.getLogger(__name__)


def run_queue_wait() -> float | None:
    """Seconds all threads of this process have waited on a run queue (None if unavailable)."""
    total = 0
    try:
        for stat in Path("/proc/self/task").glob("*/schedstat"):
            try:
                total += int(stat.read_text().split()[1])
            except (OSError, IndexError, ValueError):  # thread exited meanwhile
                continue
    except OSError:
        return None
    return total / 1e9


def cpu_timer(fn: Callable[[], object]) -> tuple[float, float | None]:
    """``(wall seconds, run-queue wait seconds)`` of one call of ``fn``."""
    w0 = run_queue_wait()
    t0 = time.perf_counter()
    fn()
    t1 = time.perf_counter()
    w1 = run_queue_wait()
    return t1 - t0, (None if w0 is None or w1 is None else max(0.0, w1 - w0))


def cuda_timer(fn: Callable[[], object], device: torch.device) -> tuple[float, None]:
    """``(seconds, None)`` of one call of ``fn`` between two CUDA events."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(device)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3, None


class LatencyMetric(Metric):
    """Seconds per forward; ``repeats`` observations per architecture.

    Args:
        repeats: Observations per architecture (paper: 10).
        warmup: Untimed forwards per architecture before the first observation.
        interleave: Architectures measured round-robin together (1: one after another).
        contention_threshold: Flag an observation ``contended`` when its run-queue wait
            exceeds this fraction of its wall time.
        max_retries: Re-time a contended observation up to this many times before keeping it
            (flagged).
    """

    outputs = ("latency",)

    def __init__(
        self, repeats: int = 10, warmup: int = 3, interleave: int = 4, contention_threshold: float = 0.05,
        max_retries: int = 0,
    ) -> None:
        repeats = check_int("repeats", repeats, min=1, max=MAX_REPEATS)
        warmup = check_int("metric.warmup", warmup, min=0, max=MAX_WARMUP)
        interleave = check_int("metric.interleave", interleave, min=1, max=MAX_INTERLEAVE)
        max_retries = check_int("metric.max_retries", max_retries, min=0, max=100)
        contention_threshold = check_float("metric.contention_threshold", contention_threshold, min=0.0)
        self.max_retries = max_retries
        self.repeats, self.warmup, self.interleave = repeats, warmup, interleave
        self.contention_threshold = contention_threshold
        self.chunk_size = interleave

    def time_one(self, forward: Callable[[], object]) -> tuple[float, float | None]:
        """Time one forward on the context's device."""
        return cuda_timer(forward, self.ctx.device) if self.ctx.is_cuda else cpu_timer(forward)

    def measure(self, archs: Sequence[Arch]) -> dict[str, list[Observation]]:  # noqa: D102
        ctx = self.ctx
        idx = ctx.tokens()
        models = [ctx.dense(a) for a in archs]
        out: dict[str, list[Observation]] = {a.id: [] for a in archs}
        with torch.inference_mode():
            for m in models:
                for _ in range(self.warmup):
                    m(idx)
            ctx.synchronize()
            for r in range(self.repeats):
                for a, m in zip(archs, models, strict=True):
                    for attempt in range(self.max_retries + 1):  # noqa: B007 (read after the loop)
                        seconds, wait = self.time_one(lambda m=m: m(idx))
                        contended = wait is not None and wait > self.contention_threshold * seconds
                        if not contended:
                            break
                    flags: tuple[str, ...] = ("contended",) if contended else ()
                    extra = {} if wait is None else {"wait_s": round(wait, 9), "retries": attempt}
                    out[a.id].append(Observation("latency", seconds, "s", r, flags, extra))
        return out
