"""The search journal, the run-dir lock and resume: history kept as it goes, resumed bit-identically,
foreign/corrupt/shrinking resumes refused, unwritable run dirs end with one clear error."""

from __future__ import annotations

import errno
import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
from search_helpers import SMALL

import hwgpt.search.journal as journal_mod
from hwgpt.errors import HwgptError, InvalidInput
from hwgpt.search import run
from hwgpt.search.hypervolume import hypervolume, hypervolume_curve, pareto_mask
from hwgpt.search.journal import JOURNAL_NAME, Journal, read_journal
from hwgpt.search.objectives import Normalization, parse_objectives
from hwgpt.search.results import load_results, write_results
from hwgpt.search.rundir import RunDirError, RunDirLock, check_overrides


class Boom(Exception):
    """Stands for a kill: the process ends in the middle of the loop, nothing after it runs."""


def _crash_at(k: int):
    def callback(record: dict) -> None:
        if record["index"] == k:
            raise Boom(k)
    return callback


def _lines(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / JOURNAL_NAME).read_text().splitlines()]


def _same(a: list[dict], b: list[dict]) -> bool:
    keys = ("arch", "objectives", "simulated_seconds", "rounds")
    return [{k: e[k] for k in keys} for e in a] == [{k: e[k] for k in keys} for e in b]


@pytest.mark.parametrize("optimizer", ["rs", "nsga2", "moasha"])
def test_callbacks_get_one_record_per_counted_evaluation(optimizer: str, search_cfg, tmp_path: Path) -> None:
    records: list[dict] = []
    res = run(search_cfg(f"optimizer={optimizer}", "n_evals=12", *SMALL[optimizer]), callbacks=[records.append])
    assert [r["index"] for r in records] == list(range(12))
    for r, e in zip(records, res["history"], strict=True):
        assert r["arch"] == e["arch"] and r["objectives"] == e["objectives"]
        assert r["simulated_seconds"] == e["simulated_seconds"] and r["rounds"] == e["rounds"]
        assert r["replayed"] is False


def test_journal_holds_header_and_every_evaluation(search_cfg, tmp_path: Path) -> None:
    res = run(search_cfg("n_evals=10", run_dir=tmp_path / "r"))
    head, *entries = _lines(tmp_path / "r")
    assert head["kind"] == "hwgpt.search.journal" and head["format_version"] == 1
    assert head["optimizer"] == "rs" and head["objectives"] == ["perplexity", "latency"] and head["seed"] == 0
    assert head["protocol"] == res["protocol"] and head["duplicates"] == "reuse"
    assert [e["index"] for e in entries] == list(range(10)) and _same(entries, res["history"])
    assert "replayed" not in entries[0]
    assert res["format_version"] == 1


def test_journal_is_in_the_file_after_each_evaluation(search_cfg, tmp_path: Path) -> None:
    seen: list[int] = []

    def look(record: dict) -> None:  # runs after the journal's callback: the line must be in the file already
        seen.append(len((tmp_path / "r" / JOURNAL_NAME).read_text().splitlines()) - 1)

    run(search_cfg("n_evals=6", run_dir=tmp_path / "r"), callbacks=[look])
    assert seen == [1, 2, 3, 4, 5, 6]


def test_journal_fsyncs_at_most_every_sync_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(journal_mod.os, "fsync", lambda fd: calls.append(fd))
    clock = iter(np.arange(0.0, 100.0, 0.5).tolist())
    monkeypatch.setattr(journal_mod.time, "monotonic", lambda: next(clock))
    j = Journal(tmp_path / "h.jsonl", {"kind": journal_mod.KIND}, sync_seconds=2.0)
    n0 = len(calls)
    arch = {"embed_dim": 64}
    for i in range(8):  # 0.5 s apart: one fsync per 4 records
        j({"index": i, "arch": arch, "objectives": {"a": 1.0}, "simulated_seconds": 1.0, "rounds": 1})
    assert len(calls) - n0 == 2
    j.close()
    assert len(calls) - n0 == 3  # and at the end


