"""A W&B Report of a multirun (``python -m hwgpt.search.report <multirun dir> --wandb``), built with wandb-workspaces.

The report holds the comparison table of :mod:`hwgpt.search.report` (mean ± s.e. over seeds, ranks,
budgets) and, per problem of the multirun, the hypervolume by simulated hours and by evaluations with
the runs grouped by optimizer (mean ± standard error over seeds, W&B's ``stderr`` band; the observed
hypervolume, as logged live: the medians' curves are in the local report) and each run's Pareto front
(the ``pareto_front_table`` tables and the ``plots/pareto_front`` figures).

Which runs: those the search logged with ``logger=wandb``; each run dir's ``wandb_run.json`` names the
run's project, entity and group (the sweep). With an API key (``WANDB_API_KEY`` or ``wandb login``) the
report is saved to W&B and its URL logged. Without one nothing is sent: the report's spec (JSON) is
written as ``report_wandb.json`` beside ``report.md``, with the steps to publish it. Runs logged offline
(the default) must be synced before the report can show them (``wandb sync``, see :func:`publish_hint`).

Install: ``pip install 'hwgpt[wandb-report]'`` (the ``wandb-workspaces`` package).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import netrc
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hwgpt.errors import InvalidInput
from hwgpt.search.runs import problem_of

log = logging.getLogger(__name__)

SPEC_FILE = "report_wandb.json"


def api_key() -> str | None:
    """The W&B API key if one is configured (``WANDB_API_KEY``, else ``~/.netrc`` from ``wandb login``)."""
    if os.environ.get("WANDB_API_KEY"):
        return os.environ["WANDB_API_KEY"]
    try:
        host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1].rstrip("/")
        auth = netrc.netrc().authenticators(host)
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return None
    return auth[2] if auth else None


def wandb_runs(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``wandb_run.json`` of each run that has one (the run's project, entity, group, id, mode)."""
    out = []
    for r in runs:
        f = Path(r.get("run_dir", "")) / "wandb_run.json"
        if f.is_file():
            out.append(json.loads(f.read_text()))
    return out


def publish_hint(root: Path, offline: bool) -> str:
    """The steps to publish the report."""
    steps = ["export WANDB_API_KEY=<your key>   # or: wandb login"]
    if offline:
        steps.append(f"wandb sync {root}/*/wandb/offline-run-*   # upload the runs logged offline")
    steps.append(f"python -m hwgpt.search.report {root} --wandb")
    return "\n".join(f"  {s}" for s in steps)


