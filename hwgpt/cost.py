"""Exact cost model: parameters, forward MACs/FLOPs and a memory estimate of one Arch or of many.

Computed from the architecture alone (no weights are allocated), so it works for every
scale. One implementation serves one arch (Python ints) and a batch of archs (int64 numpy
arrays, one entry per arch): :func:`breakdown` works on :class:`ArchArrays`, and the public
functions are thin wrappers over it. The surrogates' cost features
(:mod:`hwgpt.surrogates.features`) use the same :func:`breakdown`. Conventions:

* ``params`` equals ``sum(p.numel() for p in SuperGPT.extract(arch).parameters())``: the
  embedding has ``padded_vocab_size`` rows and is tied to the LM head.
* ``macs`` counts the multiply-accumulates of every matrix product of one forward pass:
  the q/k/v/output projections, ``QK^T`` and ``AV`` over the full ``T x T`` square (the causal
  mask is not halved, as in ``torch.utils.flop_counter``), the MLP, and the LM head over the
  ``vocab_size`` real tokens. Elementwise work (LayerNorm, GELU, softmax, RoPE, bias adds) is
  not counted. ``flops = 2 * macs``.

Every function validates its inputs the same way: archs must lie in ``space``; ``batch`` and
``seq_len`` are ints with ``batch >= 1`` and ``1 <= seq_len <= space.block_size``; results that
would overflow int64 are refused. Errors are :class:`hwgpt.errors.InvalidInput` (a ValueError).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hwgpt.errors import InvalidInput, InvalidType, check_int
from hwgpt.search_space import Arch, SearchSpace

SMALL_BATCH = 6
"""Up to this many archs are validated one by one (faster than the vectorised checks: measured on tiny, µs
per call one by one / vectorised, 4 archs 16 / 22, 8 archs 28 / 26, 16 archs 53 / 34)."""

_INT64_SAFE = float(2**62)


@dataclass(frozen=True)
class ArchArrays:
    """A batch of archs as integer arrays (per-layer slots past ``n_layer`` are 0).

    Attributes:
        embed: ``(N,)`` embedding dims.
        n_layer: ``(N,)`` depths.
        bias: ``(N,)`` 0/1.
        heads: ``(N, max_layers)`` heads per layer slot.
        ratios: ``(N, max_layers)`` MLP ratios per layer slot.
    """

    embed: np.ndarray
    n_layer: np.ndarray
    bias: np.ndarray
    heads: np.ndarray
    ratios: np.ndarray

    def __len__(self) -> int:
        return len(self.embed)


def _check_space(space: Any) -> SearchSpace:
    if not isinstance(space, SearchSpace):
        raise InvalidType(f"space must be an hwgpt.SearchSpace (e.g. SearchSpace.from_name('tiny')), "
                          f"got {type(space).__name__}")
    return space


def _raise_first_invalid(archs: Sequence[Any], space: SearchSpace) -> None:
    for a in archs:
        space.validate(a)  # raises the space's own error
    raise InvalidInput("invalid architecture batch")  # unreachable unless validate() disagrees


_CHOICES: dict[SearchSpace, dict[str, np.ndarray]] = {}


def _choices(space: SearchSpace) -> dict[str, np.ndarray]:
    """The allowed values of each field of ``space`` as arrays (cached per space)."""
    ch = _CHOICES.get(space)
    if ch is None:
        ch = _CHOICES[space] = {
            "embed": np.asarray(space.embed_dim), "n_layer": np.asarray(space.n_layer),
            "bias": np.asarray([int(b) for b in space.bias]),
            "heads": np.asarray(space.n_head), "ratios": np.asarray(space.mlp_ratio),
            "slots": np.arange(space.max_layers),
        }
    return ch


def arch_arrays(archs: Sequence[Arch], space: SearchSpace) -> ArchArrays:
    """Validate and convert archs to integer arrays, without a per-arch ``space.validate`` call.

    Raises:
        InvalidInput: the space's own error for the first arch outside ``space``.
    """
    _check_space(space)
    if isinstance(archs, (str, bytes)) or not isinstance(archs, Sequence):
        raise InvalidType(f"archs must be an hwgpt.Arch or a list of them, got {type(archs).__name__}")
    L = space.max_layers
    pads = {n: (0,) * (L - n) for n in range(L + 1)}
    try:
        rows = [(a.embed_dim, a.n_layer, a.bias) + a.n_head + pads[a.n_layer] + a.mlp_ratio + pads[a.n_layer]
                for a in archs]
    except (AttributeError, KeyError, TypeError):
        _raise_first_invalid(list(archs), space)
    if not rows:
        z = np.zeros(0, np.int64)
        return ArchArrays(z, z, z, np.zeros((0, L), np.int64), np.zeros((0, L), np.int64))
    m = np.array(rows, dtype=np.int64)
    if m.ndim != 2 or m.shape[1] != 3 + 2 * L:
        _raise_first_invalid(list(archs), space)
    embed, n_layer, bias, heads, ratios = m[:, 0], m[:, 1], m[:, 2], m[:, 3:3 + L], m[:, 3 + L:]
    if len(rows) <= SMALL_BATCH:  # per-arch validation is cheaper than the vectorised checks here
        for a in archs:
            space.validate(a)
        return ArchArrays(embed, n_layer, bias, heads, ratios)
    ch = _choices(space)
    active = ch["slots"][None, :] < n_layer[:, None]
    # membership by broadcast comparison against the few choices (np.isin sorts: ~10x the cost here)
    ok = (
        (embed[:, None] == ch["embed"]).any(axis=1)
        & (n_layer[:, None] == ch["n_layer"]).any(axis=1)
        & (bias[:, None] == ch["bias"]).any(axis=1)
        & ((heads[:, :, None] == ch["heads"]).any(axis=2) | ~active).all(axis=1)
        & ((ratios[:, :, None] == ch["ratios"]).any(axis=2) | ~active).all(axis=1)
        & all(isinstance(a, Arch) for a in archs)
    )
    if not ok.all():
        _raise_first_invalid([archs[int(np.argmin(ok))]], space)
    return ArchArrays(embed, n_layer, bias, heads, ratios)


def dtype_bytes(dtype: torch.dtype | str) -> int:
    """Bytes per element of a torch dtype or its name (``"float32"``, ``"torch.bfloat16"``...)."""
    if isinstance(dtype, torch.dtype):
        return dtype.itemsize
    if not isinstance(dtype, str):
        raise InvalidType(f"dtype must be a torch.dtype or its name, got {dtype!r} ({type(dtype).__name__})")
    dt = getattr(torch, dtype.removeprefix("torch."), None)
    if not isinstance(dt, torch.dtype):
        raise InvalidInput(f"unknown dtype {dtype!r}; use a torch dtype name such as 'float32', 'bfloat16', "
                           "'float16'")
    return dt.itemsize


def check_setting(space: SearchSpace, batch: Any = 1, seq_len: Any = None) -> tuple[int, int]:
    """Validated ``(batch, seq_len)``; ``seq_len=None`` means ``space.block_size``."""
    _check_space(space)
    b = check_int("batch", batch, min=1)
    if seq_len is None:
        return b, space.block_size
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)):
        raise InvalidType(f"seq_len must be an integer or None, got {seq_len!r} ({type(seq_len).__name__})")
    T = int(seq_len)
    if not 1 <= T <= space.block_size:
        raise InvalidInput(f"seq_len must be 1 <= seq_len <= {space.block_size} (block_size of scale "
                           f"{space.name!r}), got {T}")
    return b, T


def breakdown(
    aa: ArchArrays, space: SearchSpace, batch: Any = 1, seq_len: Any = None, dtype: torch.dtype | str = "float32",
) -> dict[str, np.ndarray]:
    """Every cost quantity of each arch, as int64 arrays: the one implementation of this module.

    Returns:
        ``params``, ``macs``, ``flops``, ``head_macs`` (LM head), ``proj_macs`` (q/k/v/out),
        ``attn_macs`` (QK^T and AV), ``mlp_macs``, ``weights``, ``kv_cache``, ``activations`` and
        ``memory`` (bytes; see :class:`MemoryEstimate`), ``head_sum`` and ``ratio_sum`` (over
        active layers).

    Raises:
        InvalidInput: bad ``batch``/``seq_len``/``dtype``, or a result beyond int64.
    """
    return breakdowns(aa, space, [(batch, seq_len, dtype)])[0]


def breakdowns(aa: ArchArrays, space: SearchSpace,
               settings: Sequence[tuple[Any, Any, Any]]) -> list[dict[str, np.ndarray]]:
    """:func:`breakdown` of the same archs in several settings ``(batch, seq_len, dtype)``, in order.

    What depends on the architecture alone (layer sums and maxima, parameters) is computed once; each
    setting then applies the same formulas (the same int64 operations as one :func:`breakdown` call,
    so the same values). The simulator fills the caches of surrogates measured in different settings
    (perplexity at batch 8, latency at batch 1) from one call.
    """
    checked = [(*check_setting(space, b, t), dtype_bytes(d)) for b, t, d in settings]
    if not isinstance(aa, ArchArrays):
        raise InvalidType(f"expected ArchArrays (from hwgpt.cost.arch_arrays), got {type(aa).__name__}")
    if len(aa):  # overflow guard, in float64 on the largest arch: every product below stays under 2**62
        e_max, L = float(aa.embed.max()), float(space.max_layers)
        w_max = float(space.head_size) * float(aa.heads.max(initial=0))
        r_max = float(aa.ratios.max(initial=0))
        for B, T, _ in checked:
            bound = B * T * (e_max * space.vocab_size + L * (4 * e_max * w_max + 2 * T * w_max + 2 * r_max * e_max**2))
            bound = max(bound, B * T * (e_max + space.vocab_size) * 8)
            if bound > _INT64_SAFE:
                raise InvalidInput(f"batch={B} x seq_len={T} is too large for scale {space.name!r}: the cost "
                                   "would exceed 2**62; use a smaller batch")
    e, b, n = aa.embed, aa.bias, aa.n_layer
    hsum, rsum = aa.heads.sum(axis=1), aa.ratios.sum(axis=1)
    hmax, rmax = aa.heads.max(axis=1, initial=0), aa.ratios.max(axis=1, initial=0)
    hs = space.head_size
    # Per layer: norm e(1+b); q,k,v,out 4*e*w + 3*b*w + b*e; MLP 2*e*hidden + b*hidden + b*e,
    # with w = heads * head_size and hidden = ratio * e; summed over layers in closed form.
    params = (space.padded_vocab_size * e + e * (1 + b)
              + n * (e * (1 + b) + 2 * b * e) + hs * hsum * (4 * e + 3 * b) + e * rsum * (2 * e + b))
    layer_peak = np.maximum(4 * hs * hmax, 2 * rmax * e)
    out = []
    for B, T, nbytes in checked:
        N = B * T
        head_macs = N * e * space.vocab_size
        proj_macs = 4 * N * e * hs * hsum
        attn_macs = 2 * B * T * T * hs * hsum
        mlp_macs = 2 * N * e * e * rsum
        macs = head_macs + proj_macs + attn_macs + mlp_macs
        kv = 2 * N * hs * hsum
        act = np.maximum(N * (2 * e + layer_peak), N * (e + space.vocab_size))
        out.append({
            "params": params, "macs": macs, "flops": 2 * macs, "head_macs": head_macs, "proj_macs": proj_macs,
            "attn_macs": attn_macs, "mlp_macs": mlp_macs, "weights": params * nbytes, "kv_cache": kv * nbytes,
            "activations": act * nbytes, "memory": (params + kv + act) * nbytes, "head_sum": hsum, "ratio_sum": rsum,
        })
    return out


def _compute(archs: Any, space: SearchSpace, batch: Any, seq_len: Any, dtype: Any = "float32") -> tuple[dict, bool]:
    _check_space(space)
    single = isinstance(archs, Arch)
    if isinstance(archs, ArchArrays):
        aa = archs
    else:
        aa = arch_arrays([archs] if single else archs, space)
    return breakdown(aa, space, batch, seq_len, dtype), single


def _out(x: np.ndarray, single: bool) -> int | np.ndarray:
    return int(x[0]) if single else x


def params(arch: Arch | Sequence[Arch], space: SearchSpace) -> int | np.ndarray:
    """Exact number of parameters: an int for one arch, an int64 array for a list of archs."""
    c, single = _compute(arch, space, 1, None)
    return _out(c["params"], single)


def macs(arch: Arch | Sequence[Arch], space: SearchSpace, batch: int = 1, seq_len: int | None = None,
         ) -> int | np.ndarray:
    """Multiply-accumulates of one forward pass over ``batch`` sequences of ``seq_len`` tokens."""
    c, single = _compute(arch, space, batch, seq_len)
    return _out(c["macs"], single)


def flops(arch: Arch | Sequence[Arch], space: SearchSpace, batch: int = 1, seq_len: int | None = None,
          ) -> int | np.ndarray:
    """Forward FLOPs: ``2 * macs`` (one multiply and one add per MAC)."""
    c, single = _compute(arch, space, batch, seq_len)
    return _out(c["flops"], single)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of one forward pass (inference, no autograd); ints for one arch, arrays for many.

    Attributes:
        weights: Parameters at the given dtype.
        kv_cache: Keys and values of every layer for ``batch x seq_len`` tokens.
        activations: Estimated peak of live activations: the residual stream, the normed input
            and the largest of one layer's attention (q, k, v, output) or MLP (hidden before and
            after GELU) working set, or the logits at the end. Attention scores are not counted
            (fused SDPA kernels do not materialise them).
    """

    weights: Any
    kv_cache: Any
    activations: Any

    @property
    def total(self) -> Any:
        return self.weights + self.kv_cache + self.activations


def memory(
    arch: Arch | Sequence[Arch], space: SearchSpace, batch: int = 1, seq_len: int | None = None,
    dtype: torch.dtype | str = torch.float32,
) -> MemoryEstimate:
    """Memory of the weights, the KV cache and an activation-peak estimate, in bytes."""
    c, single = _compute(arch, space, batch, seq_len, dtype)
    return MemoryEstimate(_out(c["weights"], single), _out(c["kv_cache"], single), _out(c["activations"], single))