@pytest.mark.parametrize("optimizer", ["rs", "nsga2", "ls", "morea"])
def test_killed_run_resumes_bit_identically_from_the_journal(optimizer: str, search_cfg, tmp_path: Path) -> None:
    args = [f"optimizer={optimizer}", "n_evals=14", *SMALL[optimizer]]
    full = run(search_cfg(*args, run_dir=tmp_path / "full"))
    with pytest.raises(Boom):
        run(search_cfg(*args, run_dir=tmp_path / "cut"), callbacks=[_crash_at(6)])
    assert not (tmp_path / "cut" / "results.json").exists()  # a kill writes no results.json
    assert len(_lines(tmp_path / "cut")) == 1 + 7  # header + evaluations 0..6
    resumed = run(search_cfg(*args, "resume=true", run_dir=tmp_path / "cut"))
    assert resumed["complete"] and resumed["history"] == full["history"]
    assert resumed["hypervolume"] == full["hypervolume"]
    assert _same(_lines(tmp_path / "cut")[1:], full["history"])  # the journal, continued: no duplicate lines


def test_torn_last_line_is_dropped_and_redone(search_cfg, tmp_path: Path) -> None:
    full = run(search_cfg("n_evals=12", run_dir=tmp_path / "full"))
    with pytest.raises(Boom):
        run(search_cfg("n_evals=12", run_dir=tmp_path / "cut"), callbacks=[_crash_at(5)])
    path = tmp_path / "cut" / JOURNAL_NAME
    with open(path, "ab") as f:
        f.write(b'{"index": 6, "arch": {"embed_dim": 12')  # killed while writing
    resumed = run(search_cfg("n_evals=12", "resume=true", run_dir=tmp_path / "cut"))
    assert resumed["history"] == full["history"]
    assert _same(_lines(tmp_path / "cut")[1:], full["history"])


def _cut_run(search_cfg, tmp_path: Path, *args: str) -> Path:
    with pytest.raises(Boom):
        run(search_cfg("n_evals=10", *args, run_dir=tmp_path / "cut"), callbacks=[_crash_at(5)])
    return tmp_path / "cut" / JOURNAL_NAME


def _rewrite(path: Path, edit) -> bytes:  # noqa: ANN001
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")
    return path.read_bytes()


@pytest.mark.parametrize(("edit", "match"), [
    (lambda ls: ls.__setitem__(3, ls[3][:20]), r"line 4 is corrupt"),
    (lambda ls: ls.__setitem__(0, ls[0].replace("hwgpt.search.journal", "other")), "not a search journal"),
    (lambda ls: ls.__setitem__(0, ls[0].replace('"format_version":1', '"format_version":99')), "format version 99"),
    (lambda ls: ls.__setitem__(2, ls[2].replace('"perplexity":', '"perplexity":NaN,"x":')), "objectives|finite"),
    (lambda ls: ls.__setitem__(2, json.dumps({**json.loads(ls[2]), "objectives": {
        k: float("nan") for k in json.loads(ls[2])["objectives"]}})), "finite numbers only"),
    (lambda ls: ls.__setitem__(3, ls[2].replace('"index":1', '"index":2')), "repeats the architecture"),
    (lambda ls: ls.__setitem__(3, ls[4]), "index 3"),
    (lambda ls: ls.__setitem__(2, ls[2].replace('"latency"', '"energy"')), "objectives"),
])
def test_corrupt_or_foreign_journal_is_refused_and_kept(edit, match, search_cfg, tmp_path: Path) -> None:
    path = _cut_run(search_cfg, tmp_path)
    before = _rewrite(path, edit)
    with pytest.raises(InvalidInput, match=match):
        run(search_cfg("n_evals=10", "resume=true", run_dir=tmp_path / "cut"))
    assert path.read_bytes() == before  # refused, not repaired


@pytest.mark.parametrize(("override", "match"), [
    ("objectives=[perplexity,energy]", "objectives"),
    ("seed=3", "seed"),
    ("noise=false", "noise"),
    ("optimizer=ls", "optimizer"),
    ("simulation.repeats=5", "protocol"),
    ("duplicates=remeasure", "duplicates"),
])
def test_resume_refuses_another_run(override: str, match: str, search_cfg, tmp_path: Path) -> None:
    path = _cut_run(search_cfg, tmp_path)
    before = path.read_bytes()
    with pytest.raises(InvalidInput, match=f"differs from this command in .*{match}"):
        run(search_cfg("n_evals=10", override, "resume=true", run_dir=tmp_path / "cut"))
    assert path.read_bytes() == before