def build_report(root: Path, table_md: str, problems: Sequence[str], runs: Sequence[dict[str, Any]],
                 project: str | None = None, entity: str | None = None, title: str | None = None) -> Any:
    """The ``wandb_workspaces.reports.v2.Report`` of the runs below ``root`` (not saved).

    Args:
        root: The multirun dir.
        table_md: The comparison table (markdown, from :func:`hwgpt.search.report.to_markdown`).
        problems: The problems of the multirun (one section each).
        runs: The runs' results dicts (with ``run_dir``, as :func:`hwgpt.search.runs.load_runs` returns).
        project, entity: Override the runs' W&B project/entity.
        title: Report title (default: ``hwgpt: <multirun dir name>``).
    """
    try:
        import wandb_workspaces.reports.v2 as wr
    except ImportError as e:
        raise InvalidInput("--wandb needs wandb-workspaces: pip install 'hwgpt[wandb-report]' "
                           "(or pip install wandb-workspaces)") from e

    logged = wandb_runs(runs)
    project = project or next((w["project"] for w in logged if w.get("project")), None) or "hwgpt"
    entity = entity or os.environ.get("WANDB_ENTITY") or next((w["entity"] for w in logged if w.get("entity")), None)
    kw = {"entity": entity} if entity else {}
    blocks: list[Any] = [
        wr.P(f"Optimizer comparison of {len(runs)} search runs in {root.name} (hwgpt). Runs are grouped by "
             "optimizer: lines are the mean over seeds, bands ± one standard error. Hypervolume of the normalised, "
             "minimised objectives (reference point 1.1 per objective); the local report (report.md, report*.png) "
             "also has the medians' (noise-free) hypervolume."),
        wr.H2("Comparison table (mean ± s.e. over seeds)"),
        wr.MarkdownBlock(text=table_md),
    ]
    for problem in problems:
        ids = {(Path(r["run_dir"]) / "wandb_run.json") for r in runs if problem_of(r) == problem}
        groups = sorted({json.loads(f.read_text()).get("group") or "" for f in ids if f.is_file()} - {""})
        if len(groups) == 1:
            filters = f"Group = '{groups[0]}'"
        elif groups:
            filters = "Group in [" + ", ".join(f"'{g}'" for g in groups) + "]"
        else:
            filters = ""
        runset = wr.Runset(project=project, name=problem, filters=filters, groupby=["config.search.optimizer"], **kw)
        band = {"groupby_aggfunc": "mean", "groupby_rangefunc": "stderr"}
        panels = [
            wr.LinePlot(title="hypervolume by simulated hours", x="simulated_hours", y=["hypervolume"],
                        title_x="simulated hours", title_y="hypervolume (mean ± s.e.)", **band),
            wr.LinePlot(title="hypervolume by evaluations", x="evaluation", y=["hypervolume"],
                        title_x="evaluations", title_y="hypervolume (mean ± s.e.)", **band),
            wr.MediaBrowser(title="Pareto fronts", media_keys=["plots/pareto_front"]),
            wr.WeavePanelSummaryTable(table_name="pareto_front_table"),
        ]
        blocks += [wr.H2(problem), wr.PanelGrid(runsets=[runset], panels=panels)]
    return wr.Report(project=project, title=(title or f"hwgpt: {root.name}")[:128],
                     description="Multi-objective search on HW-GPT-Bench surrogates", blocks=blocks, **kw)


def to_spec(obj: Any) -> Any:
    """A JSON-able description of a report object tree: ``{"type": <class>, <field>: ...}``, empty fields left out."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {"type": type(obj).__name__}
        for f in dataclasses.fields(obj):
            if f.name.startswith("_"):
                continue
            v = to_spec(getattr(obj, f.name))
            if v not in (None, [], {}, "", [None, None]):
                out[f.name] = v
        return out
    if isinstance(obj, (list, tuple)):
        return [to_spec(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_spec(v) for k, v in obj.items()}
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def publish(root: Path, out: Path, table_md: str, problems: Sequence[str], runs: Sequence[dict[str, Any]],
            project: str | None = None, entity: str | None = None) -> str | None:
    """Build the W&B Report; save it when a key is set (returns its URL), else write its spec (returns None).

    The spec (``report_wandb.json`` in ``out``) is written in both cases.
    """
    logged = wandb_runs(runs)
    if not logged:
        log.warning("none of the %d runs below %s was logged to W&B (logger=wandb): the report's panels will be "
                    "empty; rerun the searches with logger=wandb", len(runs), root)
    offline = any(w.get("mode") == "offline" for w in logged)
    key = api_key()
    if not key and not entity and not os.environ.get("WANDB_ENTITY"):
        entity = next((w["entity"] for w in logged if w.get("entity")), None) or "<your-entity>"
    report = build_report(root, table_md, problems, runs, project, entity)
    spec = out / SPEC_FILE
    spec.write_text(json.dumps(to_spec(report), indent=1) + "\n")
    if not key:
        log.warning("--wandb: no W&B API key (WANDB_API_KEY unset, no `wandb login`), so nothing was sent. "
                    "The report is in %s; the W&B Report's spec is in %s. To publish it:\n%s",
                    out / "report.md", spec, publish_hint(root, offline))
        return None
    if offline:
        log.warning("some runs were logged offline; the report shows them once synced: wandb sync "
                    "%s/*/wandb/offline-run-*", root)
    report.save()
    url = getattr(report, "url", None)
    log.info("W&B Report saved: %s (spec: %s)", url, spec)
    return url
