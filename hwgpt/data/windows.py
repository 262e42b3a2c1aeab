"""Map-style token window datasets and a resumable sampler.

A training sample is addressed by its global index ``g`` (the number of samples drawn
before it in the whole run); its window offset comes from ``numpy.random.default_rng((seed, g))``.
So a batch's content depends only on ``(seed, global batch index)``, and resuming at
step N reproduces the batches of the uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def _window(tokens: np.ndarray, start: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    chunk = torch.from_numpy(np.asarray(tokens[start : start + length + 1], dtype=np.int64))
    return chunk[:-1], chunk[1:]


class RandomWindowDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Random windows of a token array; item ``i`` is a fixed function of ``(seed, i)``.

    Args:
        tokens: 1-D token array (usually a ``np.memmap``).
        block_size: Length of inputs and targets.
        seed: Seed of the window offsets.
        length: Nominal length (samples per epoch); indices beyond it are valid too.
    """

    def __init__(self, tokens: np.ndarray, block_size: int, seed: int, length: int) -> None:
        if len(tokens) < block_size + 1:
            raise ValueError(f"{len(tokens)} tokens are fewer than block_size + 1 = {block_size + 1}")
        self.tokens, self.block_size, self.seed, self.length = tokens, block_size, seed, length

    def __len__(self) -> int:
        return self.length

    def offset(self, index: int) -> int:
        """Window start of sample ``index``."""
        rng = np.random.default_rng((self.seed, index))
        return int(rng.integers(0, len(self.tokens) - self.block_size))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _window(self.tokens, self.offset(index), self.block_size)


class SequentialWindowDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Consecutive non-overlapping windows of ``block_size + 1`` tokens over the first ``max_tokens``.

    Raises:
        ValueError: fewer than ``block_size + 1`` tokens are available.
    """

    def __init__(self, tokens: np.ndarray, block_size: int, max_tokens: int | None = None) -> None:
        n = len(tokens) if max_tokens is None else min(len(tokens), max_tokens)
        self.tokens, self.block_size = tokens, block_size
        self.n_windows = n // (block_size + 1)
        if self.n_windows == 0:
            raise ValueError(f"{n} validation tokens are fewer than block_size + 1 = {block_size + 1}")

    def __len__(self) -> int:
        return self.n_windows

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.n_windows:
            raise IndexError(index)
        chunk = torch.from_numpy(
            np.asarray(self.tokens[index * (self.block_size + 1) : (index + 1) * (self.block_size + 1)], dtype=np.int64)
        )
        return chunk[:-1], chunk[1:]


class ResumableSampler(Sampler[int]):
    """Yield global sample indices ``start, start + 1, ...`` for one epoch of ``length`` samples.

    Args:
        length: Samples per epoch.
        start_fn: Called at the start of each epoch; returns the global index of the first
            sample (e.g. batches already trained on x batch size, read from the trainer).
    """

    def __init__(self, length: int, start_fn: Callable[[], int]) -> None:
        self.length, self.start_fn = length, start_fn

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        start = int(self.start_fn())
        return iter(range(start, start + self.length))
