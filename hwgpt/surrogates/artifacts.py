"""Surrogate artifacts on disk: ``<root>/<scale>/<device>/<metric>.<role>.<ubj|json>`` + ``<metric>.meta.json``.

Model files are XGBoost's own UBJSON (``save_raw("ubj")``) or, for the MLP, a JSON of its weights;
never pickles. The metadata (JSON) records the schema version, the kind and model, feature names
and setting, quantile levels, conformal corrections, the validation report, the data's hashes,
settings, package versions and device identity, plus the SHA-256 of each model file, checked on
load. The meta file is written last, so a half-written artifact is never picked up.

**Manifest** (:mod:`hwgpt.surrogates.manifest`). Every artifact directory ``<root>/<scale>/<device>/``
holds ``manifest.json``: the SHA-256 and size of every file in it, the metadata included. :func:`load`
and :func:`read_meta` check the files they read against it, so editing a ``.meta.json`` (even into other
valid JSON) or swapping a model file raises :class:`ArtifactIntegrityError` naming the file. :func:`save`
rewrites the manifest (under a lock on the directory), so re-fits and new surrogates always have one; to
(re)write or check the manifest of a directory by hand::

    python -m hwgpt.surrogates.artifacts manifest hwgpt/artifacts/surrogates/tiny/cpu
    python -m hwgpt.surrogates.artifacts verify hwgpt/artifacts/surrogates/*/*/

The shipped root is ``hwgpt/artifacts/surrogates`` inside the package, read through
:mod:`importlib.resources`; any other directory can be given instead. Where the files of a root are:
:mod:`hwgpt.surrogates.layout`; this module writes (atomically, a generation at a time) and loads them.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from hwgpt.errors import ArtifactError, ArtifactIntegrityError
from hwgpt.search_space import SearchSpace
from hwgpt.surrogates.features import feature_names
from hwgpt.surrogates.layout import META_SUFFIX, _previous, device_dir, device_names, package_root
from hwgpt.surrogates.manifest import (
    MANIFEST,
    MANIFEST_VERSION,
    _check_file,
    _dir_lock,
    _entry,
    _fsync_dir,
    _is_tmp,
    _old_entries,
    _read_manifest,
    _sha,
    _write,
    verify_dir,
    write_manifest,
)
from hwgpt.surrogates.surrogate import Surrogate

SCHEMA_VERSION = 1
KINDS: dict[str, str] = {
    "quantile": "hwgpt.surrogates.quantile:QuantileSurrogate",
    "point": "hwgpt.surrogates.predictor:PointSurrogate",
    "transfer": "hwgpt.surrogates.transfer:TransferSurrogate",
}
"""Surrogate kinds (``meta["kind"]``) and their classes, imported when first loaded (XGBoost is a
second's import: reading metadata, checking names or profiling need none of it)."""


def surrogate_class(kind: str) -> type[Surrogate]:
    """The class of a surrogate kind (:data:`KINDS`)."""
    import importlib

    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


log = logging.getLogger(__name__)

# The layout and the manifest have their own modules; importable from here as before.
__all__ = ["MANIFEST", "MANIFEST_VERSION", "META_SUFFIX", "ArtifactError", "ArtifactIntegrityError", "available",
           "device_dir", "device_names", "load", "load_shared", "package_root", "read_meta", "save", "verify_dir",
           "write_manifest"]


def check_name(kind: str, name: str) -> str:
    """Device/metric/scale names become path parts: :func:`hwgpt.names.check_name` (``a-z 0-9 _ -``, no ``@``).

    Raises:
        hwgpt.errors.InvalidInput: naming the name and what is allowed (also a ``ValueError``).
    """
    from hwgpt.names import check_name as check

    return check(kind, name)


def resolve_root(artifacts_dir: str | Path | None, scale: str | None = None, device: str | None = None) -> Traversable:
    """``artifacts_dir``; without one, the user's root for a (scale, device) it holds, else the package's."""
    if artifacts_dir is None:
        from hwgpt.surrogates import userdirs  # $HWGPT_HOME/surrogates (python profile.py ... fit=true)

        user = userdirs.root_for(scale, device) if scale and device else None
        return package_root() if user is None else user
    return Path(artifacts_dir)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl
        return False
    at_fdcwd = -100
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):  # file system without exchange
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _staging(d: Path) -> Path:
    return d.with_name(f".{d.name}.gen-{os.getpid()}")


def _recover(d: Path) -> None:
    """Finish what a killed :func:`save` left: restore a parked generation, drop stale staging dirs."""
    prev = _previous(d)
    if prev.is_dir():
        if d.is_dir():
            shutil.rmtree(prev, ignore_errors=True)
        else:
            os.rename(prev, d)
    for stale in d.parent.glob(f".{d.name}.gen-*"):
        shutil.rmtree(stale, ignore_errors=True)


