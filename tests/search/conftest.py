"""Fixtures for the search tests: a fake benchmark and composed conf/search.yaml configs.

The fake is :class:`hwgpt.search.analytic.AnalyticBenchmark` (the real interface, analytic
metrics from hwgpt.cost plus seeded noise): fast, and needs no shipped surrogates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from search_helpers import CONF, FAKE

from hwgpt.search.analytic import AnalyticBenchmark
from hwgpt.search.runner import resolve_scale


@pytest.fixture
def fake() -> Callable[..., AnalyticBenchmark]:
    return AnalyticBenchmark


@pytest.fixture
def search_cfg(tmp_path: Path) -> Iterator[Callable[..., DictConfig]]:
    """``make(*overrides, run_dir=None, scale=True)``: conf/search.yaml on the fake benchmark, logger=none,
    tmp run dir."""

    def make(*overrides: str, run_dir: Path | None = None, scale: bool = True) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(
                "search",
                overrides=[f"benchmark._target_={FAKE}", "logger=none", "progress=false",
                           "normalization.n_archs=200", *overrides],
                return_hydra_config=True,
            )
        out = str(run_dir or tmp_path / "run")
        with open_dict(cfg):
            cfg.paths.output_dir = out
            cfg.hydra.runtime.output_dir = out
            if "save_dir" in cfg.logger:
                cfg.logger.save_dir = out
        HydraConfig.instance().set_config(cfg)
        if scale:  # scale=null -> the device's default_scale (run() does the same, first: scale=False tests it)
            resolve_scale(cfg)
        return cfg

    yield make
    GlobalHydra.instance().clear()
