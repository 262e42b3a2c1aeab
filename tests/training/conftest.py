"""Fixtures for the training tests: the real conf/train.yaml, shrunk; a tiny search space."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from hwgpt.search_space import SearchSpace

CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")

# Small and fast: a 1-2 layer space (vocab 64), synthetic tokens, 16-token windows, batch 2,
# a few steps, no tracker.
SMALL_SCALE = [
    "scale.name=small",
    "+scale.embed_dim=[16,32]",
    "+scale.n_layer=[1,2]",
    "+scale.n_head=[1,2]",
    "+scale.mlp_ratio=[1,2]",
    "+scale.vocab_size=64",
    "+scale.padded_vocab_size=64",
    "+scale.block_size=16",
    "+scale.head_size=8",
    "+scale.tokenizer=synthetic64",
]
FAST = [
    "data=synthetic",
    "data.block_size=16",
    "data.batch_size=2",
    "data.val_tokens=136",
    "data.train_tokens=4096",
    "logger=none",
    "trainer.max_steps=4",
    "trainer.val_check_interval=2",
    "trainer.limit_val_batches=2",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.precision=32-true",
    "model.scheduler.warmup_steps=2",
    "model.val_random=1",
    "callbacks.checkpoint.every_n_train_steps=2",
    "callbacks.progress_bar=null",
]


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose conf/train.yaml with ``overrides`` and outputs under ``output_dir`` (no Hydra run)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.root_dir = str(output_dir)
        cfg.paths.data_dir = str(output_dir / "data")
        del cfg.hydra  # ${hydra:...} interpolations are resolved now, not at run time
    return cfg


@pytest.fixture(autouse=True)
def _quiet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "torch_extensions"))


@pytest.fixture
def train_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """``train_cfg(*overrides, out="run", small=True, fast=True)``: the config, outputs in ``tmp_path/out``.

    ``small=False`` keeps the ``tiny`` preset instead of the small test space; ``fast=False``
    leaves out the shrinking overrides (synthetic data, few steps, ...).
    """

    def make(*overrides: str, out: str = "run", small: bool = True, fast: bool = True) -> DictConfig:
        pre = [*(SMALL_SCALE if small else []), *(FAST if fast else [])]
        return compose_train([*pre, *overrides], tmp_path / out)

    return make


@pytest.fixture
def small_space() -> SearchSpace:
    """A 1-2 layer space with 16/32-wide embeddings and a 64-token vocabulary."""
    return SearchSpace(
        "small", (16, 32), (1, 2), (1, 2), (1, 2), vocab_size=64, padded_vocab_size=64,
        block_size=16, head_size=8, tokenizer="synthetic64",
    )


@pytest.fixture
def fast_overrides() -> list[str]:
    """Command-line overrides of the fast config with the small space (for ``python train.py``)."""
    return [*SMALL_SCALE, *FAST]