def save(surrogate: Surrogate, root: str | Path) -> Path:
    """Write ``surrogate`` under ``root`` as a new generation of its directory; returns the meta file.

    Overwrites an existing artifact of the same metric, atomically: the directory's other files are
    linked (or copied) with the new model files, metadata and manifest into a staging directory
    ``<root>/<scale>/.<device>.gen-<pid>``, flushed to disk, and swapped with ``<root>/<scale>/<device>``
    in one step (Linux ``renameat2``; elsewhere two renames, see :func:`device_dir`). A kill at any
    point leaves the previous generation loadable and consistent with its manifest; the next save
    removes what the kill left. Saves of one scale are serialised by a lock on the scale directory.
    Files of other metrics keep their manifest entries (a file changed since is not blessed).
    """
    meta = surrogate.meta
    scale, device, metric = (check_name(k, meta[k]) for k in ("scale", "device", "metric"))
    scale_dir = Path(root) / scale
    scale_dir.mkdir(parents=True, exist_ok=True)
    d = scale_dir / device
    with _dir_lock(scale_dir):
        _recover(d)
        stage = _staging(d)
        stage.mkdir()
        try:
            _fill(stage, d, surrogate, metric)
        except Exception:  # a write failed (disk full, read-only): the previous generation stays as it was
            shutil.rmtree(stage, ignore_errors=True)
            raise
        _switch(stage, d)
    return d / f"{metric}{META_SUFFIX}"


def _fill(stage: Path, d: Path, surrogate: Surrogate, metric: str) -> None:
    """Write the new generation into ``stage``: ``d``'s other files, the new model files, metadata, manifest."""
    meta = surrogate.meta
    old_entries = _old_entries(d)
    entries: dict[str, Any] = {}
    if d.is_dir():
        for f in sorted(d.iterdir(), key=lambda p: p.name):
            if (not f.is_file() or f.name == MANIFEST or _is_tmp(f.name) or f.name.startswith(f"{metric}.")):
                continue
            try:
                os.link(f, stage / f.name)  # never modified in place (replaced by _write), so sharing is safe
            except OSError:
                shutil.copy2(f, stage / f.name)
            entries[f.name] = old_entries.get(f.name) or _entry((stage / f.name).read_bytes())
    files = {}
    for role, (ext, data) in surrogate.model_files().items():
        name = f"{metric}.{role}.{ext}"
        _write(stage / name, data)
        files[role] = {"name": name, "sha256": _sha(data), "bytes": len(data)}
        entries[name] = _entry(data)
    meta.update({"schema_version": SCHEMA_VERSION, "kind": surrogate.kind, "files": files})
    meta_bytes = json.dumps(meta, indent=1, sort_keys=True, default=str).encode()
    _write(stage / f"{metric}{META_SUFFIX}", meta_bytes)
    entries[f"{metric}{META_SUFFIX}"] = _entry(meta_bytes)
    manifest = {"manifest_version": MANIFEST_VERSION, "files": dict(sorted(entries.items()))}
    _write(stage / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    _fsync_dir(stage)


def _switch(stage: Path, d: Path) -> None:
    """Make ``stage`` the directory ``d`` in one step (the commit point of :func:`save`)."""
    if not d.is_dir():
        os.rename(stage, d)
    elif _exchange(stage, d):  # stage now holds the previous generation
        shutil.rmtree(stage, ignore_errors=True)
    else:
        prev = _previous(d)
        os.rename(d, prev)  # a kill here leaves only prev: device_dir() reads it, the next save restores it
        os.rename(stage, d)
        shutil.rmtree(prev, ignore_errors=True)
    _fsync_dir(d.parent)


def available(artifacts_dir: str | Path | None = None) -> dict[str, dict[str, list[str]]]:
    """``{scale: {device: [metric, ...]}}`` of every artifact under the root (sorted)."""
    root = resolve_root(artifacts_dir)
    out: dict[str, dict[str, list[str]]] = {}
    if not root.is_dir():
        return out
    for sd in sorted(root.iterdir(), key=lambda p: p.name):
        if not sd.is_dir() or sd.name.startswith("."):
            continue
        for name in sorted(device_names(sd)):
            dd = device_dir(root, sd.name, name)
            metrics = sorted(f.name[: -len(META_SUFFIX)] for f in dd.iterdir() if f.name.endswith(META_SUFFIX))
            if metrics:
                out.setdefault(sd.name, {})[name] = metrics
    if artifacts_dir is None:
        from hwgpt.surrogates import userdirs

        out = userdirs.merge(out)
    return out


def read_meta(scale: str, device: str, metric: str, artifacts_dir: str | Path | None = None) -> dict[str, Any]:
    """The metadata of one artifact (no model files read), checked against the directory's manifest."""
    d = device_dir(resolve_root(artifacts_dir, scale, device), scale, device)
    path = d.joinpath(f"{metric}{META_SUFFIX}")
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ArtifactError(f"no surrogate artifact {path}") from e
    _check_file(d, path.name, data, _read_manifest(d))
    try:
        meta = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"corrupt surrogate metadata {path}: not valid JSON ({e}); re-run "
                            f"`python -m hwgpt.surrogates.fit scale={scale} device={device}`") from e
    if not isinstance(meta, dict):
        raise ArtifactError(f"corrupt surrogate metadata {path}: expected a JSON object")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(f"incompatible surrogate artifact {path}: schema_version {meta.get('schema_version')!r}, "
                            f"this hwgpt reads {SCHEMA_VERSION}; re-fit it with this version")
    for k, v in (("scale", scale), ("device", device), ("metric", metric)):
        if meta.get(k) != v:
            raise ArtifactError(f"surrogate metadata {path} says {k}={meta.get(k)!r}, expected {v!r}")
    if meta.get("kind") not in KINDS:
        raise ArtifactError(f"surrogate metadata {path}: unknown kind {meta.get('kind')!r}; allowed {sorted(KINDS)}")
    return meta


