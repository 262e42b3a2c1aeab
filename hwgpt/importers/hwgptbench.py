"""Import the published HW-GPT-Bench measurements (``automl/HW-Aware-LLM-Bench``, Apache-2.0).

Command line (Hydra, config ``conf/import.yaml``)::

    python -m hwgpt.importers.hwgptbench source=<clone or git dir of automl/HW-Aware-LLM-Bench> [out_dir=...]

The raw pickles are read from the repository's git objects at commit :data:`COMMIT` (later commits
deleted them; no checkout is needed) through a restricted unpickler (:mod:`hwgpt.importers.safe_pickle`).
Every record is validated against the search space of its directory's scale; records of another scale
(upstream's ``latency_a6000_m`` holds 17 S archs, profiled at M's batch of 4, so valid for neither) and
malformed ones are rejected and counted per file, by reason, as are duplicates (an architecture already
imported for that (scale, device, metric) from an earlier file keeps its first series).

Units become the project's: latency in seconds per forward, energy in joules per forward, memory in bytes
(see :mod:`hwgpt.importers.upstream_model` for what upstream measured and the evidence).

Output, under ``out_dir`` (default ``outputs/import/hwgptbench``)::

    parts/<blob sha>.parquet          one per source file, written atomically (the resume unit)
    <scale>/<device>/<metric>.parquet observations with the measurement store's columns, deduplicated
    runs.parquet                      one row per source file: provenance (repository, commit, path, blob,
                                      licence, citation), settings, counts of records, rejects, duplicates
    report.json                       the same counts, summed per (scale, device, metric), and timings

Rerunning skips every file whose part exists (idempotent; ``force=true`` redoes them) and rebuilds the
consolidated files, so the import never holds duplicates. Observations are stored in Parquet, not in the
SQLite store: for the ~10M rows here, Parquet wrote and read an order of magnitude faster (measured by
``bench/bench_import_storage.py``).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import logging
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwgpt.importers import conventions
from hwgpt.importers.drift import DriftSettings, annotate
from hwgpt.importers.gitsource import Blob, GitSource, SourceError
from hwgpt.importers.safe_pickle import PickleFormatError, UnsafePickleError, loads
from hwgpt.search_space import Arch, SearchSpace

log = logging.getLogger(__name__)

REPOSITORY = "https://github.com/automl/HW-Aware-LLM-Bench"
COMMIT = "795cba8"
LICENCE = "Apache-2.0"
CITATION = ("Sukthanker, Zela, Staffler, Klein, Purucker, Franke, Hutter. HW-GPT-Bench: Hardware-Aware "
            "Architecture Benchmark for Language Models. NeurIPS 2024 Datasets and Benchmarks Track.")
FETCH_HINT = (f"Fetch upstream's repository with its history: `git clone {REPOSITORY}` (not --depth 1), "
              "then pass source=<that directory>.")
PREFIXES = ("raw_results_hw", "arch_ppl_bench_s", "arch_ppl_bench_m", "arch_ppl_bench_l",
            "mem_a100_l", "mem_rtx2080_l", "mem_rtx2080_m")
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


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    df.to_parquet(tmp, index=False, compression="zstd")
    os.replace(tmp, path)


def _provenance(plan: FilePlan, source: GitSource) -> dict[str, Any]:
    return {"repository": REPOSITORY, "commit": source.commit, "path": plan.blob.path, "blob": plan.blob.sha,
            "bytes": plan.blob.size, "licence": LICENCE, "citation": CITATION}


def import_all(source: str | Path, out_dir: str | Path, commit: str = COMMIT, force: bool = False,
               progress: bool = True, include: list[str] | None = None,
               drift: DriftSettings | None = None) -> dict[str, Any]:
    """Import every measurement file of upstream's commit into ``out_dir`` (resumable, idempotent).

    Args:
        include: Only upstream paths matching one of these ``fnmatch`` patterns (e.g.
            ``"raw_results_hw/latency_*/efficiency_observations_*"``); None imports every file.
        drift: Settings of the drift scan run after consolidation (:mod:`hwgpt.importers.drift`);
            None uses the defaults; ``DriftSettings(enabled=False)`` skips it.

    Returns:
        The report (also written to ``out_dir/report.json``).

    Raises:
        SourceError: the source is missing, not upstream's repository, or lacks the commit.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    src = GitSource(source, commit, FETCH_HINT)
    if not (src.has("raw_results_hw") and src.has("arch_ppl_bench_s")):
        raise SourceError(f"source {str(source)!r} at {commit} has no raw_results_hw/ and arch_ppl_bench_s/: "
                          f"it is not automl/HW-Aware-LLM-Bench. {FETCH_HINT}")
    out = Path(out_dir).expanduser()
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    spaces = {s: SearchSpace.from_name(s) for s in SCALES}
    plans, first_path = [], {}
    for b in src.ls(*PREFIXES):
        if (p := plan_file(b)) is None:
            continue
        if include is not None and not any(fnmatch.fnmatchcase(b.path, pat) for pat in include):
            continue
        if p.skip is None and b.sha in first_path:  # upstream keeps some files twice (mem_a100_l/ and raw_results_hw/)
            p = FilePlan(b, p.scale, p.device, p.kind, f"identical copy of {first_path[b.sha]}")
        first_path.setdefault(b.sha, b.path)
        plans.append(p)
    runs_path = out / "runs.parquet"
    old_runs = pd.read_parquet(runs_path) if runs_path.exists() and not force else pd.DataFrame()
    done = set(zip(old_runs["path"], old_runs["blob"], strict=True)) if len(old_runs) else set()
    todo = [p for p in plans if p.skip is None and (force or (p.blob.path, p.blob.sha) not in done
                                                    or not (parts / f"{p.blob.sha}.parquet").exists())]
    active = {p.blob.path for p in plans if p.skip is None}
    redo = {p.blob.sha for p in todo}
    runs = [r for r in (old_runs.to_dict("records") if len(old_runs) else [])
            if r["path"] in active and r["blob"] not in redo]
    for p in plans:
        if p.skip is not None:
            runs.append({**_provenance(p, src), "scale": p.scale, "device": p.device, "kind": p.kind,
                         "status": f"skipped: {p.skip}", "counts": "{}", "rejects": "{}", "settings": "{}"})
    log.info("importing %d files of %s@%s (%d already imported, %d skipped by policy) into %s",
             len(todo), REPOSITORY, src.commit[:7], len(plans) - len(todo) - sum(p.skip is not None for p in plans),
             sum(p.skip is not None for p in plans), out)
    by_sha = {p.blob.sha: p for p in todo}
    bar = tqdm(total=sum(p.blob.size or 0 for p in todo), unit="B", unit_scale=True, desc="import",
               disable=not progress)
    try:
        for blob, data in src.iter_read([p.blob for p in todo]):
            plan = by_sha[blob.sha]
            row = {**_provenance(plan, src), "scale": plan.scale, "device": plan.device, "kind": plan.kind,
                   "settings": json.dumps({m: conventions.settings(m, plan.scale, plan.device)
                                           for m in _metrics_of(plan.kind)})}
            if data is None:
                row.update(status="missing: git object absent from this copy", counts="{}", rejects="{}")
            else:
                try:
                    res = read_file(plan, data, spaces, src.commit_date)
                except UnsafePickleError as e:
                    log.error("%s", e)
                    row.update(status=f"refused: {e}", counts="{}", rejects="{}")
                except PickleFormatError as e:
                    log.warning("%s", e)
                    row.update(status=f"unreadable: {e}", counts="{}", rejects="{}")
                else:
                    _atomic_parquet(res.rows, parts / f"{blob.sha}.parquet")
                    row.update(status="imported", counts=json.dumps(dict(res.counts)),
                               rejects=json.dumps(dict(res.rejects)))
            runs.append(row)
            _atomic_parquet(pd.DataFrame(runs), runs_path)  # progress survives a kill
            bar.update(blob.size or 0)
    finally:
        bar.close()
    report = consolidate(out, pd.DataFrame(runs))
    report["drift"] = annotate(out, drift if drift is not None else DriftSettings(), progress)
    by_path = {f["path"]: f for rep in report["drift"]["series"].values() for f in rep["files"]}
    for f in report["files"]:  # per file: what the drift scan found and excluded
        if (d := by_path.get(f["path"])) is not None:
            f["drift"] = {k: d[k] for k in ("n", "change_points", "n_kept", "n_excluded", "note")}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["source"] = {"repository": REPOSITORY, "commit": src.commit, "licence": LICENCE, "citation": CITATION}
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    log.info("import done in %.0f s: %d observations of %d (scale, device, metric) series; report %s",
             report["seconds"], report["observations"], len(report["series"]), out / "report.json")
    return report


