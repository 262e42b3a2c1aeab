"""Memory: peak bytes of one forward pass = the model's weights + the forward's peak extra allocation.

* GPU: after one warm-up forward (which creates the cuBLAS workspace),
  ``torch.cuda.reset_peak_memory_stats``; the value is ``weights + max_memory_allocated -
  memory_allocated_before``, so other resident tensors (the supernet the model was extracted
  from) do not count.
* CPU: PyTorch's CPU allocator keeps no statistics and RSS is blurred by the C allocator's
  caching, so we count tensors instead: a ``TorchDispatchMode`` sees every tensor an operator
  returns, adds its storage's bytes when the storage is new, and subtracts them when the
  storage is freed (a weak-reference callback). The peak of that running sum is what a
  non-caching allocator would need for the forward's intermediates; it is exact for tensors,
  deterministic (one observation per architecture) and ignores kernel-internal scratch space
  and allocator rounding (what ``max_memory_allocated`` adds on GPU, at most a few percent).

Both are the same definition (weights + peak live intermediates), so the numbers compare.
The analytic estimate of :func:`hwgpt.cost.memory` is kept in ``extra`` for reference.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from hwgpt import cost
from hwgpt.errors import check_int
from hwgpt.profiling.base import MAX_REPEATS, Metric
from hwgpt.profiling.store import Observation
from hwgpt.search_space import Arch

log = logging.getLogger(__name__)


class PeakTensorMemory(TorchDispatchMode):
    """Track the bytes of live tensor storages created inside the mode; ``peak`` is their maximum.

    Args:
        existing: Tensors allocated before (weights, inputs); views of them are not counted.
    """

    def __init__(self, existing: Sequence[torch.Tensor] = ()) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._refs: dict[int, weakref.ref[Any]] = {}
        self._existing = {t.untyped_storage()._cdata for t in existing}

    def _free(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self._refs.pop(key, None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, D105
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                storage = t.untyped_storage()
                key = storage._cdata
                if key in self._refs or key in self._existing:
                    continue  # a view, or an in-place result: storage already counted
                nbytes = storage.nbytes()
                self._refs[key] = weakref.ref(storage, lambda _, k=key, n=nbytes: self._free(k, n))
                self.live += nbytes
                self.peak = max(self.peak, self.live)
        return out


def weight_bytes(model: nn.Module) -> int:
    """Bytes of the distinct parameter and buffer storages of ``model`` (tied weights once)."""
    seen: dict[int, int] = {}
    for t in [*model.parameters(), *model.buffers()]:
        st = t.untyped_storage()
        seen[st.data_ptr()] = st.nbytes()
    return sum(seen.values())


def cpu_forward_peak(model: nn.Module, idx: torch.Tensor) -> int:
    """Peak bytes of the intermediates of one CPU forward (see module docstring)."""
    existing = [idx, *model.parameters(), *model.buffers()]
    with torch.inference_mode(), PeakTensorMemory(existing) as tracker:
        model(idx)
    return tracker.peak


def cuda_forward_peak(model: nn.Module, idx: torch.Tensor) -> int:
    """Peak extra bytes allocated by one CUDA forward, above what was allocated before it."""
    device = idx.device
    with torch.inference_mode():
        model(idx)  # warm-up: cuBLAS workspace, lazy inits
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        model(idx)
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)


class MemoryMetric(Metric):
    """Peak bytes of a forward (weights + intermediates); deterministic, so ``repeats`` defaults to 1.

    Args:
        repeats: Observations per architecture.
    """

    outputs = ("memory",)

    def __init__(self, repeats: int = 1) -> None:
        repeats = check_int("repeats", repeats, min=1, max=MAX_REPEATS)
        self.repeats = repeats
        self.chunk_size = 1

    def measure(self, archs: Sequence[Arch]) -> dict[str, list[Observation]]:  # noqa: D102
        ctx, out = self.ctx, {}
        idx = ctx.tokens()
        s = ctx.settings
        for a in archs:
            model = ctx.dense(a)
            weights = weight_bytes(model)
            est = cost.memory(a, ctx.space, s.batch, s.seq_len, ctx.dtype)
            extra = {"weights": weights, "estimate_total": est.total,
                     "method": "cuda_max_memory_allocated" if ctx.is_cuda else "dispatch_tensor_peak"}
            obs = []
            for r in range(self.repeats):
                peak = cuda_forward_peak(model, idx) if ctx.is_cuda else cpu_forward_peak(model, idx)
                obs.append(Observation("memory", float(weights + peak), "bytes", r, (), {**extra, "activations": peak}))
            out[a.id] = obs
            del model
        return out
