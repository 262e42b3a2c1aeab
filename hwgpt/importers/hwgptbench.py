"""Import the published HW-GPT-Bench measurements (``automl/HW-Aware-LLM-Bench``, Apache-2.0).

Command line (Hydra, config ``conf/import.yaml``)::

    python -m hwgpt.importers.hwgptbench source=<clone or git dir of automl/HW-Aware-LLM-Bench> [out_dir=...]

The raw pickles are read from the repository's git objects at commit :data:`COMMIT` (later commits
deleted them; no checkout is needed) through a restricted unpickler (:mod:`hwgpt.importers.safe_pickle`);
one file at a time by :mod:`hwgpt.importers.upstream_files`.
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
import time
from pathlib import Path
from typing import Any

import pandas as pd

from hwgpt.importers import conventions
from hwgpt.importers.drift import DriftSettings, annotate
from hwgpt.importers.gitsource import GitSource, SourceError
from hwgpt.importers.safe_pickle import PickleFormatError, UnsafePickleError
from hwgpt.importers.upstream_files import (
    OBS_COLUMNS,
    QUALITY_DEVICE,
    SCALES,
    WARMUP_FLAG,
    FilePlan,
    FileResult,
    plan_file,
    read_file,
    to_arch,
)
from hwgpt.search_space import SearchSpace

log = logging.getLogger(__name__)

# Reading one of upstream's files is hwgpt.importers.upstream_files; importable from here as before.
__all__ = ["CITATION", "COMMIT", "FETCH_HINT", "LICENCE", "OBS_COLUMNS", "PREFIXES", "QUALITY_DEVICE", "REPOSITORY",
           "SCALES", "WARMUP_FLAG", "FilePlan", "FileResult", "consolidate", "import_all", "main", "observations",
           "plan_file", "read_file", "run", "to_arch"]

REPOSITORY = "https://github.com/automl/HW-Aware-LLM-Bench"
COMMIT = "795cba8"
LICENCE = "Apache-2.0"
CITATION = ("Sukthanker, Zela, Staffler, Klein, Purucker, Franke, Hutter. HW-GPT-Bench: Hardware-Aware "
            "Architecture Benchmark for Language Models. NeurIPS 2024 Datasets and Benchmarks Track.")
FETCH_HINT = (f"Fetch upstream's repository with its history: `git clone {REPOSITORY}` (not --depth 1), "
              "then pass source=<that directory>.")
PREFIXES = ("raw_results_hw", "arch_ppl_bench_s", "arch_ppl_bench_m", "arch_ppl_bench_l",
            "mem_a100_l", "mem_rtx2080_l", "mem_rtx2080_m")


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