def _metrics_of(kind: str) -> tuple[str, ...]:
    return ("perplexity", "accuracy") if kind == "quality" else (kind,)


def consolidate(out: Path, runs: pd.DataFrame) -> dict[str, Any]:
    """Merge the part files into one deduplicated Parquet per (scale, device, metric); count per file.

    Works one (device, kind) group of files at a time (a few million rows at most), so memory stays
    bounded whatever the size of the import.
    """
    imported = runs[runs["status"] == "imported"].sort_values("path")
    dup_per_file: dict[str, int] = {}
    series: dict[str, dict[str, Any]] = {}
    n_total = 0
    for (_device, _kind), group in imported.groupby(["device", "kind"], sort=True):
        frames = []
        for r in group.itertuples(index=False):
            df = pd.read_parquet(out / "parts" / f"{r.blob}.parquet")
            df["_order"] = r.path
            frames.append(df)
        rows = pd.concat(frames, ignore_index=True)
        del frames
        # an arch's series comes from the first file (path order) holding it for that (scale, device, metric)
        first = rows.groupby(["scale", "device", "metric", "arch_id"])["_order"].transform("min")
        dup = (rows["_order"] != first).to_numpy()
        dup_per_file.update(rows[dup].groupby("_order")["arch_id"].nunique().to_dict())
        kept = rows[~dup].drop(columns="_order")
        del rows, first
        for (scale, device, metric), g in kept.groupby(["scale", "device", "metric"], sort=True):
            path = out / scale / device / f"{metric}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_parquet(g.reset_index(drop=True), path)
            n_archs = int(g["arch_id"].nunique())
            series[f"{scale}/{device}/{metric}"] = {
                "archs": n_archs, "observations": int(len(g)),
                "observations_per_arch": float(round(len(g) / max(1, n_archs), 2)), "unit": str(g["unit"].iloc[0])}
            n_total += len(g)
    files = []
    for r in runs.sort_values("path").itertuples(index=False):
        files.append({"path": r.path, "status": r.status, "scale": r.scale, "device": r.device,
                      **json.loads(r.counts or "{}"), "rejects": json.loads(r.rejects or "{}"),
                      "duplicates_across_files": int(dup_per_file.get(r.path, 0))})
    return {"observations": int(n_total), "series": dict(sorted(series.items())), "files": files,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def observations(root: str | Path, scale: str | None = None, device: str | None = None,
                 metric: str | None = None) -> pd.DataFrame:
    """Imported observations (the measurement store's columns) under ``root``, filtered.

    Raises:
        ValueError: nothing imported matches, listing what exists.
    """
    root = Path(root).expanduser()
    paths = sorted(root.glob(f"{scale or '*'}/{device or '*'}/{metric or '*'}.parquet"))
    paths = [p for p in paths if p.parent.parent.name in SCALES]
    if not paths:
        have = sorted(str(p.relative_to(root).with_suffix("")) for p in root.glob("*/*/*.parquet")
                      if p.parent.parent.name in SCALES)
        raise ValueError(f"no imported observations for scale={scale!r} device={device!r} metric={metric!r} "
                         f"under {root}; it holds: {have or 'nothing (run python -m hwgpt.importers.hwgptbench)'}")
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


def run(cfg: Any) -> dict[str, Any]:
    """Entry point behind ``python -m hwgpt.importers.hwgptbench`` (``conf/import.yaml``)."""
    if cfg.get("source") in (None, "", "???"):
        raise SourceError(f"source= is required: the path of a clone or git directory of {REPOSITORY}. "
                          f"{FETCH_HINT}")
    from hwgpt.errors import InvalidInput  # bad options: one line from the command (issue 21)

    for key in ("force", "progress"):
        if not isinstance(cfg.get(key), bool):
            raise InvalidInput(f"{key} must be true or false, got {cfg.get(key)!r}")
    include = cfg.get("include")
    if include is not None and (isinstance(include, str) or not hasattr(include, "__iter__")
                                or not all(isinstance(p, str) and p for p in include)):
        raise InvalidInput(f"include must be null or a list of path patterns such as ['raw_results_hw/*'], "
                           f"got {include!r}")
    drift = cfg.get("drift")
    try:
        drift = DriftSettings(**{k: (list(v) if k == "metrics" else v) for k, v in dict(drift).items()}) \
            if drift is not None else None
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"drift settings: {e}") from None
    return import_all(str(cfg.source), str(cfg.out_dir), str(cfg.commit), bool(cfg.force), bool(cfg.progress),
                      None if include is None else [str(p) for p in include], drift)


def main() -> None:
    import hydra

    from hwgpt.configs import CONF_DIR

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR),
                config_name="import")
    def _main(cfg):
        from hwgpt.errors import InvalidInput, cli_main

        def checked(c: Any) -> dict[str, Any]:
            try:
                return run(c)
            except SourceError as e:  # a missing or foreign source: a bad input like any other
                raise InvalidInput(str(e)) from None

        cli_main(checked, cfg, what="python -m hwgpt.importers.hwgptbench")

    _main()


if __name__ == "__main__":
    main()
