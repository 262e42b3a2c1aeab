"""Resuming a search (``resume=true``): which history to replay, and refusing one that is not this run's.

The journal (``history.jsonl``, :mod:`hwgpt.search.journal`) and ``results.json`` are both checked against
the command's :func:`journal_header`; the longer is replayed (the other must be its prefix). A history of
another run (optimizer, scale, objectives, devices, seed, noise, protocol, budgets) or a budget smaller than
the history is refused, naming what differs; a new run in an old run's directory sets its journal aside.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from hwgpt.errors import InvalidInput
from hwgpt.search.journal import JOURNAL_NAME, check_entries, read_journal
from hwgpt.search.problem import SurrogateProblem
from hwgpt.search.results import load_results
from hwgpt.search.rundir import RunDirError, describe_os_error

log = logging.getLogger(__name__)

__all__ = ["RESUME_KEYS", "check_no_shrink", "compare_runs", "journal_header", "load_history", "set_aside"]

RESUME_KEYS = ("optimizer", "scale", "objectives", "devices", "seed", "noise", "constraints")
"""What a resumed run must share with the run it continues (with the measurement protocol)."""


def journal_header(cfg: DictConfig, problem: SurrogateProblem) -> dict[str, Any]:
    """The journal's header: what identifies the run (a resumed run must match it)."""
    from hwgpt.search.journal import FORMAT_VERSION, KIND

    head = {"kind": KIND, "format_version": FORMAT_VERSION, "optimizer": cfg.optimizer.name,
            "scale": problem.scale, "objectives": list(problem.names), "devices": dict(problem.devices),
            "seed": cfg.seed, "noise": cfg.noise, "protocol": problem.protocol.to_dict(),
            "duplicates": cfg.get("duplicates", "reuse")}
    cons = getattr(problem, "constraints", None)
    if cons is not None:
        head["constraints"] = cons.to_dict()
    return head


def load_history(run_dir: Path, header: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, Any]:
    """The history to resume: ``(entries as a results-like dict, results.json or None, the journal or None)``.

    The journal and results.json are both checked against ``header``; the one with more evaluations
    is replayed (the other must be a prefix of it).
    """
    journal_path, results_path = run_dir / JOURNAL_NAME, run_dir / "results.json"
    unique = header["duplicates"] == "reuse"
    journal = read_journal(journal_path, unique=unique) if journal_path.is_file() else None
    previous = load_results(results_path) if results_path.is_file() else None
    if journal is None and previous is None:
        raise InvalidInput(
            f"resume=true: no run to resume in {run_dir} (no {JOURNAL_NAME} or results.json); pass the directory of "
            f"an earlier run with hydra.run.dir=<run dir> (it is printed when a run ends or is interrupted)"
        )
    sources = []
    if journal is not None:
        compare_runs(journal.header, header, journal_path)
        sources.append((journal.entries, journal.archs))
    if previous is not None:
        compare_runs(previous, header, results_path)
        archs = check_entries(previous["history"], previous["objectives"], str(results_path), unique=unique)
        sources.append((previous["history"], archs))
    sources.sort(key=lambda x: len(x[0]))
    (short, short_archs), (entries, archs) = sources[0], sources[-1]
    if short_archs != archs[: len(short_archs)] or [e["objectives"] for e in short] != [
            e["objectives"] for e in entries[: len(short)]]:
        raise InvalidInput(f"resume=true: {journal_path} and {results_path} hold different histories; move the "
                           "one you do not trust away")
    return {"history": entries}, previous, journal


def compare_runs(prev: dict[str, Any], header: dict[str, Any], path: Path) -> None:
    """Refuse a history of another run (optimizer, scale, objectives, devices, seed, noise, protocol...)."""
    keys = [*RESUME_KEYS, "protocol"] + (["duplicates"] if "duplicates" in prev else [])
    diff = {}
    for k in keys:
        a, b = prev.get(k), header.get(k)
        if k == "protocol" and a is None:  # results.json of before the protocol key
            continue
        if a != b:
            diff[k] = (a, b)
    if diff:
        raise InvalidInput(f"resume=true: the run in {path} differs from this command in "
                           + ", ".join(f"{k} (run: {a!r}, now: {b!r})" for k, (a, b) in diff.items()))


def check_no_shrink(history: dict[str, Any], n_evals: int, seconds_budget: float | None) -> None:
    """Refuse a resume whose budget is smaller than the history (it would drop evaluations)."""
    entries = history["history"]
    n = len(entries)
    if n_evals < n:
        raise InvalidInput(f"resume=true: the run already has {n} evaluations, more than n_evals={n_evals}; nothing "
                           f"is dropped: pass n_evals>={n} (or budget.max_evals>={n})")
    if seconds_budget is not None and n:
        cum = np.cumsum([float(e["simulated_seconds"]) for e in entries])
        reached = np.flatnonzero(cum >= seconds_budget)
        if len(reached) and reached[0] + 1 < n:
            raise InvalidInput(f"resume=true: the run's {n} evaluations took {cum[-1] / 3600:g} simulated hours, "
                               f"more than budget.simulated_hours={seconds_budget / 3600:g}; nothing is dropped: "
                               f"pass budget.simulated_hours>={cum[-1] / 3600:g}")


def set_aside(run_dir: Path) -> None:
    """A new run (resume=false) in the directory of an earlier one: that run's journal is kept as
    ``history.previous.jsonl`` (one generation), its results.json is replaced at the end."""
    journal = run_dir / JOURNAL_NAME
    if journal.is_file() and journal.stat().st_size > 0:
        kept = run_dir / "history.previous.jsonl"
        try:
            journal.replace(kept)
        except OSError as e:
            raise RunDirError(f"cannot set the earlier journal {journal} aside: {describe_os_error(e)}") from e
        log.warning("%s already held a search (resume=false): its journal is kept as %s and its results.json will "
                    "be replaced; resume=true continues a run instead", run_dir, kept.name)
