"""Exact cost model: parameters, forward MACs/FLOPs and a memory estimate of an Arch.

Computed from the architecture alone (no weights are allocated), so it works for every
scale. Conventions:

* ``params`` equals ``sum(p.numel() for p in SuperGPT.extract(arch).parameters())``: the
  embedding has ``padded_vocab_size`` rows and is tied to the LM head.
* ``macs`` counts the multiply-accumulates of every matrix product of one forward pass:
  the q/k/v/output projections, ``QK^T`` and ``AV`` over the full ``T x T`` square (the causal
  mask is not halved, as in ``torch.utils.flop_counter``), the MLP, and the LM head over the
  ``vocab_size`` real tokens. Elementwise work (LayerNorm, GELU, softmax, RoPE, bias adds) is
  not counted. ``flops = 2 * macs``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hwgpt.search_space import Arch, SearchSpace


def params(arch: Arch, space: SearchSpace) -> int:
    """Exact number of parameters of the sub-network ``arch``."""
    space.validate(arch)
    e, hs, b = arch.embed_dim, space.head_size, int(arch.bias)
    total = space.padded_vocab_size * e + e * (1 + b)  # tied embedding/head, final norm
    for h, r in zip(arch.n_head, arch.mlp_ratio, strict=True):
        w, hidden = h * hs, r * e
        total += e * (1 + b)  # block norm
        total += 3 * (e * w + b * w) + (w * e + b * e)  # q, k, v, attention projection
        total += (e * hidden + b * hidden) + (hidden * e + b * e)  # MLP
    return total


def macs(arch: Arch, space: SearchSpace, batch: int = 1, seq_len: int | None = None) -> int:
    """Multiply-accumulates of one forward pass over ``batch`` sequences of ``seq_len`` tokens."""
    space.validate(arch)
    T = space.block_size if seq_len is None else seq_len
    if batch < 1 or not 1 <= T <= space.block_size:
        raise ValueError(f"need batch >= 1 and 1 <= seq_len <= {space.block_size}, got {batch}, {T}")
    e, hs, N = arch.embed_dim, space.head_size, batch * T
    total = N * e * space.vocab_size  # LM head
    for h, r in zip(arch.n_head, arch.mlp_ratio, strict=True):
        w = h * hs
        total += 4 * N * e * w  # q, k, v, attention projection
        total += 2 * batch * h * T * T * hs  # QK^T and AV
        total += 2 * N * e * r * e  # MLP
    return total


def flops(arch: Arch, space: SearchSpace, batch: int = 1, seq_len: int | None = None) -> int:
    """Forward FLOPs: ``2 * macs`` (one multiply and one add per MAC)."""
    return 2 * macs(arch, space, batch, seq_len)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of one forward pass (inference, no autograd).

    Attributes:
        weights: Parameters at the given dtype.
        kv_cache: Keys and values of every layer for ``batch x seq_len`` tokens.
        activations: Estimated peak of live activations: the residual stream, the normed input
            and the largest of one layer's attention (q, k, v, output) or MLP (hidden before and
            after GELU) working set, or the logits at the end. Attention scores are not counted
            (fused SDPA kernels do not materialise them).
    """

    weights: int
    kv_cache: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.activations


def memory(
    arch: Arch, space: SearchSpace, batch: int = 1, seq_len: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> MemoryEstimate:
    """Memory of the weights, the KV cache and an activation-peak estimate, in bytes."""
    T = space.block_size if seq_len is None else seq_len
    nbytes = torch.empty((), dtype=dtype).element_size()
    e, hs, N = arch.embed_dim, space.head_size, batch * T
    kv = sum(2 * N * h * hs for h in arch.n_head)
    layer_peak = max(max(4 * h * hs, 2 * r * e) for h, r in zip(arch.n_head, arch.mlp_ratio, strict=True))
    act = max(N * (2 * e + layer_peak), N * (e + space.vocab_size))
    return MemoryEstimate(params(arch, space) * nbytes, kv * nbytes, act * nbytes)