def test_resume_refuses_to_shrink_a_run(search_cfg, tmp_path: Path) -> None:
    run(search_cfg("n_evals=10", run_dir=tmp_path / "r"))
    files = {p.name: p.read_bytes() for p in (tmp_path / "r").glob("*.json*")}
    with pytest.raises(InvalidInput, match=r"already has 10 evaluations, more than n_evals=5.*n_evals>=10"):
        run(search_cfg("n_evals=5", "resume=true", run_dir=tmp_path / "r"))
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").glob("*.json*")} == files
    again = run(search_cfg("n_evals=10", "resume=true", run_dir=tmp_path / "r"))  # the same size: fine
    assert again["n_evals"] == 10


@pytest.mark.parametrize(("content", "match"), [
    (lambda t: t[: len(t) // 2], "truncated"),
    (lambda t: "[1, 2]", "not a search results object"),
    (lambda t: json.dumps({**json.loads(t), "format_version": 7}), "format_version 7"),
    (lambda t: json.dumps({k: v for k, v in json.loads(t).items() if k != "objectives"}), "objectives"),
    (lambda t: json.dumps({**json.loads(t), "history": [
        {**e, "objectives": {k: math.nan for k in e["objectives"]}} for e in json.loads(t)["history"]]}), "NaN"),
])
def test_bad_results_json_is_a_clear_error(content, match, search_cfg, tmp_path: Path) -> None:
    run(search_cfg("n_evals=6", run_dir=tmp_path / "r"))
    (tmp_path / "r" / JOURNAL_NAME).unlink()  # a run of before the journal: results.json only
    path = tmp_path / "r" / "results.json"
    path.write_text(content(path.read_text()))
    with pytest.raises(InvalidInput, match=match):
        run(search_cfg("n_evals=8", "resume=true", run_dir=tmp_path / "r"))
    with pytest.raises(InvalidInput, match=match):
        load_results(path)


def test_resume_from_results_json_only_journals_it(search_cfg, tmp_path: Path) -> None:
    full = run(search_cfg("n_evals=12", run_dir=tmp_path / "full"))
    run(search_cfg("n_evals=7", run_dir=tmp_path / "r"))
    (tmp_path / "r" / JOURNAL_NAME).unlink()
    resumed = run(search_cfg("n_evals=12", "resume=true", run_dir=tmp_path / "r"))
    assert resumed["history"] == full["history"]
    assert _same(_lines(tmp_path / "r")[1:], full["history"])


def test_new_run_in_a_used_dir_sets_the_old_journal_aside(search_cfg, tmp_path: Path) -> None:
    run(search_cfg("n_evals=5", run_dir=tmp_path / "r"))
    old = (tmp_path / "r" / JOURNAL_NAME).read_bytes()
    run(search_cfg("n_evals=4", "seed=1", run_dir=tmp_path / "r"))
    assert (tmp_path / "r" / "history.previous.jsonl").read_bytes() == old
    assert len(_lines(tmp_path / "r")) == 1 + 4


def test_second_run_in_a_locked_dir_refuses(search_cfg, tmp_path: Path) -> None:
    with RunDirLock(tmp_path / "r"), pytest.raises(InvalidInput, match="in use by another search"):
        run(search_cfg("n_evals=5", run_dir=tmp_path / "r"))
    assert not (tmp_path / "r" / "results.json").exists()
    run(search_cfg("n_evals=5", run_dir=tmp_path / "r"))  # released: the dir is usable again


def test_lock_is_released_when_the_run_fails(search_cfg, tmp_path: Path) -> None:
    _cut_run(search_cfg, tmp_path)
    with RunDirLock(tmp_path / "cut"):
        pass


def test_unwritable_run_dir_is_one_clear_error(search_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import hwgpt.search.rundir as rundir

    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="cannot write into the run directory"):
        run(search_cfg("n_evals=5", run_dir=tmp_path / "file" / "r"))  # under a file: cannot be created

    def refuse(*a, **k):  # noqa: ANN002, ANN003 - a read-only file system (root ignores chmod: simulated)
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(rundir, "os", types.SimpleNamespace(**{**vars(rundir.os), "open": refuse}))
    with pytest.raises(RunDirError, match="cannot write into the run directory .*read-only"):
        run(search_cfg("n_evals=5", run_dir=tmp_path / "r"))


def test_disk_full_keeps_the_journal_and_resumes(search_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = run(search_cfg("n_evals=10", run_dir=tmp_path / "full"))
    real = Journal._append

    def fill(self, line: bytes) -> None:  # noqa: ANN001
        if self.n == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, line)

    monkeypatch.setattr(journal_mod.Journal, "_append", fill)
    with pytest.raises(RunDirError, match="disk is full.*first 4 evaluations are kept.*resume=true") as e:
        run(search_cfg("n_evals=10", run_dir=tmp_path / "r"))
    assert isinstance(e.value, HwgptError)
    monkeypatch.undo()
    resumed = run(search_cfg("n_evals=10", "resume=true", run_dir=tmp_path / "r"))
    assert resumed["history"] == full["history"]


def test_results_written_atomically_with_unique_temp_names(search_cfg, tmp_path: Path) -> None:
    res = run(search_cfg("n_evals=5", run_dir=tmp_path / "r"))
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(40):
                write_results(res, tmp_path / "w")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert load_results(tmp_path / "w" / "results.json")["history"] == res["history"]
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["results.json"]  # no temp files left


def test_results_refuse_non_finite_numbers(search_cfg, tmp_path: Path) -> None:
    res = run(search_cfg("n_evals=5", run_dir=tmp_path / "r"))
    with pytest.raises(InvalidInput, match="non-finite"):
        write_results({**res, "hypervolume": math.inf}, tmp_path / "x")


def test_read_journal_of_only_a_torn_header_is_nothing(tmp_path: Path) -> None:
    (tmp_path / "h.jsonl").write_bytes(b'{"kind": "hwgpt.sea')
    assert read_journal(tmp_path / "h.jsonl") is None


# --------------------------------------------------------------------------- bounded, validated inputs
@pytest.mark.parametrize(("overrides", "match"), [
    (["n_evals=1000000000000"], r"n_evals must be <= 1000000 \(the cap on evaluations"),
    (["budget.simulated_hours=1", "budget.max_evals=10000000"], "budget.max_evals must be <= 1000000"),
    (["reference_point=nan"], "reference_point must be a positive number, finite"),
    (["reference_point=inf"], "reference_point must be a positive number, finite"),
    (["reference_point=-1"], "reference_point must be a positive number"),
    (["threads=-1"], "threads must be >= 1"),
    (["threads=abc"], "threads must be an integer"),
    (["normalization.n_archs=abc"], "normalization.n_archs must be an integer"),
    (["normalization.n_archs=0"], "normalization.n_archs must be >= 1"),
    (["n_evals=${oc.env:NOPE_NOT_SET_HWGPT}"], "config key 'n_evals' does not resolve"),
    (["~objectives"], r"lacks \['objectives'\]"),
    (["task_name=../../escape"], "invalid task_name name"),
    (["objectives=[perplexity,latency@../../x]"], "invalid device name '../../x'"),
    (["objectives=[perplexity,latency@]"], "no device after '@'"),
    (["objectives=[perplexity,latency@cpu@cpu]"], "more than one '@'"),
    (["objectives=[perplexity,'latency@ cpu']"], "invalid device name ' cpu'"),
    (["objectives=[perplexity,'latency@ｃｐｕ']"], "non-ASCII"),
    (["devices={latency:null}"], "devices.latency must be a device name"),
])
def test_bad_search_input_is_refused_before_any_work(overrides, match, search_cfg, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import hwgpt.search.runner as runner

    monkeypatch.setattr(runner, "optimize", lambda *a, **k: pytest.fail("search started"))
    with pytest.raises(InvalidInput, match=match):
        run(search_cfg(*overrides, run_dir=tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()


def test_n_evals_bounded_by_the_space(search_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hwgpt.search.config as config

    monkeypatch.setattr(config, "MAX_EVALS", 10**12)
    with pytest.raises(InvalidInput, match=r"n_evals must be <= 3582306 \(the number of distinct architectures"):
        run(search_cfg("scale=tiny", "n_evals=3582307", run_dir=tmp_path / "bad"))


def test_flops_objective_runs(search_cfg, tmp_path: Path) -> None:  # IndexError in Benchmark._latencies before
    res = run(search_cfg("benchmark._target_=hwgpt.benchmark.Benchmark", "objectives=[perplexity,flops]",
                         "n_evals=5"))
    assert res["n_evals"] == 5 and all(e["simulated_seconds"] > 0 for e in res["history"])


def test_simulated_seconds_of_device_free_metrics() -> None:
    from hwgpt import Benchmark

    b = Benchmark("tiny", device="cpu")
    archs = [b.space.sample(i) for i in range(3)]
    secs = b.simulated_seconds(archs, ["perplexity", "params"])  # raised IndexError (a stale view of the cache)
    assert secs.shape == (3,) and (secs > 0).all()
    assert secs.tolist() == [b.simulated_seconds(a, ["perplexity", "params"]) for a in archs]


@pytest.mark.parametrize("argv", [["hydra.run.dir="], ["hydra.run.dir=  "], ["task_name=../../escape"],
                                  ["task_name=a/b"], ["~hydra.run.dir"]])
def test_run_dir_overrides_refused_before_hydra(argv: list[str]) -> None:
    with pytest.raises(InvalidInput, match="hydra.run.dir|task_name"):
        check_overrides(argv)
    check_overrides(["task_name=my_study", "hydra.run.dir=outputs/x", "seed=0,1", "-m"])  # fine


@pytest.mark.parametrize("ref", [[math.nan, 1.1], [math.inf, 1.1], [-1.0, 1.1], None, [1.1], ["a", 1.1]])
def test_hypervolume_refuses_bad_reference_points(ref) -> None:  # noqa: ANN001
    F = np.array([[0.2, 0.5], [0.5, 0.2]])
    with pytest.raises(InvalidInput, match="reference_point"):
        hypervolume(F, ref)
    with pytest.raises(InvalidInput, match="reference_point"):
        hypervolume_curve(F, ref)


@pytest.mark.parametrize("row", [[math.nan, 0.1], [-math.inf, 0.1], [None, 0.1]])
def test_hypervolume_and_pareto_mask_refuse_bad_rows(row) -> None:  # noqa: ANN001
    F = np.array([[0.2, 0.5], row], dtype=object)
    for fn in (lambda: hypervolume(F, [1.1, 1.1]), lambda: pareto_mask(F), lambda: hypervolume_curve(F, [1.1, 1.1])):
        with pytest.raises(InvalidInput, match="row 1"):
            fn()
    assert hypervolume(np.array([[0.5, 0.5], [math.inf, 0.1]]), [1.0, 1.0]) == pytest.approx(0.25)  # +inf: outside


@pytest.mark.parametrize(("bounds", "values", "match"), [
    ({"perplexity": (None, 1.0), "latency": (0.0, 1.0)}, None, "bounds of 'perplexity'"),
    ({"perplexity": (0.0, math.nan), "latency": (0.0, 1.0)}, None, "bounds of 'perplexity'"),
    ({"latency": (0.0, 1.0)}, None, "lack objective 'perplexity'"),
    ({"perplexity": (0.0, 1.0), "latency": (0.0, 1.0)}, {"perplexity": math.nan, "latency": 0.1}, "non-finite"),
    ({"perplexity": (0.0, 1.0), "latency": (0.0, 1.0)}, {"perplexity": math.inf, "latency": 0.1}, "non-finite"),
    ({"perplexity": (0.0, 1.0), "latency": (0.0, 1.0)}, {"latency": 0.1}, "no value of objective 'perplexity'"),
])
def test_normalization_refuses_bad_bounds_and_values(bounds, values, match) -> None:  # noqa: ANN001
    objectives = tuple(parse_objectives(["perplexity", "latency"], "cpu"))
    with pytest.raises(InvalidInput, match=match):
        Normalization(objectives, bounds)(values)
