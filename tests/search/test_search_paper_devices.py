"""The users' commands on paper devices, on a fake artifact root (synthetic surrogates; no paper data needed).

``python search.py device=h100 optimizer=ehvi`` (no scale: the device's default scale, S) and the paper's
3-objective case ``scale=s optimizer=nsga2 objectives=[perplexity,latency,energy]
devices={latency:rtx2080,energy:a6000}``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from search_helpers import SMALL

from hwgpt.search import run
from hwgpt.search.results import validate_results

BENCH = "benchmark._target_=hwgpt.benchmark.Benchmark"


@pytest.fixture(scope="module")
def paper_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """S surrogates (latency, energy, perplexity) fitted once on synthetic data, copied to several device names."""
    from hwgpt.search_space import SearchSpace
    from hwgpt.surrogates import artifacts
    from hwgpt.surrogates.fit import FitSettings, fit_all
    from hwgpt.surrogates.synthetic import synthetic_observations

    space = SearchSpace.from_name("s")
    root = tmp_path_factory.mktemp("paper_artifacts")
    frame = synthetic_observations(space, n_archs=60, repeats=4, seed=0, device="h100",
                                   metrics=("latency", "energy", "perplexity"))
    fit_all(frame, space, "h100", FitSettings.fast(), out_dir=root)
    for device in ("a6000", "rtx2080", "cpu"):  # same models under other names (the meta names its device)
        shutil.copytree(root / "s" / "h100", root / "s" / device)
        for meta in (root / "s" / device).glob("*.meta.json"):
            m = json.loads(meta.read_text())
            m["device"] = device
            meta.write_text(json.dumps(m))
        artifacts.write_manifest(root / "s" / device)
    return root


def test_paper_device_without_scale_runs_at_s(search_cfg, paper_root: Path) -> None:
    res = run(search_cfg(BENCH, f"benchmark.artifacts_dir={paper_root}", "device=h100", "optimizer=ehvi",
                         "n_evals=8", *SMALL["ehvi"], "normalization.n_archs=100"))
    validate_results(res)
    assert res["scale"] == "s" and res["devices"] == {"latency": "h100"} and res["simulated_seconds"] > 0


def test_paper_three_objective_case(search_cfg, paper_root: Path) -> None:
    res = run(search_cfg(BENCH, f"benchmark.artifacts_dir={paper_root}", "scale=s", "optimizer=nsga2",
                         "objectives=[perplexity,latency,energy]", "devices={latency:rtx2080,energy:a6000}",
                         "n_evals=10", *SMALL["nsga2"], "normalization.n_archs=100"))
    validate_results(res)
    assert res["devices"] == {"latency": "rtx2080", "energy": "a6000"}
    # simulated time: both devices measured (warm-up + 10 forwards each) plus the perplexity windows
    assert all(e["simulated_seconds"] > 0 for e in res["history"])


def test_shell_brace_expansion_of_devices_is_joined(search_cfg) -> None:
    """Unquoted in bash, devices={latency:rtx2080,energy:a6000} arrives as two overrides; search.py joins them."""
    from hwgpt import cli

    argv = ["search.py", "scale=s", "devices=latency:rtx2080", "devices=energy:a6000", "optimizer=nsga2"]
    joined = ["search.py", "scale=s", "optimizer=nsga2", "devices={latency:rtx2080,energy:a6000}"]
    assert cli.join_devices(argv) == joined
    assert cli.join_devices(["search.py", "devices={latency:cpu}"]) == ["search.py", "devices={latency:cpu}"]
    res = run(search_cfg("objectives=[perplexity,latency,energy]", "devices=latency:rtx2080", "n_evals=4"))
    assert res["devices"] == {"latency": "rtx2080", "energy": "cpu"}  # a single string override also works
    with pytest.raises(ValueError, match="devices must map objectives to devices"):
        run(search_cfg("devices=rtx2080", "n_evals=4"))
