"""Architectures -> feature matrices for the surrogates, vectorised over lists of archs.

The features are the search space's numeric encoding (:meth:`SearchSpace.encode`) followed by
exact cost features computed in closed form (they equal :mod:`hwgpt.cost` to the last bit,
see ``tests/surrogates/test_features.py``): parameters, forward FLOPs split by part, the memory
estimate, and per-arch sums and means of heads and MLP ratios. Cost features that span orders of
magnitude enter as ``log10``, which trees ignore and the MLP needs.

Cost features depend on the measurement setting (batch, sequence length, dtype), recorded in a
:class:`FeatureSpec` with each surrogate. :func:`arch_arrays` turns a list of archs into integer
arrays once (the slow, Python-level part); :func:`features` is then pure numpy, so one batched
query encodes once and serves every surrogate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from hwgpt.search_space import Arch, SearchSpace

COST_FEATURES = (
    "log10_params",
    "log10_flops",
    "log10_attn_flops",
    "log10_proj_flops",
    "log10_mlp_flops",
    "log10_memory",
    "log10_kv_bytes",
    "head_sum",
    "head_mean",
    "ratio_sum",
    "ratio_mean",
)


SMALL_BATCH = 16
"""Up to this many archs are validated one by one (faster than the vectorised checks)."""


@dataclass(frozen=True)
class FeatureSpec:
    """The measurement setting the cost features are computed for.

    Attributes:
        batch: Sequences per forward pass.
        seq_len: Tokens per sequence.
        dtype: torch dtype name of the weights and activations (``"float32"``, ``"bfloat16"``...).
    """

    batch: int = 1
    seq_len: int = 256
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.batch < 1 or self.seq_len < 1:
            raise ValueError(f"FeatureSpec needs batch >= 1 and seq_len >= 1, got {self.batch}, {self.seq_len}")
        dtype_bytes(self.dtype)

    def to_dict(self) -> dict:
        return asdict(self)


def dtype_bytes(name: str) -> int:
    """Bytes per element of the torch dtype called ``name`` (``"float32"``, ``"torch.bfloat16"``...)."""
    dt = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dt, torch.dtype):
        raise ValueError(f"unknown dtype {name!r}; use a torch dtype name such as 'float32', 'bfloat16', 'float16'")
    return torch.empty((), dtype=dt).element_size()


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


def feature_names(space: SearchSpace) -> list[str]:
    """Column names of :func:`features` for ``space``."""
    return list(space.feature_names) + list(COST_FEATURES)


def _raise_first_invalid(archs: list, space: SearchSpace) -> None:
    for a in archs:
        space.validate(a)  # raises the space's own ValueError
    raise ValueError("invalid architecture batch")  # unreachable unless validate() disagrees


def arch_arrays(archs: list[Arch] | tuple[Arch, ...], space: SearchSpace) -> ArchArrays:
    """Validate and convert archs to integer arrays, without a per-arch ``space.validate`` call.

    Raises:
        ValueError: the space's own error for the first arch outside ``space``.
    """
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
    active = np.arange(L)[None, :] < n_layer[:, None]
    ok = (
        np.isin(embed, space.embed_dim)
        & np.isin(n_layer, space.n_layer)
        & np.isin(bias, [int(b) for b in space.bias])
        & np.where(active, np.isin(heads, space.n_head), True).all(axis=1)
        & np.where(active, np.isin(ratios, space.mlp_ratio), True).all(axis=1)
    )
    if not ok.all():
        space.validate(archs[int(np.argmin(ok))])
    return ArchArrays(embed, n_layer, bias, heads, ratios)


def cost_arrays(aa: ArchArrays, space: SearchSpace, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Exact cost quantities of each arch, equal to :mod:`hwgpt.cost` (as float64).

    Returns:
        ``params``, ``macs``, ``flops``, ``attn_flops`` (QK^T and AV), ``proj_flops`` (q/k/v/out),
        ``mlp_flops``, ``head_flops`` (LM head), ``kv_bytes``, ``memory`` (MemoryEstimate.total),
        ``head_sum`` and ``ratio_sum`` (over active layers).
    """
    if not 1 <= spec.seq_len <= space.block_size:
        raise ValueError(f"seq_len must be in [1, {space.block_size}] for scale {space.name!r}, got {spec.seq_len}")
    f64 = np.float64
    e, b, n = aa.embed.astype(f64), aa.bias.astype(f64), aa.n_layer.astype(f64)
    hsum, rsum = aa.heads.sum(axis=1).astype(f64), aa.ratios.sum(axis=1).astype(f64)
    hmax, rmax = aa.heads.max(axis=1).astype(f64), aa.ratios.max(axis=1).astype(f64)
    hs, T, B = float(space.head_size), float(spec.seq_len), float(spec.batch)
    N = B * T
    # Per layer: norm e(1+b); q,k,v,out 4*e*w + 3*b*w + b*e; MLP 2*e*hidden + b*hidden + b*e,
    # with w = heads * head_size and hidden = ratio * e; summed over layers in closed form.
    params = (space.padded_vocab_size * e + e * (1 + b)
              + n * (e * (1 + b) + 2 * b * e) + hs * hsum * (4 * e + 3 * b) + e * rsum * (2 * e + b))
    head_macs = N * e * space.vocab_size
    proj_macs = 4 * N * e * hs * hsum
    attn_macs = 2 * B * T * T * hs * hsum
    mlp_macs = 2 * N * e * e * rsum
    macs = head_macs + proj_macs + attn_macs + mlp_macs
    nbytes = dtype_bytes(spec.dtype)
    kv = 2 * N * hs * hsum
    layer_peak = np.maximum(4 * hs * hmax, 2 * rmax * e)
    act = np.maximum(N * (2 * e + layer_peak), N * (e + space.vocab_size))
    return {
        "params": params, "macs": macs, "flops": 2 * macs, "attn_flops": 2 * attn_macs,
        "proj_flops": 2 * proj_macs, "mlp_flops": 2 * mlp_macs, "head_flops": 2 * head_macs,
        "kv_bytes": kv * nbytes, "memory": (params + kv + act) * nbytes, "head_sum": hsum, "ratio_sum": rsum,
    }


def features(aa: ArchArrays, space: SearchSpace, spec: FeatureSpec) -> np.ndarray:
    """Feature matrix ``(N, len(feature_names(space)))``: encoding then cost features."""
    c = cost_arrays(aa, space, spec)
    n = np.maximum(aa.n_layer.astype(np.float64), 1)
    hsum, rsum = c["head_sum"], c["ratio_sum"]
    lg = lambda x: np.log10(np.maximum(x, 1.0))
    out = np.empty((len(aa), len(feature_names(space))), dtype=np.float64)
    out[:, 0], out[:, 1], out[:, 2] = aa.embed, aa.n_layer, aa.bias
    L = space.max_layers
    out[:, 3:3 + L], out[:, 3 + L:3 + 2 * L] = aa.heads, aa.ratios
    cols = [
        lg(c["params"]), lg(c["flops"]), lg(c["attn_flops"]), lg(c["proj_flops"]), lg(c["mlp_flops"]),
        lg(c["memory"]), lg(c["kv_bytes"]), hsum, hsum / n, rsum, rsum / n,
    ]
    for j, col in enumerate(cols):
        out[:, 3 + 2 * L + j] = col
    return out


def build_features(archs: Arch | list[Arch], space: SearchSpace, spec: FeatureSpec) -> np.ndarray:
    """:func:`arch_arrays` then :func:`features`; a single arch gives one row."""
    if isinstance(archs, Arch):
        archs = [archs]
    return features(arch_arrays(archs, space), space, spec)
