"""FLOPs and parameter counts from the exact cost model (:mod:`hwgpt.cost`), stored as observations.

Not measured and never a surrogate: they are computed from the architecture, so that the
store's tables join on ``arch_id`` with everything else. ``flops`` is per forward of
``batch x seq_len`` tokens; ``params`` counts the tied embedding once.
"""

from __future__ import annotations

from collections.abc import Sequence

from hwgpt import cost
from hwgpt.profiling.base import Metric
from hwgpt.profiling.store import Observation
from hwgpt.search_space import Arch

UNITS = {"flops": "FLOPs", "params": "count"}


class CostMetric(Metric):
    """Exact ``flops`` and/or ``params`` (one observation per architecture).

    Args:
        outputs: Which of ``flops``, ``params`` to write.
    """

    def __init__(self, outputs: Sequence[str] = ("flops", "params")) -> None:
        bad = [o for o in outputs if o not in UNITS]
        if bad or not outputs:
            raise ValueError(f"cost outputs {list(outputs)}: allowed {sorted(UNITS)}")
        self.outputs = tuple(outputs)
        self.chunk_size = 64

    def measure(self, archs: Sequence[Arch]) -> dict[str, list[Observation]]:  # noqa: D102
        space, s = self.ctx.space, self.ctx.settings
        out = {}
        for a in archs:
            values = {"flops": cost.flops(a, space, s.batch, s.seq_len), "params": cost.params(a, space)}
            out[a.id] = [Observation(m, float(values[m]), UNITS[m]) for m in self.outputs]
        return out
