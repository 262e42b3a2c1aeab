"""Lightning DataModules over prepared token datasets (and synthetic tokens for tests).

Training batches are random windows addressed by global sample index (see
:mod:`hwgpt.data.windows`); each epoch starts at "batches already trained x batch size",
read from the trainer's progress, which Lightning restores from a checkpoint. Resuming at
step N therefore reproduces the batches of the uninterrupted run. Validation is a fixed
set of consecutive windows over the first ``val_tokens`` tokens of the val split.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
from torch.utils.data import DataLoader

from hwgpt.data.corpus import default_data_root
from hwgpt.data.prepare import dataset_dir, load_split, prepare_dataset, validate_prepared
from hwgpt.data.tokenizer import parse_tokenizer_spec
from hwgpt.data.windows import RandomWindowDataset, ResumableSampler, SequentialWindowDataset

log = logging.getLogger(__name__)


class _ResumableLoader(DataLoader):  # type: ignore[type-arg]
    """A DataLoader that Lightning treats as resumable; its position lives in the sampler."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        return None


class _WindowDataModule(pl.LightningDataModule):
    """Shared loaders; subclasses set ``self._train`` / ``self._val`` arrays and ``_meta``."""

    def __init__(self, block_size: int, batch_size: int, num_workers: int, seed: int, val_tokens: int) -> None:
        super().__init__()
        if block_size < 1 or batch_size < 1 or val_tokens < block_size + 1:
            raise ValueError("need block_size >= 1, batch_size >= 1, val_tokens >= block_size + 1")
        self.block_size, self.batch_size = block_size, batch_size
        self.num_workers, self.seed, self.val_tokens = num_workers, seed, val_tokens
        self._train: np.ndarray | None = None
        self._val: np.ndarray | None = None
        self._meta: dict[str, Any] = {}
        self._start_batch = 0

    def _load_meta(self) -> dict[str, Any]:
        """The dataset meta; subclasses re-read it when it appears after construction."""
        return self._meta

    @property
    def vocab_size(self) -> int:
        """Vocabulary size of the token ids."""
        return int(self._load_meta()["vocab_size"])

    @property
    def tokenizer_name(self) -> str:
        """Stable tokenizer name (recorded in checkpoints)."""
        meta = self._load_meta()
        if "tokenizer" not in meta:
            raise RuntimeError(f"{getattr(self, 'data_dir', 'data')} is not prepared yet; call prepare_data() first")
        return str(meta["tokenizer"])

    @property
    def meta(self) -> dict[str, Any]:
        """The dataset ``meta.json`` (or the synthetic equivalent)."""
        return dict(self._meta)

    def batches_consumed(self) -> int:
        """Training batches already drawn: from the attached trainer's progress, else the loaded state."""
        trainer = self.trainer
        if trainer is not None:
            return int(trainer.fit_loop.epoch_loop.batch_progress.total.processed)
        return self._start_batch

    def train_dataloader(self) -> DataLoader:  # type: ignore[type-arg]
        """Random windows; ``len`` is one pass worth of tokens (``train_tokens // block_size``)."""
        assert self._train is not None, "call setup() first"
        batches = max(1, len(self._train) // (self.block_size * self.batch_size))
        length = batches * self.batch_size
        dataset = RandomWindowDataset(self._train, self.block_size, self.seed, length)
        sampler = ResumableSampler(length, lambda: self.batches_consumed() * self.batch_size)
        return _ResumableLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            drop_last=True,
            persistent_workers=False,
        )

    def val_dataloader(self) -> DataLoader:  # type: ignore[type-arg]
        """Consecutive non-overlapping windows of the first ``val_tokens`` val tokens."""
        assert self._val is not None, "call setup() first"
        dataset = SequentialWindowDataset(self._val, self.block_size, self.val_tokens)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=False, num_workers=self.num_workers)

    def state_dict(self) -> dict[str, Any]:
        """Saved by Lightning in checkpoints: the data stream position and identity."""
        return {
            "batches_consumed": self.batches_consumed(),
            "seed": self.seed,
            "batch_size": self.batch_size,
            "block_size": self.block_size,
            "tokenizer": self._meta.get("tokenizer"),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the position (used when no trainer progress is available) and check identity."""
        self._start_batch = int(state_dict.get("batches_consumed", 0))
        for key in ("seed", "batch_size", "block_size"):
            if key in state_dict and state_dict[key] != getattr(self, key):
                log.warning("checkpoint data %s=%s differs from %s", key, state_dict[key], getattr(self, key))
        saved_tok = state_dict.get("tokenizer")
        if saved_tok and self._meta.get("tokenizer") and saved_tok != self._meta["tokenizer"]:
            log.warning("checkpoint tokenizer %s differs from the data's %s", saved_tok, self._meta["tokenizer"])


class TokenDataModule(_WindowDataModule):
    """Batches from a prepared dataset (``train.bin``/``val.bin``/``meta.json``).

    Args:
        data_dir: A prepared dataset directory; ``None`` prepares the default corpus with
            ``tokenizer`` in :meth:`prepare_data`.
        tokenizer: ``"gpt2"`` or ``"bpe<vocab>"``; used when ``data_dir`` is None.
        block_size: Tokens per sample.
        batch_size: Samples per batch.
        num_workers: DataLoader workers.
        seed: Seed of the training window offsets.
        val_tokens: Fixed validation budget in tokens.
        data_root: Data root when ``data_dir`` is None (default: ``default_data_root()``).
    """

    def __init__(
        self,
        data_dir: Path | str | None = None,
        tokenizer: str = "bpe8192",
        block_size: int = 256,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        val_tokens: int = 131072,
        data_root: Path | str | None = None,
    ) -> None:
        super().__init__(block_size, batch_size, num_workers, seed, val_tokens)
        self.tokenizer = tokenizer
        self.data_root = Path(data_root) if data_root is not None else None
        self._prepare = data_dir is None
        self.data_dir = Path(data_dir) if data_dir is not None else dataset_dir(self.data_root, tokenizer)
        self._meta = validate_prepared(self.data_dir, check_hash=False) or {}

    def _load_meta(self) -> dict[str, Any]:
        if not self._meta:
            self._meta = validate_prepared(self.data_dir, check_hash=False) or {}
        if not self._meta:  # not prepared yet: what the spec tells (a BPE's name needs its file)
            kind, vocab = parse_tokenizer_spec(self.tokenizer)
            return {"vocab_size": 50257, "tokenizer": "gpt2"} if kind == "gpt2" else {"vocab_size": vocab}
        return self._meta

    def prepare_data(self) -> None:
        """Build the default dataset when no ``data_dir`` was given (rank 0 only)."""
        if self._prepare:
            prepare_dataset(self.tokenizer, self.data_root)

    def setup(self, stage: str | None = None) -> None:
        """Open the memmaps (checks sizes against ``meta.json``)."""
        meta = validate_prepared(self.data_dir, check_hash=False)
        if meta is None:
            raise FileNotFoundError(
                f"{self.data_dir} is not a prepared dataset (missing or corrupt train.bin/val.bin/meta.json); "
                "use data_dir=None to build the default corpus, or hwgpt.data.prepare_dataset()"
            )
        self._meta = meta
        self._train = load_split(self.data_dir, "train")
        self._val = load_split(self.data_dir, "val")


class SyntheticTokenDataModule(_WindowDataModule):
    """Learnable random tokens (a sparse random Markov chain) with the TokenDataModule interface.

    Args:
        vocab_size: Vocabulary size.
        block_size: Tokens per sample.
        batch_size: Samples per batch.
        num_workers: DataLoader workers.
        seed: Seed of the chain, the tokens and the window offsets.
        val_tokens: Validation budget in tokens (also the length of the val split).
        train_tokens: Length of the train split.
    """

    def __init__(
        self,
        vocab_size: int = 128,
        block_size: int = 32,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        val_tokens: int = 4096,
        train_tokens: int = 65536,
    ) -> None:
        super().__init__(block_size, batch_size, num_workers, seed, val_tokens)
        self.train_tokens = train_tokens
        self._meta = {"tokenizer": f"synthetic{vocab_size}", "vocab_size": vocab_size, "eot_id": 0}

    def setup(self, stage: str | None = None) -> None:
        """Generate both splits (deterministic given the seed)."""
        if self._train is not None:
            return
        vocab = self.vocab_size
        rng = np.random.default_rng(self.seed)
        successors = rng.integers(0, vocab, size=(vocab, 4))
        n = self.train_tokens + self.val_tokens
        choice, noise = rng.integers(0, 4, size=n), rng.integers(0, vocab, size=n)
        use_noise = rng.random(n) < 0.1
        tokens = np.empty(n, dtype=np.uint16 if vocab <= 2**16 else np.uint32)
        prev = 0
        for i in range(n):
            prev = int(noise[i]) if use_noise[i] else int(successors[prev, choice[i]])
            tokens[i] = prev
        self._train, self._val = tokens[: self.train_tokens], tokens[self.train_tokens :]


class OpenWebTextDataModule(TokenDataModule):
    """OpenWebText tokenized with GPT-2 BPE, prepared on first use (rank 0, ``prepare_data``).

    Args:
        data_root: Data root (default: :func:`hwgpt.data.default_data_root`).
        num_proc: Processes for downloading and tokenizing.
        block_size, batch_size, num_workers, seed, val_tokens: As :class:`TokenDataModule`.
    """

    def __init__(
        self, data_root: Path | str | None = None, num_proc: int = 8, block_size: int = 1024,
        batch_size: int = 8, num_workers: int = 0, seed: int = 0, val_tokens: int = 1048576,
    ) -> None:
        root = Path(data_root) if data_root is not None else default_data_root()
        super().__init__(root / "openwebtext-gpt2", "gpt2", block_size, batch_size, num_workers, seed,
                         val_tokens, data_root=root)
        self.num_proc = num_proc

    def prepare_data(self) -> None:
        """Download and tokenize once; offline, fails at once with what to do."""
        from hwgpt.data.openwebtext import prepare_openwebtext

        prepare_openwebtext(self.data_root, num_proc=self.num_proc)
