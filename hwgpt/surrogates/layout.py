"""Where surrogate artifacts are on disk: ``<root>/<scale>/<device>/<metric>.*`` and the shipped root.

A root holds one directory per scale, each with one directory per device. While
:func:`hwgpt.surrogates.artifacts.save` swaps a device directory without an atomic exchange, the
previous generation is parked as ``.<device>.previous``; :func:`device_dir` and :func:`device_names`
read it then. Staging directories (``.<device>.gen-<pid>``) are never listed. Standard library only:
:mod:`hwgpt.surrogates.userdirs` and :mod:`hwgpt.surrogates.artifacts` both read this layout.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

META_SUFFIX = ".meta.json"


def package_root() -> Traversable:
    """The shipped artifact root, ``hwgpt/artifacts/surrogates``."""
    return resources.files("hwgpt").joinpath("artifacts", "surrogates")


def _previous(d: Path) -> Path:
    """Where a switch that could not swap atomically parks the previous generation of ``d``."""
    return d.with_name(f".{d.name}.previous")


def device_dir(root: Traversable, scale: str, device: str) -> Traversable:
    """``<root>/<scale>/<device>``; while a non-atomic switch is half done, the previous generation.

    Where the file system cannot swap two directories atomically, :func:`~hwgpt.surrogates.artifacts.save`
    renames the current directory aside (``.<device>.previous``) before moving the new one in; a kill
    between the two renames leaves no ``<device>``, and this returns the previous, complete, generation
    instead.
    """
    d = root.joinpath(scale, device)
    if isinstance(d, Path) and not d.is_dir() and _previous(d).is_dir():
        return _previous(d)
    return d


def device_names(scale_dir: Traversable) -> list[str]:
    """Device directories of a scale directory (a parked previous generation counts; staging ones do not)."""
    names = set()
    for dd in scale_dir.iterdir():
        if not dd.is_dir():
            continue
        if not dd.name.startswith("."):
            names.add(dd.name)
        elif dd.name.endswith(".previous") and not scale_dir.joinpath(dd.name[1:-len(".previous")]).is_dir():
            names.add(dd.name[1:-len(".previous")])
    return sorted(names)
