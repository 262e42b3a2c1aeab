"""Keyed random draws: the uniform behind every simulated observation is a hash of its key.

The uniform of the draw ``(seed, arch, stream, repeat)`` is splitmix64's finaliser (Steele et al. 2014)
applied to the key, 53 bits of it, so draws are independent across seeds, architectures, metrics and
devices (``stream`` is the 64-bit key of ``"metric@device"``), and the same for the same key whether
drawn alone or in a batch, in any order, in any process: integer hashing, exact in Python and in numpy's
uint64 arithmetic alike.
"""

from __future__ import annotations

import hashlib

import numpy as np

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix(z: int) -> int:
    """splitmix64's finaliser (Steele et al. 2014): a bijective 64-bit mixer."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix_np(z: np.ndarray) -> np.ndarray:
    """:func:`_mix` on uint64 arrays (wrapping arithmetic, bit-identical)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stream_key(name: str) -> int:
    """64-bit key of a draw stream (``"latency@cpu"``), stable across processes."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def draw_key(seed: int, arch_key: int, stream: int) -> int:
    """64-bit key of the draws ``(seed, arch, stream)``; repeat ``r`` is :func:`uniform_of` ``(key, r)``."""
    return _mix(_mix(_mix(((seed & _M64) + _GOLDEN) & _M64) ^ stream) ^ arch_key)


def uniform_of(key: int, repeat: int = 0) -> float:
    """The uniform in (0, 1) of repeat ``repeat`` under ``key``: 53 bits of a hash."""
    return ((_mix((key + (repeat + 1) * _GOLDEN) & _M64) >> 11) + 0.5) * 2.0 ** -53


def keyed_uniform(seed: int, arch_key: int, stream: int, repeat: int = 0) -> float:
    """The uniform in (0, 1) behind the draw ``(seed, arch, stream, repeat)``."""
    return uniform_of(draw_key(seed, arch_key, stream), repeat)


def keyed_uniforms(seed: np.ndarray, arch_key: np.ndarray, stream: int, repeat: np.ndarray) -> np.ndarray:
    """Vectorised :func:`keyed_uniform` (broadcasting its uint64 arguments); bit-identical."""
    with np.errstate(over="ignore"):
        s = np.asarray(seed).astype(np.uint64) + np.uint64(_GOLDEN)
        z = _mix_np(_mix_np(_mix_np(s) ^ np.uint64(stream)) ^ np.asarray(arch_key, dtype=np.uint64))
        r = (np.asarray(repeat).astype(np.uint64) + np.uint64(1)) * np.uint64(_GOLDEN)
        z = _mix_np(z + r)
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53
