"""Surrogate artifacts on disk: ``<root>/<scale>/<device>/<metric>.<role>.<ubj|json>`` + ``<metric>.meta.json``.

Model files are XGBoost's own UBJSON (``save_raw("ubj")``) or, for the MLP, a JSON of its weights;
never pickles. The metadata (JSON) records the schema version, the kind and model, feature names
and setting, quantile levels, conformal corrections, the validation report, the data's hashes,
settings, package versions and device identity, plus the SHA-256 of each model file, checked on
load. The meta file is written last, so a half-written artifact is never picked up.

The shipped root is ``hwgpt/artifacts/surrogates`` inside the package, read through
:mod:`importlib.resources`; any other directory can be given instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from hwgpt.search_space import SearchSpace
from hwgpt.surrogates.features import feature_names
from hwgpt.surrogates.predictor import PointSurrogate
from hwgpt.surrogates.quantile import QuantileSurrogate
from hwgpt.surrogates.surrogate import Surrogate

SCHEMA_VERSION = 1
KINDS: dict[str, type[Surrogate]] = {"quantile": QuantileSurrogate, "point": PointSurrogate}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
META_SUFFIX = ".meta.json"


class ArtifactError(ValueError):
    """A surrogate artifact is missing, corrupt or incompatible with this version of hwgpt."""


def check_name(kind: str, name: str) -> str:
    """Device/metric/scale names become path parts: letters, digits and ``_ . + -`` only (no ``@``)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"invalid {kind} name {name!r}: use letters, digits and '_', '.', '+', '-' "
                         "(it names a directory; '@' separates metric@device)")
    return name


def package_root() -> Traversable:
    """The shipped artifact root, ``hwgpt/artifacts/surrogates``."""
    return resources.files("hwgpt").joinpath("artifacts", "surrogates")


def resolve_root(artifacts_dir: str | Path | None, scale: str | None = None, device: str | None = None) -> Traversable:
    """``artifacts_dir``; without one, the user's root for a (scale, device) it holds, else the package's."""
    if artifacts_dir is None:
        from hwgpt.surrogates import userdirs  # $HWGPT_HOME/surrogates (python profile.py ... fit=true)

        user = userdirs.root_for(scale, device) if scale and device else None
        return package_root() if user is None else user
    return Path(artifacts_dir)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save(surrogate: Surrogate, root: str | Path) -> Path:
    """Write ``surrogate`` under ``root``; returns the meta file. Overwrites an existing artifact."""
    meta = surrogate.meta
    scale, device, metric = (check_name(k, meta[k]) for k in ("scale", "device", "metric"))
    d = Path(root) / scale / device
    d.mkdir(parents=True, exist_ok=True)
    files = {}
    for role, (ext, data) in surrogate.model_files().items():
        name = f"{metric}.{role}.{ext}"
        _write(d / name, data)
        files[role] = {"name": name, "sha256": _sha(data), "bytes": len(data)}
    meta.update({"schema_version": SCHEMA_VERSION, "kind": surrogate.kind, "files": files})
    path = d / f"{metric}{META_SUFFIX}"
    _write(path, json.dumps(meta, indent=1, sort_keys=True, default=str).encode())
    return path


def available(artifacts_dir: str | Path | None = None) -> dict[str, dict[str, list[str]]]:
    """``{scale: {device: [metric, ...]}}`` of every artifact under the root (sorted)."""
    root = resolve_root(artifacts_dir)
    out: dict[str, dict[str, list[str]]] = {}
    if not root.is_dir():
        return out
    for sd in sorted(root.iterdir(), key=lambda p: p.name):
        if not sd.is_dir():
            continue
        for dd in sorted(sd.iterdir(), key=lambda p: p.name):
            if not dd.is_dir():
                continue
            metrics = sorted(f.name[: -len(META_SUFFIX)] for f in dd.iterdir() if f.name.endswith(META_SUFFIX))
            if metrics:
                out.setdefault(sd.name, {})[dd.name] = metrics
    if artifacts_dir is None:
        from hwgpt.surrogates import userdirs

        out = userdirs.merge(out)
    return out


def read_meta(scale: str, device: str, metric: str, artifacts_dir: str | Path | None = None) -> dict[str, Any]:
    """The metadata of one artifact (no model files read)."""
    path = resolve_root(artifacts_dir, scale, device).joinpath(scale, device, f"{metric}{META_SUFFIX}")
    try:
        meta = json.loads(path.read_bytes())
    except FileNotFoundError as e:
        raise ArtifactError(f"no surrogate artifact {path}") from e
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
    if meta.get("kind") == "transfer":
        import hwgpt.surrogates.transfer  # noqa: F401 - registers the kind of new-device surrogates
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
    d = resolve_root(artifacts_dir, scale, device).joinpath(scale, device)
    meta_path = d.joinpath(f"{metric}{META_SUFFIX}")
    space = space or SearchSpace.from_name(scale)
    if list(meta.get("features", {}).get("names", [])) != feature_names(space):
        raise ArtifactError(f"incompatible surrogate artifact {meta_path}: its feature names differ from this "
                            f"hwgpt's for scale {scale!r} (search space or features changed); re-fit it")
    files = {}
    for role, info in meta.get("files", {}).items():
        path = d.joinpath(info["name"])
        try:
            data = path.read_bytes()
        except FileNotFoundError as e:
            raise ArtifactError(f"surrogate model file {path} (listed in {meta_path}) is missing") from e
        if _sha(data) != info["sha256"]:
            raise ArtifactError(f"surrogate model file {path} is corrupt or was replaced: its SHA-256 does not "
                                f"match {meta_path}; re-fit or restore it")
        files[role] = data
    try:
        return KINDS[meta["kind"]].from_files(meta, files)
    except Exception as e:  # noqa: BLE001 - any failure to rebuild is an unusable artifact
        raise ArtifactError(f"cannot load surrogate {meta_path}: {type(e).__name__}: {e}") from e


_SHARED: dict[tuple[str, str, str, str, str], Surrogate] = {}


def load_shared(scale: str, device: str, metric: str, artifacts_dir: str | Path | None = None,
                space: SearchSpace | None = None) -> Surrogate:
    """:func:`load`, memoised per process on the metadata's content (which lists the model files' hashes).

    Several :class:`hwgpt.Benchmark` objects (one per device in a search) share one loaded copy;
    a re-fitted artifact has new metadata and is loaded afresh.
    """
    path = resolve_root(artifacts_dir, scale, device).joinpath(scale, device, f"{metric}{META_SUFFIX}")
    try:
        digest = _sha(path.read_bytes())
    except FileNotFoundError:
        return load(scale, device, metric, artifacts_dir, space)  # raises the clear error
    key = (str(resolve_root(artifacts_dir, scale, device)), scale, device, metric, digest)
    if key not in _SHARED:
        _SHARED[key] = load(scale, device, metric, artifacts_dir, space)
    return _SHARED[key]
