"""Upstream-format pickles and repositories for the importer tests (never the real upstream repository)."""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import numpy as np


def arch_dict(embed: int, n_layer: int, heads: int, ratio: int, bias: bool = False, max_layers: int = 12) -> dict:
    """An arch in upstream's format: per-layer lists of the maximum depth, only the first n_layer active."""
    return {"sample_embed_dim": embed, "sample_n_layer": n_layer, "sample_layer_indices": list(range(n_layer)),
            "sample_n_head": [heads] * max_layers, "sample_mlp_ratio": [ratio] * max_layers, "sample_bias": bias}


def latency_record(arch: dict, ms: list[float]) -> dict:
    return {"arch": arch, "cpu_lat": None, "gpu_lat": np.float64(np.mean(ms)), "unit_gpu": ["ms"] * len(ms),
            "times_profiler_gpu": [float(x) for x in ms], "times_profiler_cpu": [], "params": 1, "flops": 1}


def energy_record(arch: dict, values: list[float]) -> dict:
    return {"arch": arch, "unit": "W", "unit_energy": "KWh", "energy_gpu": values, "emissions_gpu": [60.0] * 3,
            "mean_energy_gpu": np.float64(np.mean(values))}


class Upstream:
    """A git repository laid out like automl/HW-Aware-LLM-Bench at the imported commit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    def write(self, path: str, obj: object = None, raw: bytes | None = None) -> None:
        p = self.root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(raw if raw is not None else pickle.dumps(obj, protocol=4))

    def commit(self) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "data")
        return self.git("rev-parse", "HEAD")


