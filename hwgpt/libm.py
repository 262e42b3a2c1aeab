"""Elementwise transcendental functions by the C library, one code path per value, on any CPU.

numpy dispatches ``exp``, ``log``, ``log10`` ... to SIMD kernels chosen by the CPU it runs on (AVX-512
and SVML on some machines of one kind, plain loops on others), and those differ from the C library's
``math.exp`` in the last bit on a few percent of inputs. Every value the benchmark reports (features,
medians, intervals, draws) goes through these functions instead, so its bits depend neither on the
CPU's vector width nor on numpy's dispatch nor on how the value was batched (a single draw computes its
value with ``math`` too). ``tests/test_simd_independence.py`` checks this with numpy's SIMD targets
disabled in a child process. Cost: ~0.1 µs per element.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def _elementwise(f: Callable[[float], float], x: np.ndarray | float) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return np.fromiter(map(f, a.ravel().tolist()), np.float64, a.size).reshape(a.shape)


def exp(x: np.ndarray | float) -> np.ndarray:
    """``e**x`` elementwise (``math.exp``), float64, ``x``'s shape."""
    return _elementwise(math.exp, x)


def log(x: np.ndarray | float) -> np.ndarray:
    """Natural log elementwise (``math.log``), float64, ``x``'s shape."""
    return _elementwise(math.log, x)


def log10(x: np.ndarray | float) -> np.ndarray:
    """Base-10 log elementwise (``math.log10``), float64, ``x``'s shape."""
    return _elementwise(math.log10, x)
