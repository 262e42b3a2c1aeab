"""How the published HW-GPT-Bench files map onto this project: devices, units, settings.

The facts behind these tables (which model upstream profiled, at what batch, sequence length and
dtype, what one energy observation covers, which host is which CPU) were read off upstream's code
at the imported commit; :mod:`hwgpt.importers.upstream_model` holds them with the evidence, and the
README's "Fidelity of the published data" section states them for users.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: upstream directory name (``latency_<dir>``, ``mem_<dir>``) -> device id (``conf/device/<id>.yaml``)
GPU_DIRS: dict[str, str] = {
    "a100": "a100", "a40": "a40", "a6000": "a6000", "h100": "h100", "P100": "p100",
    "rtx2080": "rtx2080", "rtx3080": "rtx3080", "v100": "v100",
}
#: upstream CPU host directory -> device id; None: a host not used (a duplicate), skipped with a reason
CPU_HOSTS: dict[str, str | None] = {
    "cpu_a6000": "epyc_7513", "cpu_alldlc": "xeon_silver", "cpu_meta": "xeon_gold", "cpu_mlgpu": "epyc_7452",
    "cpu_p100": "epyc_7502", "helix_cpu": None,
}
CPU_DEVICES = frozenset(v for v in CPU_HOSTS.values() if v)

UNITS = {"latency": "s", "energy": "J", "memory": "B", "perplexity": "", "accuracy": ""}

#: upstream's unit -> SI factor of each metric (published value x factor = project unit)
_FACTOR_GPU = {"latency": 1e-3, "energy": 3600.0, "memory": 2.0**20, "perplexity": 1.0, "accuracy": 1.0}
_FACTOR_CPU = {"latency": 1.0}


def is_cpu(device: str) -> bool:
    return device in CPU_DEVICES


def convert(metric: str, values: np.ndarray, device: str) -> np.ndarray:
    """Published values -> the project's units (s per forward, J per forward, bytes)."""
    f = (_FACTOR_CPU if is_cpu(device) else _FACTOR_GPU).get(metric, _FACTOR_GPU[metric])
    return np.asarray(values, dtype=np.float64) * f


def settings(metric: str, scale: str, device: str) -> dict[str, Any]:
    """Measurement setting of a published metric (batch, tokens, dtype, threads)."""
    if metric in ("perplexity", "accuracy"):
        return {"batch": None, "seq_len": 1024, "dtype": "float32", "threads": None}
    return {"batch": 8, "seq_len": 1024, "dtype": "float32", "threads": None}


def identity(device: str) -> dict[str, Any]:
    """Identity recorded for an imported device (what upstream says it was)."""
    return {"id": device, "source": "published HW-GPT-Bench measurements", "kind": "cpu" if is_cpu(device) else "gpu"}
