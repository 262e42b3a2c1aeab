"""The multirun report: mean ± standard error per optimizer, ranks, files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwgpt.search import run
from hwgpt.search.report import aggregate, main


def _fake_run(optimizer: str, seed: int, hv: float, problem_scale: str = "tiny", seconds: float = 1800.0) -> dict:
    arch = {"embed_dim": 64, "n_layer": 4, "n_head": [2] * 4, "mlp_ratio": [2] * 4, "bias": False}
    entry = lambda t: {"arch": arch, "objectives": {"perplexity": 1.0, "latency": 1.0},  # noqa: E731
                       "simulated_seconds": t, "cumulative_simulated_seconds": t}
    return {"simulated_seconds": 2 * seconds, "hypervolume_median_curve": [[1, hv / 2], [2, hv]],
            "optimizer": optimizer, "scale": problem_scale, "objectives": ["perplexity", "latency"],
            "devices": {"latency": "cpu"}, "seed": seed, "n_evals": 2, "reference_point": [1.1, 1.1],
            "normalization": {"perplexity": [0, 2], "latency": [0, 2]}, "hypervolume": hv,
            "hypervolume_curve": [[1, hv / 2], [2, hv]], "pareto_front": [entry(seconds)],
            "history": [entry(seconds), entry(2 * seconds)],
            "hypervolume_median": hv, "noise": True, "timing": {"optimizer_s": 1.0, "benchmark_s": 0.002}}


def test_aggregate_mean_se_and_rank() -> None:
    runs = [_fake_run("a", 0, 0.5), _fake_run("a", 1, 0.7), _fake_run("b", 0, 0.6), _fake_run("b", 1, 0.6)]
    t = aggregate(runs).set_index("optimizer")
    assert t.loc["a", "hv_n_mean"] == pytest.approx(0.6) and t.loc["a", "hv_n_se"] == pytest.approx(0.1)
    assert t.loc["b", "hv_n_se"] == 0.0 and t.loc["a", "seeds"] == 2
    assert t.loc["a", "mean_rank"] == pytest.approx(1.5) and t.loc["b", "mean_rank"] == pytest.approx(1.5)
    assert t.loc["a", "common_hours"] == pytest.approx(1.0) and t.loc["a", "hvm_t_mean"] == pytest.approx(0.6)


def test_by_simulated_time_uses_the_common_budget() -> None:
    """A run that spent twice the time per evaluation is compared at the other's total time."""
    from hwgpt.search.report import hv_at_hours

    fast, slow = _fake_run("fast", 0, 0.8, seconds=900.0), _fake_run("slow", 0, 0.9, seconds=1800.0)
    t = aggregate([fast, slow]).set_index("optimizer")
    assert t.loc["fast", "common_hours"] == pytest.approx(0.5)
    assert t.loc["fast", "hvm_t_mean"] == pytest.approx(0.8)  # both of its evaluations fit in 0.5 h
    assert t.loc["slow", "hvm_t_mean"] == pytest.approx(0.45)  # only its first did
    assert t.loc["fast", "mean_rank"] == 1.0
    assert hv_at_hours(slow, 0.1) == 0.0


def test_report_command_on_a_multirun_dir(search_cfg, tmp_path: Path, capsys) -> None:
    root = tmp_path / "multirun"
    for j, (opt, seed) in enumerate([("rs", 0), ("rs", 1), ("ls", 0), ("ls", 1)]):
        run(search_cfg(f"optimizer={opt}", f"seed={seed}", "n_evals=8", "optimizer.searcher.num_init_random=4"
                       if opt == "ls" else "n_evals=8", run_dir=root / str(j)))
    main([str(root)])
    printed = capsys.readouterr().out
    assert "| rs |" in printed and "| ls |" in printed and "±" in printed
    for name in ("report.md", "report.csv", "report_0.png", "report_time_0.png", "fronts_0.png"):
        assert (root / name).is_file()
    rs = [json.loads((root / str(j) / "results.json").read_text())["hypervolume"] for j in (0, 1)]
    assert f"{np.mean(rs):.4f}" in printed


def test_report_on_an_empty_dir_says_what_to_run(tmp_path: Path) -> None:
    from hwgpt.errors import InvalidInput

    with pytest.raises(InvalidInput, match="no results.json below"):
        main([str(tmp_path)])
    p = subprocess.run([sys.executable, "-m", "hwgpt.search.report", str(tmp_path)], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert p.stderr.strip().splitlines()[-1].startswith("python -m hwgpt.search.report: error: no results.json")


def test_report_skips_a_truncated_run_and_names_it(search_cfg, tmp_path: Path, caplog) -> None:
    """A results.json cut off mid-write (or edited by hand) is skipped with a warning naming it; a directory
    with nothing readable is a clear error, not a KeyError from an empty table."""
    from hwgpt.errors import InvalidInput

    root = tmp_path / "multirun"
    run(search_cfg("optimizer=rs", "seed=0", "n_evals=8", run_dir=root / "0"))
    text = (root / "0" / "results.json").read_text()
    (root / "1").mkdir()
    (root / "1" / "results.json").write_text(text[: len(text) // 2])
    with caplog.at_level("WARNING"):
        main([str(root)])
    assert "truncated" in caplog.text and str(root / "1" / "results.json") in caplog.text
    assert (root / "report.md").read_text().count("| rs |") == 1
    (root / "0" / "results.json").write_text(text[:100])
    with pytest.raises(InvalidInput, match="no readable results.json below"):
        main([str(root)])
