"""What really measuring an architecture takes: the measurement protocol behind simulated time."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hwgpt.errors import InvalidInput, check_float, check_int


@dataclass(frozen=True)
class MeasurementProtocol:
    """What really measuring one architecture would involve, for its simulated wall-clock.

    ``simulated_seconds`` of an evaluation at ``r`` repeats (``L_d``: the arch's median latency per
    forward on device ``d``; a forward processes ``b x t`` tokens, the batch and sequence length of
    that latency's surrogate)::

        overhead_seconds
        + sum over devices d with hardware objectives:  (warmup + r * n_d) * L_d
        + (if perplexity or accuracy is an objective)  f * perplexity_windows * block_size / (b * t) * L_p

    ``n_d`` is the number of hardware metrics measured on ``d`` (every observation of every metric
    takes one timed forward), ``L_p`` the latency on the first device of the hardware objectives
    (else the benchmark's default device), and ``f = r / repeats`` the share of the perplexity
    evaluation done (1 at full fidelity).

    Attributes:
        repeats: Timed forwards per hardware metric at full fidelity (the paper: 10 latency
            observations per architecture).
        warmup: Untimed forwards per device before measuring.
        perplexity_windows: Windows of ``block_size`` tokens in the perplexity/accuracy evaluation;
            32 as ``profile.py``'s quality metric (8,192 tokens at tiny, 32,768 at S). The paper
            does not state its budget.
        overhead_seconds: Fixed cost per evaluation (loading, extracting the sub-network), 0 by default.
    """

    repeats: int = 10
    warmup: int = 1
    perplexity_windows: int = 32
    overhead_seconds: float = 0.0

    def __post_init__(self) -> None:
        check_int("repeats", self.repeats, min=1)
        check_int("warmup", self.warmup, min=0)
        check_int("perplexity_windows", self.perplexity_windows, min=0)
        check_float("overhead_seconds", self.overhead_seconds, min=0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def seconds(self, hardware: list[tuple[float, int]], quality_forward: tuple[float, float] | None,
                repeats: int | None = None) -> float:
        """The formula above.

        Args:
            hardware: ``(L_d, n_d)`` per device with hardware objectives (``L_d`` a float or an array).
            quality_forward: ``(L_p, forwards of the full perplexity evaluation)``, or None without one.
            repeats: ``r`` (None: ``self.repeats``), or a 1-D integer array of them (then the result has
                one element per ``r``, each equal to the scalar formula's bits: + - * / only).
        """
        if repeats is not None and np.ndim(repeats) == 1:  # every r of an array at once (the same arithmetic)
            r: Any = np.asarray(repeats)
            if r.dtype.kind not in "iu" or (r < 1).any():
                raise InvalidInput(f"repeats must be integers >= 1, got {repeats!r}")
            r = r.astype(np.int64)
        else:
            r = self.repeats if repeats is None else check_int("repeats", repeats, min=1)
        total = self.overhead_seconds + sum((self.warmup + r * n) * lat for lat, n in hardware)
        if quality_forward is not None:
            lat, forwards = quality_forward
            total = total + (r / self.repeats) * forwards * lat
        return float(total) if np.ndim(total) == 0 else total
