"""The metric interface shared by every measurement, and the context it measures in.

A :class:`Metric` (chosen with ``_target_`` in conf/metric/) measures a chunk of
architectures at once — hardware metrics interleave the chunk's architectures instead of
repeating one back to back — and returns every observation per architecture. The runner
writes each architecture in one transaction.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from hwgpt.profiling.store import Observation, Settings, Store
from hwgpt.search_space import Arch, SearchSpace
from hwgpt.supernet import DenseGPT, SuperGPT

log = logging.getLogger(__name__)

MAX_REPEATS = 1000
"""Most observations per architecture a metric may take (published data: 50 for energy, 10 for latency)."""
MAX_WARMUP = 1000
"""Most warm-up forwards per architecture."""
MAX_INTERLEAVE = 256
"""Most architectures measured round-robin together."""

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def parse_dtype(name: str) -> torch.dtype:
    """``float32``/``bfloat16``/``float16`` -> torch dtype (ValueError naming the allowed ones)."""
    if not isinstance(name, str) or name not in DTYPES:
        from hwgpt.errors import InvalidInput

        raise InvalidInput(f"dtype={name!r} is not supported; allowed: {sorted(DTYPES)}")
    return DTYPES[name]


@dataclass
class Context:
    """Where and how a metric measures.

    Attributes:
        space: The search space of the scale.
        device: The torch device (resolved from the device config).
        device_name: The device config name (``cpu``, ``h200``, ...).
        settings: Batch, sequence length, dtype and thread count.
        seed: Seed of the random supernet weights and of the input tokens.
    """

    space: SearchSpace
    device: torch.device
    device_name: str
    settings: Settings
    seed: int = 0
    _supernet: SuperGPT | None = field(default=None, repr=False)

    @property
    def dtype(self) -> torch.dtype:
        return parse_dtype(self.settings.dtype)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def supernet(self) -> SuperGPT:
        """A randomly initialised supernet (built once; weights do not change timing)."""
        if self._supernet is None:
            torch.manual_seed(self.seed)
            self._supernet = SuperGPT(self.space).to(device=self.device, dtype=self.dtype).eval()
        return self._supernet

    def dense(self, arch: Arch) -> DenseGPT:
        """The extracted dense model of ``arch`` (``supernet().extract``), on the device, in eval mode."""
        return self.supernet().extract(arch).eval()

    def tokens(self) -> torch.Tensor:
        """Fixed random input ids ``(batch, seq_len)`` on the device."""
        g = torch.Generator().manual_seed(self.seed)
        s = self.settings
        return torch.randint(0, self.space.vocab_size, (s.batch, s.seq_len), generator=g).to(self.device)

    def synchronize(self) -> None:
        """Wait for queued GPU work (no-op on CPU)."""
        if self.is_cuda:
            torch.cuda.synchronize(self.device)


class Metric(ABC):
    """A measurement. Subclasses set :attr:`outputs` and implement :meth:`measure`.

    Hooks: :meth:`setup` (once per run, after the device is resolved), :meth:`measure`
    (per chunk of architectures), :meth:`close` (once, at the end).

    Attributes:
        outputs: Metric names this measurement writes (e.g. ``["perplexity", "accuracy"]``).
        chunk_size: Architectures measured together (interleaved).
    """

    outputs: Sequence[str] = ()
    chunk_size: int = 1

    def setup(self, ctx: Context) -> None:
        """Prepare (load weights, open counters). Default: remember the context."""
        self.ctx = ctx

    @abstractmethod
    def measure(self, archs: Sequence[Arch]) -> dict[str, list[Observation]]:
        """Observations of each architecture of the chunk, keyed by ``arch.id``."""

    def settings(self, ctx: Context) -> Settings:
        """Settings recorded with the observations (default: the run's)."""
        return ctx.settings

    def check_store(self, store: Store, scale: str, device: str) -> None:
        """Refuse a store whose existing rows conflict with this measurement (default: accept)."""
        return None

    def close(self) -> None:
        """Release resources (default: nothing)."""
        return None

    def describe(self) -> dict[str, Any]:
        """JSON-safe parameters, logged and stored with the run."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "ctx" and _jsonable(v)}


def _jsonable(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool, type(None), list, tuple, dict))
