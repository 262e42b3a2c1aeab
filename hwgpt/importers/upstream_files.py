"""One file of the published HW-GPT-Bench data: what it holds and its records as observation rows.

:func:`plan_file` classifies a path of upstream's tree (scale from its directory, device, kind of
measurement, or why it is skipped); :func:`read_file` unpickles one file (restricted unpickler,
:mod:`hwgpt.importers.safe_pickle`), validates every record against the search space of its
directory's scale, converts units (:mod:`hwgpt.importers.conventions`) and returns the rows with the
measurement store's columns plus the counts of records, rejects (by reason) and duplicates.
:mod:`hwgpt.importers.hwgptbench` runs this over every file of upstream's commit.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hwgpt.importers import conventions
from hwgpt.importers.gitsource import Blob
from hwgpt.importers.safe_pickle import PickleFormatError, loads
from hwgpt.search_space import Arch, SearchSpace

SCALES = ("s", "m", "l")
OBS_COLUMNS = ("arch_id", "arch", "scale", "device", "metric", "value", "unit", "batch", "seq_len", "dtype",
               "threads", "repeat", "flags", "extra", "run_id", "device_key", "created_at", "device_identity")
WARMUP_FLAG = "warmup"
#: device id of device-independent metrics (perplexity, accuracy of the supernet's sub-networks)
QUALITY_DEVICE = "any"

_LATENCY = re.compile(r"^(?:raw_results_hw/|data_collection/raw_results_hw/)?latency_(?P<dev>[A-Za-z0-9]+(?:_cpu|)"
                      r"|cpu_[a-z0-9]+|helix_cpu)(?:_(?P<scale>[ml]))?/(?P<file>[^/]+\.pkl)$")
_MEMORY = re.compile(r"^(?:raw_results_hw/)?mem_(?P<dev>[A-Za-z0-9]+)(?:_(?P<scale>[ml]))?/(?P<file>[^/]+\.pkl)$")
_QUALITY = re.compile(r"^arch_ppl_bench_(?P<scale>[sml])/(?P<file>[^/]+\.pkl)$")


@dataclass(frozen=True)
class FilePlan:
    """What one source file holds: scale (from its directory), device, metrics and how to read them."""

    blob: Blob
    scale: str
    device: str
    kind: str          # latency | energy | memory | quality
    skip: str | None = None  # why the file is not imported (superseded series), None to import


def plan_file(blob: Blob) -> FilePlan | None:
    """Classify a path of upstream's tree; None for files that are not measurements."""
    p = blob.path
    if m := _QUALITY.match(p):
        skip = "duplicate of the per-range tracker files" if m["file"] == "ppl.pkl" else None
        return FilePlan(blob, m["scale"], "", "quality", skip)
    if m := _MEMORY.match(p):
        dev = conventions.GPU_DIRS.get(m["dev"])
        if dev is None:
            return None
        return FilePlan(blob, m["scale"] or "s", dev, "memory")
    if m := _LATENCY.match(p):
        raw, scale, name = m["dev"], m["scale"] or "s", m["file"]
        if p.startswith("data_collection/"):
            return None
        if raw in conventions.GPU_DIRS:
            dev = conventions.GPU_DIRS[raw]
        elif raw in conventions.CPU_HOSTS:
            dev = conventions.CPU_HOSTS[raw]
            if dev is None:
                return FilePlan(blob, scale, raw, "latency", "host unused by upstream's API (no CPU name matches it)")
        else:
            return None
        if name.startswith("efficiency_energy_observations_tracker_"):
            return FilePlan(blob, scale, dev, "energy")
        if name.startswith("efficiency_energy"):
            return FilePlan(blob, scale, dev, "energy", "superseded by the 50-observation tracker series")
        if name.startswith("efficiency_observations_"):
            return FilePlan(blob, scale, dev, "latency")
    return None


@dataclass
class FileResult:
    """Rows and counts of one imported file."""

    rows: pd.DataFrame
    counts: Counter = field(default_factory=Counter)
    rejects: Counter = field(default_factory=Counter)


def to_arch(rec: Any) -> Arch:
    """Upstream's arch dict (per-layer lists of the maximum depth) -> Arch of its first ``n_layer`` layers.

    Raises:
        ValueError: not an arch dict, inconsistent layer indices, or invalid values.
    """
    if not isinstance(rec, dict):
        raise ValueError(f"arch is a {type(rec).__name__}, not a dict")
    need = ("sample_embed_dim", "sample_n_layer", "sample_n_head", "sample_mlp_ratio", "sample_bias")
    if missing := [k for k in need if k not in rec]:
        raise ValueError(f"arch lacks {missing}")
    n = rec["sample_n_layer"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"sample_n_layer={n!r}")
    n = int(n)
    idx = rec.get("sample_layer_indices")
    if idx is not None and list(idx) != list(range(n)):
        raise ValueError(f"sample_layer_indices {list(idx)[:4]}... is not range({n})")
    heads, ratios = list(rec["sample_n_head"]), list(rec["sample_mlp_ratio"])
    if len(heads) < n or len(ratios) < n:
        raise ValueError(f"per-layer lists shorter than n_layer={n}")
    return Arch(int(rec["sample_embed_dim"]), n, tuple(int(h) for h in heads[:n]),
                tuple(int(r) for r in ratios[:n]), bool(rec["sample_bias"]))


_RESOLVED: dict[tuple, tuple[str, str, str, str | None]] = {}


