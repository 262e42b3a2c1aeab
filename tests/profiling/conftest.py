"""Fixtures for the profiling tests: composed Hydra configs, tiny stores, a tiny checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import hwgpt
from hwgpt.checkpoint import save_supernet

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


@pytest.fixture
def profile_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """``make(*overrides)``: conf/profile.yaml composed with the store and outputs under tmp_path."""

    def make(*overrides: str) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(
                "profile",
                overrides=[f"store={tmp_path / 'store.sqlite'}", "progress=false", *overrides],
                return_hydra_config=True,
            )
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path / "run")
            cfg.hydra.runtime.output_dir = str(tmp_path / "run")
        HydraConfig.instance().set_config(cfg)
        return cfg

    yield make
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny supernet saved with the synthetic tokenizer's name."""
    torch.manual_seed(0)
    model = hwgpt.SuperGPT(hwgpt.SearchSpace.from_name("tiny"))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    return save_supernet(model, path, tokenizer="synthetic8192", dtype=torch.float32)


def _synthetic(cfg: DictConfig) -> DictConfig:
    cfg.metric.data = {"_target_": "hwgpt.profiling.quality.synthetic_data", "_partial_": True}
    cfg.metric.windows = 2
    cfg.metric.batch_size = 2
    return cfg


@pytest.fixture
def synthetic() -> Callable[[DictConfig], DictConfig]:
    """``synthetic(cfg)``: evaluate quality on 2 windows of synthetic tokens instead of the prepared corpus."""
    return _synthetic
