"""A standalone dense GPT of one architecture: ordinary layers, no slicing.

This is what :meth:`hwgpt.SuperGPT.extract` returns and what the profiler measures.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hwgpt.search_space import Arch, SearchSpace
from hwgpt.supernet.ops import causal_attention, mlp, rope_cache


class DenseBlock(nn.Module):
    """Parallel-residual block: ``x + attn(LN(x)) + mlp(LN(x))``."""

    def __init__(self, embed_dim: int, n_head: int, mlp_ratio: int, head_size: int, bias: bool) -> None:
        super().__init__()
        width, hidden = n_head * head_size, mlp_ratio * embed_dim
        self.head_size = head_size
        self.norm = nn.LayerNorm(embed_dim, bias=bias)
        self.q = nn.Linear(embed_dim, width, bias=bias)
        self.k = nn.Linear(embed_dim, width, bias=bias)
        self.v = nn.Linear(embed_dim, width, bias=bias)
        self.attn_proj = nn.Linear(width, embed_dim, bias=bias)
        self.fc = nn.Linear(embed_dim, hidden, bias=bias)
        self.fc_proj = nn.Linear(hidden, embed_dim, bias=bias)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        attn = causal_attention(self.q(h), self.k(h), self.v(h), self.head_size, cos, sin)
        return x + self.attn_proj(attn) + mlp(h, self.fc, self.fc_proj)


class DenseGPT(nn.Module):
    """GPT decoder of one fixed :class:`Arch` (RoPE, parallel residual, tied LM head)."""

    def __init__(self, arch: Arch, space: SearchSpace) -> None:
        super().__init__()
        self.arch, self.space = space.validate(arch), space
        self.wte = nn.Embedding(space.padded_vocab_size, arch.embed_dim)
        self.blocks = nn.ModuleList(
            DenseBlock(arch.embed_dim, h, r, space.head_size, arch.bias)
            for h, r in zip(arch.n_head, arch.mlp_ratio, strict=True)
        )
        self.ln_f = nn.LayerNorm(arch.embed_dim, bias=arch.bias)
        cos, sin = rope_cache(space.block_size, space.head_size)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """``idx (B, T)`` token ids -> logits ``(B, T, vocab_size)``."""
        if idx.size(1) > self.space.block_size:
            raise ValueError(f"sequence length {idx.size(1)} > block_size {self.space.block_size}")
        x = self.wte(idx)
        for block in self.blocks:
            x = block(x, self.cos, self.sin)
        return F.linear(self.ln_f(x), self.wte.weight[: self.space.vocab_size])
