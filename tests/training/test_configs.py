"""Every trainer/data/logger option composes; every trainer config instantiates a Trainer."""

from __future__ import annotations

import importlib.util

import lightning.pytorch as pl
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict

from hwgpt.training.run import build_datamodule, build_logger, space_from_cfg

TRAINERS = ["cpu", "gpu", "ddp", "fsdp", "deepspeed"]


@pytest.mark.parametrize("trainer", TRAINERS)
def test_trainer_configs_instantiate(trainer, train_cfg):
    if trainer == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        pytest.skip("deepspeed is not installed")
    cfg = train_cfg(f"trainer={trainer}")
    assert cfg.trainer.max_steps == 4 and cfg.trainer.precision == "32-true"
    expected = {"cpu": "SingleDeviceStrategy", "gpu": "SingleDeviceStrategy", "ddp": "DDPStrategy",
                "fsdp": "FSDPStrategy", "deepspeed": "DeepSpeedStrategy"}[trainer]
    if "strategy" in cfg.trainer:
        assert type(instantiate(cfg.trainer.strategy)).__name__ == expected
    if not torch.cuda.is_available():  # build the same Trainer on one CPU process
        with open_dict(cfg):
            cfg.trainer.accelerator, cfg.trainer.devices = "cpu", 1
            if trainer == "fsdp":  # Lightning's FSDP needs CUDA
                del cfg.trainer.strategy
                expected = "SingleDeviceStrategy"
    t = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert isinstance(t, pl.Trainer)
    assert type(t.strategy).__name__ == expected


@pytest.mark.parametrize("scale", ["tiny", "s", "m", "l"])
@pytest.mark.parametrize("data", ["default", "synthetic", "openwebtext"])
def test_scale_data_compose(scale, data, train_cfg):
    cfg = train_cfg(f"scale={scale}", f"data={data}", small=False, fast=False)
    space = space_from_cfg(cfg.scale)
    assert space.name == scale
    dm = build_datamodule(cfg, space)  # no file is read or written before prepare_data/setup
    assert dm.block_size == space.block_size or data == "synthetic"
    if data != "synthetic":
        assert dm.tokenizer == (space.tokenizer if data == "default" else "gpt2")
    assert cfg.model.scheduler.max_steps == cfg.trainer.max_steps
    assert cfg.trainer.accelerator == "cpu" and cfg.logger.name == "wandb"  # the defaults


@pytest.mark.parametrize("logger,cls", [("none", None), ("csv", "CSVLogger"), ("wandb", "WandbLogger")])
def test_loggers(logger, cls, train_cfg, tmp_path):
    cfg = train_cfg(f"logger={logger}")
    out = build_logger(cfg.logger, "test")
    assert (out is False) if cls is None else type(out).__name__ == cls


def test_debug_and_experiment_compose(train_cfg):
    cfg = train_cfg("experiment=tiny", "debug=default", small=False, fast=False)
    assert cfg.scale.name == "tiny" and cfg.data._target_.endswith("TokenDataModule")
    assert cfg.trainer.detect_anomaly and cfg.trainer.max_steps == 4 and cfg.logger.name == "none"
    assert cfg.evaluate is False
