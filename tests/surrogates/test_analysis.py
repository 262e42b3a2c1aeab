"""The analysis command: correlation matrix and ECDFs from fitted surrogates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from hwgpt.surrogates.analysis import PAPER_RANKING, importance, run

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_analysis_command(artifacts_dir: Path, tmp_path: Path, device: str) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("analysis", overrides=["n_archs=400", f"artifacts_dir={artifacts_dir}"])
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
        cfg.device = {"name": device}
    summary, _ = run(cfg)
    assert summary["metric"] == "latency" and summary["device"] == device
    assert set(summary["correlation"]["columns"]) == {
        f"latency@{device}", f"memory@{device}", "perplexity", "flops", "params"}
    assert sorted(summary["ranking"]) == sorted(PAPER_RANKING)
    assert summary["ranking"][0] == "embed_dim"  # synthetic latency follows FLOPs: width matters most
    assert (tmp_path / "correlation.png").is_file() and (tmp_path / "ecdf_latency.png").is_file()
    assert json.loads((tmp_path / "analysis.json").read_text())["ranking"] == summary["ranking"]


def test_importance_finds_the_driving_dimension() -> None:
    rng = np.random.default_rng(0)
    g = pd.DataFrame({"a": rng.integers(0, 3, 3000), "b": rng.integers(0, 2, 3000)})
    v = np.exp(g["a"].to_numpy() + 0.1 * rng.normal(size=3000))
    imp = importance(v, g)
    assert imp["a"]["eta2"] > 0.9 > 0.05 > imp["b"]["eta2"] and imp["a"]["ks_max"] > 0.9


def test_stratified_metric_is_an_override(artifacts_dir: Path, tmp_path: Path, device: str) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("analysis", overrides=["n_archs=200", f"artifacts_dir={artifacts_dir}", "stratify=memory"])
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
        cfg.device = {"name": device}
    summary, _ = run(cfg)
    assert summary["metric"] == "memory" and (tmp_path / "ecdf_memory.png").is_file()
