"""Integrity of an artifact directory: atomic file writes, the directory lock and ``manifest.json``.

Every artifact directory ``<root>/<scale>/<device>/`` holds ``manifest.json``: the SHA-256 and size of
every file in it, the metadata included. Loads check the files they read against it
(:func:`_check_file`), so editing a ``.meta.json`` or swapping a model file raises
:class:`~hwgpt.errors.ArtifactIntegrityError` naming the file. ``python -m hwgpt.surrogates.artifacts
{manifest,verify} DIR...`` runs :func:`write_manifest` / :func:`verify_dir` by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from hwgpt.errors import ArtifactError, ArtifactIntegrityError

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(d: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _is_tmp(name: str) -> bool:
    return ".tmp" in name or name.startswith(".")


@contextlib.contextmanager
def _dir_lock(d: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the directory itself (no lock file left behind).

    :func:`save` locks the scale directory (its device directories are swapped, the scale's stays).
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock
        yield
        return
    fd = os.open(d, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _manifest_of(d: Path) -> dict[str, Any]:
    files = {}
    for f in sorted(d.iterdir(), key=lambda p: p.name):
        if f.is_file() and f.name != MANIFEST and not _is_tmp(f.name):
            data = f.read_bytes()
            files[f.name] = {"sha256": _sha(data), "bytes": len(data)}
    return {"manifest_version": MANIFEST_VERSION, "files": files}


def write_manifest(directory: str | Path) -> Path:
    """(Re)write ``<directory>/manifest.json`` from the files there now; returns its path.

    Only do this for files you trust: the manifest is what later loads are checked against.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ArtifactError(f"artifact directory {d} does not exist")
    with _dir_lock(d):
        path = d / MANIFEST
        _write(path, json.dumps(_manifest_of(d), indent=1, sort_keys=True).encode())
    return path


def _read_manifest(d: Traversable) -> dict[str, Any]:
    path = d.joinpath(MANIFEST)
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError as e:
        raise ArtifactIntegrityError(
            f"artifact directory {d} has no {MANIFEST}, so its files cannot be checked; if you trust them, "
            f"write one with `python -m hwgpt.surrogates.artifacts manifest {d}` (or re-fit)"
        ) from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactIntegrityError(f"{path} is corrupt (not valid JSON: {e}); restore it or re-fit") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ArtifactIntegrityError(f"{path} is corrupt: expected an object with a 'files' table")
    return manifest


def _check_file(d: Traversable, name: str, data: bytes, manifest: dict[str, Any]) -> None:
    info = manifest["files"].get(name)
    if info is None:
        raise ArtifactIntegrityError(f"artifact file {d.joinpath(name)} is not listed in {d.joinpath(MANIFEST)}; "
                                     "it was added after the manifest was written (re-fit, or rewrite the manifest "
                                     "if you trust it)")
    if not isinstance(info, dict) or _sha(data) != info.get("sha256"):
        raise ArtifactIntegrityError(f"artifact file {d.joinpath(name)} was changed: its SHA-256 does not match "
                                     f"{d.joinpath(MANIFEST)}; restore it or re-fit")


def verify_dir(directory: str | Path | Traversable) -> list[str]:
    """Check every file of an artifact directory against its manifest; returns the names checked.

    Raises:
        ArtifactIntegrityError: the first missing, unlisted or changed file, by name.
    """
    d = Path(directory) if isinstance(directory, (str, os.PathLike)) else directory
    if not d.is_dir():
        raise ArtifactError(f"artifact directory {d} does not exist (or is not a directory)")
    manifest = _read_manifest(d)
    present = sorted(f.name for f in d.iterdir() if f.is_file() and f.name != MANIFEST and not _is_tmp(f.name))
    for name in manifest["files"]:
        if name not in present:
            raise ArtifactIntegrityError(f"artifact file {d.joinpath(name)} (listed in {d.joinpath(MANIFEST)}) "
                                         "is missing")
    for name in present:
        _check_file(d, name, d.joinpath(name).read_bytes(), manifest)
    return present


def _entry(data: bytes) -> dict[str, Any]:
    return {"sha256": _sha(data), "bytes": len(data)}


def _old_entries(d: Path) -> dict[str, Any]:
    """The manifest entries of the current generation (empty without a readable manifest)."""
    try:
        files = json.loads((d / MANIFEST).read_bytes()).get("files")
    except (OSError, ValueError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}
