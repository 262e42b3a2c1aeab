"""How the published HW-GPT-Bench files map onto this project: devices, units, settings.

The facts (which model upstream profiled, at what batch, sequence length and dtype, what one energy
observation covers, which host is which CPU) were read off upstream's code at the imported commit;
:mod:`hwgpt.importers.upstream_model` holds them with the evidence (file and line), and the README's
"Fidelity of the published data" section states them for users.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwgpt.importers import upstream_model as up

#: upstream directory name (``latency_<dir>``, ``mem_<dir>``) -> device id (``conf/device/<id>.yaml``)
GPU_DIRS: dict[str, str] = {d: d.lower() for d in up.GPU_DIRS}
_CPU_IDS = {"Xeon Silver": "xeon_silver", "Xeon Gold": "xeon_gold", "EPYC 7502": "epyc_7502",
            "EPYC 7513": "epyc_7513", "EPYC 7452": "epyc_7452"}
#: upstream CPU host directory -> device id; None: the host upstream's API does not use (skipped, counted)
CPU_HOSTS: dict[str, str | None] = {**{d: _CPU_IDS[n] for d, n in up.CPU_HOSTS.items()},
                                    **{d: None for d in up.CPU_HOSTS_UNUSED}}
CPU_DEVICES = frozenset(v for v in CPU_HOSTS.values() if v)
_UPSTREAM_GPU = {v: k for k, v in GPU_DIRS.items()}

UNITS = {"latency": "s", "energy": "J", "memory": "B", "perplexity": "", "accuracy": ""}
#: published unit -> project unit (x factor); CPU latency carries its unit per observation (``unit_cpu``)
FACTORS = {"latency": 1e-3, "energy": up.ENERGY_SOURCE["joules_per_unit"],
           "memory": up.SETTINGS["memory"]["bytes_per_unit"], "perplexity": 1.0, "accuracy": 1.0}
CPU_LATENCY_UNITS = {"s": 1.0, "ms": 1e-3}


def is_cpu(device: str) -> bool:
    return device in CPU_DEVICES


def convert(metric: str, values: np.ndarray, device: str, units: list[str] | None = None) -> np.ndarray:
    """Published values -> the project's units (s per forward, J per forward, bytes).

    Args:
        units: CPU latency only: each observation's own unit (upstream's ``unit_cpu``, ``'s'`` or ``'ms'``).

    Raises:
        ValueError: CPU latency without a known unit for every observation.
    """
    v = np.asarray(values, dtype=np.float64)
    if metric == "latency" and is_cpu(device):
        if units is None or len(units) != len(v) or any(u not in CPU_LATENCY_UNITS for u in units):
            raise ValueError(f"CPU latency needs a unit in {sorted(CPU_LATENCY_UNITS)} per observation, got {units}")
        return v * np.array([CPU_LATENCY_UNITS[u] for u in units])
    return v * FACTORS[metric]


def settings(metric: str, scale: str, device: str) -> dict[str, Any]:
    """Measurement setting of a published metric: batch, tokens per sequence, dtype (autocast), threads."""
    if metric in ("perplexity", "accuracy"):
        return {"batch": None, "seq_len": up.SETTINGS["quality"]["seq_len"], "dtype": "float32", "threads": None}
    s = up.SETTINGS[metric]
    if is_cpu(device):
        dtype = up.SETTINGS["latency"]["cpu_dtype"]
    elif metric == "memory":
        dtype = up.MEMORY_DTYPE[_UPSTREAM_GPU[device]]
    else:
        dtype = up.GPU_DTYPE[_UPSTREAM_GPU[device]]
    return {"batch": s["batch"][scale], "seq_len": s["seq_len"], "dtype": dtype, "threads": None}


def identity(device: str) -> dict[str, Any]:
    """Identity recorded for an imported device: what upstream's files and configs say it was."""
    if device in CPU_DEVICES:
        host = next(d for d, v in CPU_HOSTS.items() if v == device)
        name = up.CPU_HOSTS[host]
        return {"id": device, "kind": "cpu", "name": ("Intel " if "Xeon" in name else "AMD ") + name,
                "upstream_dir": f"latency_{host}", "source": "published HW-GPT-Bench measurements"}
    if device in _UPSTREAM_GPU:
        return {"id": device, "kind": "gpu", "name": f"NVIDIA {_UPSTREAM_GPU[device].upper()}",
                "upstream_dir": f"latency_{_UPSTREAM_GPU[device]}", "source": "published HW-GPT-Bench measurements"}
    return {"id": device, "kind": "none", "source": "published HW-GPT-Bench measurements (device-independent)"}
