"""Stateless pieces shared by the supernet and the extracted dense model."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rope_cache(block_size: int, head_size: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary embedding tables ``(cos, sin)``, each of shape ``(block_size, head_size)``."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_size, 2, dtype=torch.float32) / head_size))
    angles = torch.outer(torch.arange(block_size, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` of shape ``(B, H, T, hs)`` (GPT-NeoX half-split convention)."""
    half = x.size(-1) // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)


def causal_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, head_size: int, cos: torch.Tensor, sin: torch.Tensor
) -> torch.Tensor:
    """Multi-head causal self-attention with RoPE.

    Args:
        q, k, v: ``(B, T, H * head_size)`` projections.
        head_size: Width of one head.
        cos, sin: Rotary tables of at least ``T`` rows.

    Returns:
        ``(B, T, H * head_size)``.
    """
    B, T, C = q.shape
    H = C // head_size
    q, k, v = (t.view(B, T, H, head_size).transpose(1, 2) for t in (q, k, v))
    cos, sin = cos[:T], sin[:T]
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return y.transpose(1, 2).reshape(B, T, C)


def mlp(h: torch.Tensor, fc, proj) -> torch.Tensor:
    """GELU MLP; ``fc`` and ``proj`` are callables (layers or partials)."""
    return proj(F.gelu(fc(h)))
