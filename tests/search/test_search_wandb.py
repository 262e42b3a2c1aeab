"""W&B as users use it: live per-evaluation history read back from the offline run files, grouping,
the Pareto table, a quiet console, and the W&B Report built with W&B's API replaced at its boundary."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict, read_write

from hwgpt.search import run
from hwgpt.search.hypervolume import hypervolume_curve
from hwgpt.search.tracking import IncrementalHypervolume

BLOCK = 32768  # the .wandb file is a LevelDB-style log: 32 KiB blocks of CRC-framed chunks


def wandb_records(run_dir: Path, wait_s: float = 30.0) -> list[Any]:
    """The protobuf records of the one offline run under ``run_dir/wandb`` (what ``wandb sync`` uploads).

    W&B's service writes the file asynchronously (``run.finish()`` can return before the last records are
    flushed, and a read can catch a record half written): read until the run's exit record is there.
    """
    from google.protobuf.message import DecodeError

    deadline = time.monotonic() + wait_s
    while True:
        try:
            records = _read_records(run_dir)
        except DecodeError:  # a record being written as we read: read again
            if time.monotonic() > deadline:
                raise
            records = []
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def _read_records(run_dir: Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    files = list((run_dir / "wandb").glob("offline-run-*/*.wandb"))
    assert len(files) == 1, files
    data = files[0].read_bytes()
    if len(data) < 7:
        return []
    assert data[:4] == b":W&B"
    pos, buf, chunks = 7, b"", []
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # block trailer padding
            pos += BLOCK - pos % BLOCK
            continue
        n, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        if pos + 7 + n > len(data):  # the last chunk is still being written
            break
        chunk, pos = data[pos + 7:pos + 7 + n], pos + 7 + n
        if kind == 1:
            chunks.append(chunk)
        elif kind == 2:
            buf = chunk
        elif kind == 3:
            buf += chunk
        elif kind == 4:
            chunks.append(buf + chunk)
    records = []
    for c in chunks:
        r = pb.Record()
        r.ParseFromString(c)
        records.append(r)
    return records


def history(records: list[Any]) -> list[dict[str, Any]]:
    return [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
            for r in records if r.WhichOneof("record_type") == "history"]


def run_record(records: list[Any]) -> Any:
    runs = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert runs
    return runs[0]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)


@pytest.mark.timeout(120)
def test_offline_run_holds_one_history_row_per_evaluation(search_cfg, tmp_path: Path, capfd) -> None:
    res = run(search_cfg("logger=wandb", "n_evals=15", "logger.group=my-sweep", run_dir=tmp_path / "r"))
    records = wandb_records(tmp_path / "r")
    rows = history(records)
    evals = [r for r in rows if "evaluation" in r]
    assert [r["evaluation"] for r in evals] == list(range(1, 16))  # one row per evaluation, in order
    assert [r["hypervolume"] for r in evals] == pytest.approx([hv for _, hv in res["hypervolume_curve"]])
    assert evals[-1]["simulated_hours"] == pytest.approx(res["simulated_seconds"] / 3600)
    assert [r["objectives/latency"] for r in evals] == pytest.approx(
        [e["objectives"]["latency"] for e in res["history"]])
    final = rows[-1]  # the Pareto table is logged (a figure of the same key no longer overwrites it)
    assert final["pareto_front_table/_type"] == "table-file" and final["pareto_front_table/nrows"] == len(
        res["pareto_front"])
    assert final["plots/pareto_front/_type"] == "image-file"
    r = run_record(records)
    assert r.run_group == "my-sweep"
    assert {"rs", "tiny", "cpu", "perplexity", "latency", "latency@cpu", "seed0"} <= set(r.tags)
    config = {u.key: json.loads(u.value_json) for u in r.config.update}
    assert config["search"] == {"optimizer": "rs", "scale": "tiny", "device": "cpu",
                                "objectives": ["perplexity", "latency"], "devices": {"latency": "cpu"}, "seed": 0}
    summary = {}
    for rec in records:
        if rec.WhichOneof("record_type") == "summary":
            summary.update({u.key: json.loads(u.value_json) for u in rec.summary.update})
    assert summary["hypervolume"] == pytest.approx(res["hypervolume"])
    assert summary["hypervolume_median"] == pytest.approx(res["hypervolume_median"])
    meta = json.loads((tmp_path / "r" / "wandb_run.json").read_text())
    assert meta["group"] == "my-sweep" and meta["mode"] == "offline"
    out = capfd.readouterr()
    assert "wandb:" not in out.out + out.err  # W&B's own chatter stays out of the terminal


@pytest.mark.timeout(120)
def test_runs_of_a_multirun_share_the_sweep_as_group(search_cfg, tmp_path: Path) -> None:
    for seed in (0, 1):
        cfg = search_cfg("logger=wandb", "n_evals=4", f"seed={seed}", run_dir=tmp_path / "sweep_x" / str(seed))
        with read_write(cfg.hydra), open_dict(cfg):
            cfg.hydra.mode = "MULTIRUN"
            cfg.hydra.sweep.dir = str(tmp_path / "sweep_x")
        HydraConfig.instance().set_config(cfg)
        run(cfg)
    groups = {run_record(wandb_records(tmp_path / "sweep_x" / s)).run_group for s in ("0", "1")}
    assert groups == {"sweep_x"}


def test_incremental_hypervolume_matches_the_curve_and_every_k() -> None:
    rng = np.random.default_rng(0)
    F = rng.uniform(0, 1.2, size=(200, 3))
    exact = [hv for _, hv in hypervolume_curve(F, np.full(3, 1.1))]
    inc = IncrementalHypervolume([1.1] * 3)
    assert [inc.add(y) for y in F] == pytest.approx(exact)
    assert inc.recomputed < 200  # only when the front changed
    every = IncrementalHypervolume([1.1] * 3, every=10)
    got = [every.add(y) for y in F]
    assert got[9::10] == pytest.approx(exact[9::10])  # exact at every 10th evaluation
    assert every.recomputed <= 20


def test_bad_hypervolume_every_is_rejected(search_cfg) -> None:
    from hwgpt.errors import InvalidInput

    with pytest.raises(InvalidInput, match="hypervolume_every"):
        run(search_cfg("logger=wandb", "n_evals=3", "logger.hypervolume_every=0"))


# ------------------------------------------------------------------------------------------ W&B Report
@pytest.fixture
def multirun(search_cfg, tmp_path: Path) -> Path:
    root = tmp_path / "study"
    for opt, seed in (("rs", 0), ("rs", 1), ("ls", 0), ("ls", 1)):
        over = ["optimizer.searcher.num_init_random=3"] if opt == "ls" else []
        run(search_cfg(f"optimizer={opt}", f"seed={seed}", "n_evals=6", "logger=wandb", "logger.group=study",
                       *over, run_dir=root / f"{opt}-seed{seed}"))
    return root


@pytest.mark.timeout(180)
def test_wandb_report_saved_with_a_key(multirun: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb_workspaces.reports.v2 as wr

    from hwgpt.search.report import main

    saved: list[Any] = []
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setattr(wr.Report, "save", lambda self, *a, **k: saved.append(self) or self)
    main([str(multirun), "--wandb", "--entity", "me"])
    (report,) = saved
    assert report.project == "hwgpt" and report.entity == "me"
    grids = [b for b in report.blocks if isinstance(b, wr.PanelGrid)]
    assert len(grids) == 1
    (runset,) = grids[0].runsets
    assert runset.filters == "Group = 'study'" and runset.groupby == ["config.search.optimizer"]
    lines = {p.x: p for p in grids[0].panels if isinstance(p, wr.LinePlot)}
    assert set(lines) == {"simulated_hours", "evaluation"}
    assert all(p.y == ["hypervolume"] and p.groupby_aggfunc == "mean" and p.groupby_rangefunc == "stderr"
               for p in lines.values())
    assert any(isinstance(p, wr.WeavePanelSummaryTable) and p.table_name == "pareto_front_table"
               for p in grids[0].panels)
    table = next(b.text for b in report.blocks if isinstance(b, wr.MarkdownBlock))
    assert "| rs |" in table and "| ls |" in table and "±" in table
    assert (multirun / "report_wandb.json").is_file()


@pytest.mark.timeout(180)
def test_wandb_report_without_a_key_writes_the_spec_and_says_how(multirun: Path, monkeypatch, caplog) -> None:
    import wandb_workspaces.reports.v2 as wr

    from hwgpt.search.report import main

    monkeypatch.setenv("NETRC", str(multirun / "no-netrc"))
    monkeypatch.setenv("HOME", str(multirun))  # no ~/.netrc from a `wandb login`
    monkeypatch.setattr(wr.Report, "save", lambda self, *a, **k: pytest.fail("saved without a key"))
    main([str(multirun), "--wandb"])
    assert (multirun / "report.md").is_file()  # the local report is still written
    spec = json.loads((multirun / "report_wandb.json").read_text())
    assert spec["type"] == "Report" and any(b["type"] == "PanelGrid" for b in spec["blocks"])
    text = caplog.text
    assert "no W&B API key" in text and "WANDB_API_KEY" in text and "wandb sync" in text and "--wandb" in text
