"""Synthetic multi-device data for the transfer tests: related devices on the same archs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from transfer_helpers import DEVICES, NEW, device_frame

from hwgpt import SearchSpace


@pytest.fixture(scope="session")
def space() -> SearchSpace:
    return SearchSpace.from_name("tiny")


@pytest.fixture(scope="session")
def pool(space: SearchSpace) -> list:
    """400 archs shared by every synthetic device."""
    return space.sample_unique(400, seed=11)


@pytest.fixture(scope="session")
def multi_device(space: SearchSpace, pool: list) -> pd.DataFrame:
    """Every synthetic device (sources and the new one) on the same 400 archs, 5 repeats each."""
    frames = [device_frame(space, pool, d, p, 5, seed=i) for i, (d, p) in enumerate([*DEVICES.items(), NEW])]
    return pd.concat(frames, ignore_index=True)


CONF = Path(__file__).resolve().parents[2] / "conf"


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