def load(scale: str, device: str, metric: str, artifacts_dir: str | Path | None = None,
         space: SearchSpace | None = None) -> Surrogate:
    """Load one surrogate, checking schema, names, features and file hashes.

    Raises:
        ArtifactError: naming the file and what is wrong with it.
    """
    meta = read_meta(scale, device, metric, artifacts_dir)
    d = device_dir(resolve_root(artifacts_dir, scale, device), scale, device)
    meta_path = d.joinpath(f"{metric}{META_SUFFIX}")
    space = space or SearchSpace.from_name(scale)
    if list(meta.get("features", {}).get("names", [])) != feature_names(space):
        raise ArtifactError(f"incompatible surrogate artifact {meta_path}: its feature names differ from this "
                            f"hwgpt's for scale {scale!r} (search space or features changed); re-fit it")
    files = {}
    manifest = _read_manifest(d)
    for role, info in meta.get("files", {}).items():
        path = d.joinpath(info["name"])
        try:
            data = path.read_bytes()
        except FileNotFoundError as e:
            raise ArtifactIntegrityError(f"surrogate model file {path} (listed in {meta_path}) is missing") from e
        _check_file(d, info["name"], data, manifest)
        if _sha(data) != info["sha256"]:
            raise ArtifactError(f"surrogate model file {path} is corrupt or was replaced: its SHA-256 does not "
                                f"match {meta_path}; re-fit or restore it")
        files[role] = data
    try:
        return surrogate_class(meta["kind"]).from_files(meta, files)
    except Exception as e:  # noqa: BLE001 - any failure to rebuild is an unusable artifact
        raise ArtifactError(f"cannot load surrogate {meta_path}: {type(e).__name__}: {e}") from e


_SHARED: dict[tuple[str, str, str, str, str], Surrogate] = {}


def load_shared(scale: str, device: str, metric: str, artifacts_dir: str | Path | None = None,
                space: SearchSpace | None = None) -> Surrogate:
    """:func:`load`, memoised per process on the metadata's content (which lists the model files' hashes).

    Several :class:`hwgpt.Benchmark` objects (one per device in a search) share one loaded copy;
    a re-fitted artifact has new metadata and is loaded afresh.
    """
    path = device_dir(resolve_root(artifacts_dir, scale, device), scale, device).joinpath(f"{metric}{META_SUFFIX}")
    try:
        digest = _sha(path.read_bytes())
    except FileNotFoundError:
        return load(scale, device, metric, artifacts_dir, space)  # raises the clear error
    key = (str(resolve_root(artifacts_dir, scale, device)), scale, device, metric, digest)
    if key not in _SHARED:
        _SHARED[key] = load(scale, device, metric, artifacts_dir, space)
    return _SHARED[key]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hwgpt.surrogates.artifacts {manifest,verify} DIR...``: write or check manifests."""
    parser = argparse.ArgumentParser(prog="python -m hwgpt.surrogates.artifacts", description=main.__doc__)
    parser.add_argument("command", choices=["manifest", "verify"],
                        help="manifest: (re)write DIR/manifest.json from the files there; verify: check them")
    parser.add_argument("dirs", nargs="+", type=Path, help="artifact directories <root>/<scale>/<device>")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    status = 0
    for d in args.dirs:
        try:
            if args.command == "manifest":
                path = write_manifest(d)
                log.info("wrote %s (%d files)", path, len(json.loads(path.read_text())["files"]))
            else:
                log.info("ok: %s (%d files match its manifest)", d, len(verify_dir(d)))
        except ArtifactError as e:
            log.error("%s", e)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