def _resolve(rec: Any, dir_scale: str, spaces: dict[str, SearchSpace]) -> tuple[str, str, str, str | None]:
    """Upstream arch dict -> (arch id, canonical JSON, scale, None) or ("", "", "", reject reason).

    The directory's scale is tried first, then the others (the spaces are disjoint). Memoised: every
    device's files hold the same 10,000 archs per scale.
    """
    try:
        n = int(rec["sample_n_layer"])
        key = (dir_scale, rec["sample_embed_dim"], n, tuple(rec["sample_n_head"][:n]),
               tuple(rec["sample_mlp_ratio"][:n]), rec["sample_bias"], tuple(rec.get("sample_layer_indices") or ()))
        hit = _RESOLVED.get(key)
    except (KeyError, TypeError, ValueError):
        key, hit = None, None
    if hit is not None:
        return hit
    try:
        arch = to_arch(rec)
    except (ValueError, TypeError, KeyError) as e:
        out = ("", "", "", f"malformed arch ({str(e).split(':')[0][:60]})")
    else:
        out = ("", "", "", "outside every search space")
        for name in (dir_scale, *[s for s in SCALES if s != dir_scale]):
            try:
                spaces[name].validate(arch)
            except ValueError:
                continue
            out = (arch.id, arch.to_json(), name, None)
            break
    if key is not None:
        _RESOLVED[key] = out
    return out


def _series(rec: dict, kind: str, device: str) -> dict[str, list[float]]:
    """metric -> raw values of one record, in upstream's units."""
    if kind == "latency":
        key = "times_profiler_cpu" if conventions.is_cpu(device) else "times_profiler_gpu"
        return {"latency": list(rec.get(key) or [])}
    if kind == "energy":
        return {"energy": list(rec.get("energy_gpu") or [])}
    if kind == "memory":
        v = rec.get("mean_mem")
        return {"memory": [] if v is None else [v]}
    out = {}
    for k in ("perplexity", "accuracy"):
        if rec.get(k) is not None:
            out[k] = [rec[k]]
    return out


def read_file(plan: FilePlan, data: bytes, spaces: dict[str, SearchSpace], created_at: str) -> FileResult:
    """Parse, validate and convert one file's records into observation rows.

    Raises:
        UnsafePickleError: the pickle references a disallowed global.
        PickleFormatError: empty or truncated file.
    """
    obj = loads(data, plan.blob.path)
    if not isinstance(obj, list):
        raise PickleFormatError(f"{plan.blob.path}: expected a list of records, got {type(obj).__name__}")
    res = FileResult(pd.DataFrame(columns=list(OBS_COLUMNS)))
    res.counts["records"] = len(obj)
    seen: set[tuple[str, str]] = set()
    recs: list[tuple[str, str, str, str, np.ndarray, np.ndarray]] = []  # arch_id, json, scale, metric, values, repeat
    for rec in obj:
        if not isinstance(rec, dict) or "arch" not in rec:
            res.rejects["not a record dict with 'arch'"] += 1
            continue
        arch_id, arch_json, scale, why = _resolve(rec["arch"], plan.scale, spaces)
        if why is not None:
            res.rejects[why] += 1
            continue
        if scale != plan.scale:
            # measured with the directory's settings (e.g. M's batch 4), not its own scale's: unusable for both
            res.rejects[f"a scale-{scale} arch in a scale-{plan.scale} directory"] += 1
            continue
        series = _series(rec, plan.kind, plan.device)
        if not any(series.values()):
            res.rejects["no observations"] += 1
            continue
        key = (scale, arch_id)
        if key in seen:
            res.counts["duplicates"] += 1
            continue
        seen.add(key)
        for metric, raw in series.items():
            units = list(rec.get("unit_cpu") or []) if metric == "latency" else None
            try:
                values = conventions.convert(metric, np.asarray(raw, dtype=np.float64), plan.device, units)
            except (TypeError, ValueError) as e:
                res.rejects[f"unconvertible {metric} series ({str(e)[:40]})"] += 1
                continue
            ok = np.isfinite(values) & ((values >= 0) if metric == "accuracy" else (values > 0))
            if not ok.all():
                res.rejects[f"non-finite or non-positive {metric} observation"] += int((~ok).sum())
            recs.append((arch_id, arch_json, scale, metric, values[ok], np.flatnonzero(ok)))
        res.counts["archs"] += 1
    n = np.array([len(r[4]) for r in recs], dtype=np.int64)
    res.counts["observations"] = int(n.sum())
    cols: dict[str, Any] = {}
    for j, c in enumerate(("arch_id", "arch", "scale", "metric")):
        cols[c] = np.repeat(np.array([r[j] for r in recs], dtype=object), n)
    cols["value"] = np.concatenate([r[4] for r in recs]) if recs else np.zeros(0)
    cols["repeat"] = np.concatenate([r[5] for r in recs]).astype(np.int64) if recs else np.zeros(0, np.int64)
    device = plan.device or QUALITY_DEVICE
    df = pd.DataFrame(cols)
    df["device"] = device
    df["unit"] = df["metric"].map(conventions.UNITS)
    for c in ("batch", "seq_len", "dtype", "threads"):
        df[c] = None
    for (m, s), idx in df.groupby(["metric", "scale"]).groups.items():
        st = conventions.settings(m, s, plan.device)
        for c in ("batch", "seq_len", "dtype", "threads"):
            df.loc[idx, c] = st.get(c)
    df["flags"] = np.where((df["metric"] == "energy") & (df["repeat"] == 0), WARMUP_FLAG, "")
    df["extra"] = ""
    df["run_id"] = plan.blob.sha[:16]
    df["device_key"] = device
    df["created_at"] = created_at
    df["device_identity"] = json.dumps(conventions.identity(device))
    res.rows = df[list(OBS_COLUMNS)]
    return res
