"""DataModules: window shapes, determinism, fixed validation, exact resume under Lightning."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from hwgpt.data.datamodule import SyntheticTokenDataModule, TokenDataModule
from hwgpt.data.prepare import load_split


def _batches(dm: pl.LightningDataModule, n: int) -> list[torch.Tensor]:
    it = iter(dm.train_dataloader())
    return [next(it)[0] for _ in range(n)]


def test_token_windows_shape_dtype_and_meta(tiny_prepared: Path) -> None:
    dm = TokenDataModule(tiny_prepared, block_size=16, batch_size=4, val_tokens=200)
    assert dm.vocab_size == 300 and dm.tokenizer_name.startswith("bpe300-")
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == y.shape == (4, 16) and x.dtype == y.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1]) and int(x.max()) < 300


def test_validation_is_fixed_consecutive_windows(tiny_prepared: Path) -> None:
    dm = TokenDataModule(tiny_prepared, block_size=16, batch_size=4, val_tokens=200)
    dm.setup("validate")
    windows = [x for x, _ in dm.val_dataloader()]
    assert sum(len(w) for w in windows) == 200 // 17
    val = np.asarray(load_split(tiny_prepared, "val"), dtype=np.int64)
    assert windows[0][1].tolist() == val[17:33].tolist()
    assert all(torch.equal(a, b) for a, b in zip(windows, (x for x, _ in dm.val_dataloader()), strict=True))


def test_training_batches_depend_on_seed_only(tiny_prepared: Path) -> None:
    def make(seed: int) -> TokenDataModule:
        dm = TokenDataModule(tiny_prepared, block_size=16, batch_size=4, val_tokens=200, seed=seed)
        dm.setup("fit")
        return dm

    a, b, c = _batches(make(0), 3), _batches(make(0), 3), _batches(make(1), 3)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


def test_resume_from_state_dict_without_trainer(tiny_prepared: Path) -> None:
    dm = TokenDataModule(tiny_prepared, block_size=16, batch_size=4, val_tokens=200)
    dm.setup("fit")
    full = _batches(dm, 5)
    resumed = TokenDataModule(tiny_prepared, block_size=16, batch_size=4, val_tokens=200)
    resumed.setup("fit")
    resumed.load_state_dict({"batches_consumed": 3, "seed": 0, "batch_size": 4, "block_size": 16})
    assert all(torch.equal(x, y) for x, y in zip(full[3:], _batches(resumed, 2), strict=True))


def test_missing_data_dir_fails_with_a_hint(tmp_path: Path) -> None:
    dm = TokenDataModule(tmp_path / "nothing", block_size=8, batch_size=2, val_tokens=64)
    with pytest.raises(FileNotFoundError, match="prepare_dataset"):
        dm.setup("fit")


class _Recorder(pl.LightningModule):
    """Tiny model that records the first token of every training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(64, 8)
        self.head = torch.nn.Linear(8, 64)
        self.seen: list[list[int]] = []

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        self.seen.append(x[:, 0].tolist())
        return torch.nn.functional.cross_entropy(self.head(self.emb(x)).flatten(0, 1), y.flatten())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(max_steps: int, root: Path, ckpt: Path | None = None) -> list[list[int]]:
    # 3 batches per epoch: the step-4 checkpoint is mid-epoch and resuming crosses epochs
    dm = SyntheticTokenDataModule(vocab_size=64, block_size=8, batch_size=4, train_tokens=96, val_tokens=64)
    model = _Recorder()
    every4 = pl.callbacks.ModelCheckpoint(dirpath=root, filename="{step}", every_n_train_steps=4, save_top_k=-1)
    trainer = pl.Trainer(
        max_steps=max_steps,
        accelerator="cpu",
        logger=False,
        callbacks=[every4],
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=root,
    )
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt)
    return model.seen


@pytest.mark.timeout(30)
def test_lightning_resume_reproduces_batches(tmp_path: Path) -> None:
    full = _fit(7, tmp_path / "full")
    assert len(full) == 7 and full[0] != full[3]  # epochs continue the stream, they do not repeat
    ckpt = tmp_path / "full" / "step=4.ckpt"
    assert torch.load(ckpt, weights_only=False)["SyntheticTokenDataModule"]["batches_consumed"] == 4
    assert _fit(7, tmp_path / "resumed", ckpt) == full[4:]


def test_synthetic_module_is_learnable_and_deterministic() -> None:
    dm = SyntheticTokenDataModule(vocab_size=50, block_size=8, batch_size=2, seed=3)
    dm.setup()
    other = SyntheticTokenDataModule(vocab_size=50, block_size=8, batch_size=2, seed=3)
    other.setup()
    assert dm.vocab_size == 50 and dm.tokenizer_name == "synthetic50"
    assert torch.equal(_batches(dm, 1)[0], _batches(other, 1)[0])
    tokens = np.concatenate([x.numpy().ravel() for x, _ in dm.val_dataloader()])
    assert tokens.max() < 50 and len(np.unique(tokens[:-1] * 50 + tokens[1:])) < 0.5 * 50 * 50


def test_properties_before_preparation(tmp_path: Path) -> None:
    dm = TokenDataModule(None, tokenizer="bpe512", block_size=8, batch_size=2, val_tokens=64, data_root=tmp_path)
    assert dm.vocab_size == 512 and dm.data_dir == tmp_path / "default-bpe512"
    with pytest.raises(RuntimeError, match="prepare_data"):
        _ = dm.tokenizer_name
    gpt2 = TokenDataModule(None, tokenizer="gpt2", block_size=8, batch_size=2, val_tokens=64, data_root=tmp_path)
    assert (gpt2.vocab_size, gpt2.tokenizer_name) == (50257, "gpt2")
