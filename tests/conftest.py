"""Fixtures shared by several test packages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.fixture
def profile_cfg(tmp_path: Path) -> Iterator[Callable[..., DictConfig]]:
    """``make(*overrides)``: conf/profile.yaml composed with the store and outputs under tmp_path."""

    def make(*overrides: str) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("profile", overrides=[f"store={tmp_path / 'store.sqlite'}", "progress=false", *overrides],
                          return_hydra_config=True)
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path / "run")
            cfg.hydra.runtime.output_dir = str(tmp_path / "run")
        HydraConfig.instance().set_config(cfg)
        return cfg

    yield make
    GlobalHydra.instance().clear()
