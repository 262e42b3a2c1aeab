"""Weight-entangled layers: a sub-network uses the leading slice of each weight.

``weight[:out, :in]`` is a strided view, so the forward GEMM reads it without a copy. When a
slice covers the whole tensor, the tensor itself is used, so the largest sub-network runs
exactly the dense computation (no autograd slice node). bench/bench_supernet.py measures the
cost of slicing against the extracted dense model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _sliced(t: torch.Tensor, *sizes: int) -> torch.Tensor:
    """Leading slice of ``t``; the tensor itself when nothing is cut (no autograd slice node)."""
    if tuple(t.shape) == tuple(sizes):
        return t
    return t[tuple(slice(0, s) for s in sizes)]


class SuperLinear(nn.Module):
    """``nn.Linear(in_max, out_max)`` whose sub-layer ``(in, out)`` is ``weight[:out, :in]``."""

    def __init__(self, in_max: int, out_max: int, std: float = 0.02) -> None:
        super().__init__()
        self.in_max, self.out_max = in_max, out_max
        self.weight = nn.Parameter(torch.empty(out_max, in_max).normal_(0.0, std))
        self.bias = nn.Parameter(torch.zeros(out_max))

    def forward(self, x: torch.Tensor, out_features: int, bias: bool) -> torch.Tensor:
        w = _sliced(self.weight, out_features, x.size(-1))
        b = _sliced(self.bias, out_features) if bias else None
        return F.linear(x, w, b)

    def dense_weights(self, in_features: int, out_features: int, bias: bool) -> dict[str, torch.Tensor]:
        """State dict of the equivalent ``nn.Linear``."""
        sd = {"weight": self.weight[:out_features, :in_features].detach().clone()}
        if bias:
            sd["bias"] = self.bias[:out_features].detach().clone()
        return sd


class SuperLayerNorm(nn.Module):
    """LayerNorm over the leading ``embed_dim`` channels of a ``dim_max``-wide norm."""

    def __init__(self, dim_max: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim_max))
        self.bias = nn.Parameter(torch.zeros(dim_max))

    def forward(self, x: torch.Tensor, bias: bool) -> torch.Tensor:
        e = x.size(-1)
        return F.layer_norm(x, (e,), _sliced(self.weight, e), _sliced(self.bias, e) if bias else None)

    def dense_weights(self, dim: int, bias: bool) -> dict[str, torch.Tensor]:
        sd = {"weight": self.weight[:dim].detach().clone()}
        if bias:
            sd["bias"] = self.bias[:dim].detach().clone()
        return sd


def residual_std(n_layer_max: int) -> float:
    """GPT-2 init of the projections that write into the residual stream."""
    return 0.02 / math.sqrt(2 * n_layer_max)
