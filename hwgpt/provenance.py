"""Provenance recorded with measurements and surrogates: this package's version, the versions of the
packages a result depends on, and file hashes.

A leaf module (standard library only), so every stage can record where its outputs came from without
importing the package's top level (:mod:`hwgpt` re-exports :data:`__version__`).
"""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

__version__ = "0.1.0"


def versions() -> dict[str, str]:
    """Versions of the packages a surrogate depends on."""
    out = {"python": platform.python_version()}
    for pkg in ("hwgpt", "xgboost", "numpy", "scikit-learn", "scipy", "pandas"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
