"""``trainer.precision=auto``: bf16 autocast only where a quick probe measures it faster here.

Whether bf16 pays off depends on the machine: on a CPU with AVX512-BF16/AMX, oneDNN runs bf16
matmuls natively (about 2x fp32); on an AVX2-only CPU they are emulated and an autocast matmul
was ~8x slower than fp32 (the issue's EPYC: 89.6 ms vs 10.6 ms), making training 20-40x slower.
So ``auto`` times a few forward+backward passes of a small MLP block at the shapes of a
training step, in fp32 and under bf16 autocast, on the device being trained on, and picks
``bf16-mixed`` only if it is at least :data:`MIN_SPEEDUP` times faster; otherwise ``32-true``.
The probe takes well under a second; its timings and the CPU's capability are returned
(:class:`PrecisionChoice`) and recorded in the run's ``results.json``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from hwgpt.errors import InvalidInput

log = logging.getLogger(__name__)

MIN_SPEEDUP = 1.1
"""bf16 must beat fp32 by this factor to be chosen (timing noise on a shared CPU is ~5%)."""

FIXED = ("32-true", "32", "bf16-mixed", "bf16-true", "16-mixed", "16-true", "64-true", "transformer-engine")


@dataclass(frozen=True)
class PrecisionChoice:
    """What ``precision=auto`` chose and why.

    Attributes:
        requested: The configured value (``auto`` or a Lightning precision).
        chosen: The Lightning precision used.
        reason: One sentence.
        device: ``cpu`` or ``cuda``.
        cpu_capability: torch's CPU kernel level (``AVX2``, ``AVX512``...).
        fp32_s: Probe seconds per forward+backward in fp32 (None without a probe).
        bf16_s: The same under bf16 autocast (None without a probe, or where bf16 is unsupported).
    """

    requested: str
    chosen: str
    reason: str
    device: str
    cpu_capability: str
    fp32_s: float | None = None
    bf16_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cpu_capability() -> str:
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - informative only
        return "unknown"


def _time(fn: Any, device: torch.device, repeats: int) -> float:
    fn()  # warm-up (oneDNN primitive creation, CUDA kernels)
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t)
    return best


def probe(device: torch.device | str = "cpu", *, tokens: int = 256, width: int = 128, repeats: int = 3,
          ) -> tuple[float, float | None]:
    """Best-of-``repeats`` seconds of one forward+backward of a GPT MLP block, fp32 and bf16 autocast.

    Returns:
        ``(fp32_s, bf16_s)``; ``bf16_s`` is None where bf16 autocast is not supported.
    """
    device = torch.device(device)
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(tokens, width, generator=g).to(device)
    w1 = torch.randn(4 * width, width, generator=g).to(device).requires_grad_()
    w2 = torch.randn(width, 4 * width, generator=g).to(device).requires_grad_()

    def step() -> None:
        y = torch.nn.functional.linear(torch.nn.functional.gelu(torch.nn.functional.linear(x, w1)), w2)
        y.float().square().mean().backward()
        w1.grad = w2.grad = None

    def bf16_step() -> None:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            step()

    fp32 = _time(step, device, repeats)
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return fp32, None
    try:
        bf16 = _time(bf16_step, device, repeats)
    except RuntimeError:  # autocast unsupported here
        return fp32, None
    return fp32, bf16


def choose_precision(requested: Any, accelerator: str = "cpu", *, probe_fn: Any = probe) -> PrecisionChoice:
    """Resolve ``requested`` (``auto`` or a fixed Lightning precision) for ``accelerator``.

    Args:
        requested: ``"auto"`` or one of :data:`FIXED` (kept as given, not probed).
        accelerator: The trainer's accelerator (``cpu``, ``gpu``, ``cuda``, ``auto``).
        probe_fn: ``probe(device) -> (fp32_s, bf16_s)`` (tests replace it).

    Raises:
        InvalidInput: an unknown precision string.
    """
    requested = str(requested)
    if requested != "auto" and requested not in FIXED:
        raise InvalidInput(f"trainer.precision={requested!r}: allowed 'auto' or one of {list(FIXED)}")
    cuda = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    device = "cuda" if cuda else "cpu"
    cap = _cpu_capability()
    if requested != "auto":
        return PrecisionChoice(requested, requested, "set explicitly", device, cap)
    fp32_s, bf16_s = probe_fn(device)
    if bf16_s is None:
        return PrecisionChoice(requested, "32-true", f"bf16 autocast is not supported on {device}", device, cap,
                               fp32_s, None)
    speedup = fp32_s / bf16_s
    if speedup >= MIN_SPEEDUP:
        chosen = "bf16-mixed"
        reason = f"bf16 autocast measured {speedup:.2f}x faster than fp32 on {device} ({cap})"
    else:
        chosen = "32-true"
        reason = (f"bf16 autocast measured {speedup:.2f}x the speed of fp32 on {device} ({cap}), "
                  f"below the {MIN_SPEEDUP}x needed; fp32 kept")
    choice = PrecisionChoice(requested, chosen, reason, device, cap, fp32_s, bf16_s)
    log.info("precision=auto -> %s: %s (probe: fp32 %.2f ms, bf16 %.2f ms)", chosen, reason, 1e3 * fp32_s,
             1e3 * bf16_s)
    return choice
