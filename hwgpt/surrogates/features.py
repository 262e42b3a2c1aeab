"""Architectures -> feature matrices for the surrogates, vectorised over lists of archs.

The features are the search space's numeric encoding (:meth:`SearchSpace.encode`) followed by
exact cost features from :func:`hwgpt.cost.breakdown` (the one cost model: the same code and the
same validation as ``hwgpt.cost.flops`` and friends): parameters, forward FLOPs split by part, the memory
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

from hwgpt import cost, libm
from hwgpt.cost import SMALL_BATCH, ArchArrays, arch_arrays, dtype_bytes
from hwgpt.errors import check_int
from hwgpt.search_space import Arch, SearchSpace

__all__ = ["COST_FEATURES", "SMALL_BATCH", "ArchArrays", "FeatureSpec", "arch_arrays", "build_features",
           "cost_arrays", "dtype_bytes", "feature_names", "features", "features_by_spec"]

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
        check_int("FeatureSpec batch", self.batch, min=1)
        check_int("FeatureSpec seq_len", self.seq_len, min=1)
        dtype_bytes(self.dtype)

    def to_dict(self) -> dict:
        return asdict(self)


def feature_names(space: SearchSpace) -> list[str]:
    """Column names of :func:`features` for ``space``."""
    return list(space.feature_names) + list(COST_FEATURES)


def cost_arrays(aa: ArchArrays, space: SearchSpace, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Exact cost quantities of each arch from :func:`hwgpt.cost.breakdown`, as float64.

    Returns:
        ``params``, ``macs``, ``flops``, ``attn_flops`` (QK^T and AV), ``proj_flops`` (q/k/v/out),
        ``mlp_flops``, ``head_flops`` (LM head), ``kv_bytes``, ``memory`` (MemoryEstimate.total),
        ``head_sum`` and ``ratio_sum`` (over active layers).
    """
    c = cost.breakdown(aa, space, spec.batch, spec.seq_len, spec.dtype)
    f = {k: v.astype(np.float64) for k, v in c.items()}
    return {
        "params": f["params"], "macs": f["macs"], "flops": f["flops"], "attn_flops": 2 * f["attn_macs"],
        "proj_flops": 2 * f["proj_macs"], "mlp_flops": 2 * f["mlp_macs"], "head_flops": 2 * f["head_macs"],
        "kv_bytes": f["kv_cache"], "memory": f["memory"], "head_sum": f["head_sum"], "ratio_sum": f["ratio_sum"],
    }


def features(aa: ArchArrays, space: SearchSpace, spec: FeatureSpec) -> np.ndarray:
    """Feature matrix ``(N, len(feature_names(space)))``: encoding then cost features."""
    return features_by_spec(aa, space, [spec])[spec]


_SETTING_LOGS = ("flops", "attn_macs", "proj_macs", "mlp_macs", "memory", "kv_cache")
"""The breakdown quantities behind the cost columns that depend on the setting, in :data:`COST_FEATURES`
order after ``log10_params`` (MACs count twice: FLOPs, as in :func:`cost_arrays`)."""
_SETTING_DOUBLED = np.array([False, True, True, True, False, False])
"""Which of :data:`_SETTING_LOGS` are MACs (doubled into FLOPs)."""


def features_by_spec(aa: ArchArrays, space: SearchSpace, specs: list[FeatureSpec]) -> dict[FeatureSpec, np.ndarray]:
    """:func:`features` of the same archs for each of ``specs`` (the same values), with what does not
    depend on the setting (the encoding, layer sums and means, ``log10_params``) computed once: one
    batch of new archs fills the caches of surrogates measured in different settings."""
    specs = list(dict.fromkeys(specs))
    cs = cost.breakdowns(aa, space, [(s.batch, s.seq_len, s.dtype) for s in specs])
    n = np.maximum(aa.n_layer.astype(np.float64), 1)
    hsum, rsum = cs[0]["head_sum"].astype(np.float64), cs[0]["ratio_sum"].astype(np.float64)
    # The logged quantities as float64 in one conversion (params once, then each setting's six), MACs
    # doubled (exact), then log10 by libm (the same bits on every CPU, hwgpt.libm); as cost_arrays + features.
    f = np.stack([cs[0]["params"], *(c[k] for c in cs for k in _SETTING_LOGS)]).astype(np.float64)
    f[np.concatenate([[False], np.tile(_SETTING_DOUBLED, len(specs))])] *= 2
    logs = libm.log10(np.maximum(f, 1.0))
    base = np.empty((len(aa), len(feature_names(space))), dtype=np.float64)
    base[:, 0], base[:, 1], base[:, 2] = aa.embed, aa.n_layer, aa.bias
    L = space.max_layers
    base[:, 3:3 + L], base[:, 3 + L:3 + 2 * L] = aa.heads, aa.ratios
    j0 = 3 + 2 * L  # the cost columns: log10_params, the six setting columns, then the sums and means
    base[:, j0] = logs[0]
    for j, col in enumerate((hsum, hsum / n, rsum, rsum / n)):
        base[:, j0 + 7 + j] = col
    out = {}
    for i, s in enumerate(specs):
        X = base if i == len(specs) - 1 else base.copy()
        X[:, j0 + 1:j0 + 7] = logs[1 + 6 * i:7 + 6 * i].T
        out[s] = X
    return out


def build_features(archs: Arch | list[Arch], space: SearchSpace, spec: FeatureSpec) -> np.ndarray:
    """:func:`arch_arrays` then :func:`features`; a single arch gives one row."""
    if isinstance(archs, Arch):
        archs = [archs]
    return features(arch_arrays(archs, space), space, spec)
