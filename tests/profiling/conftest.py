"""Fixtures for the profiling tests: composed Hydra configs, tiny stores, a tiny checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

import hwgpt
from hwgpt.checkpoint import save_supernet

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


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
