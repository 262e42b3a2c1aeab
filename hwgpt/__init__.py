"""hwgpt: a hardware-aware architecture benchmark for GPT-style language models."""

from __future__ import annotations

from hwgpt import cost
from hwgpt.provenance import __version__
from hwgpt.search_space import Arch, SearchSpace
from hwgpt.supernet import DenseGPT, SuperGPT

__all__ = ["Arch", "Benchmark", "DenseGPT", "SearchSpace", "SuperGPT", "__version__", "cost"]


def __getattr__(name: str):
    # The benchmark pulls in xgboost; import it only when asked for.
    if name == "Benchmark":
        from hwgpt.benchmark import Benchmark

        return Benchmark
    raise AttributeError(f"module 'hwgpt' has no attribute {name!r}")
