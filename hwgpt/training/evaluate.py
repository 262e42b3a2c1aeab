"""Validation perplexity of named sub-networks and the final results table of a training run."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from hwgpt import cost
from hwgpt.data.prepare import unigram_perplexity, unigram_perplexity_of
from hwgpt.search_space import Arch, SearchSpace
from hwgpt.supernet import SuperGPT

log = logging.getLogger(__name__)


def median_arch(space: SearchSpace, n: int = 101, seed: int = 0) -> Arch:
    """The arch with the median parameter count among ``space.sample_unique(n, seed)`` (``n`` odd)."""
    archs = sorted(space.sample_unique(n, seed=seed), key=lambda a: (cost.params(a, space), a.id))
    return archs[len(archs) // 2]


def table_archs(space: SearchSpace) -> dict[str, Arch]:
    """The sub-networks of the results table: largest, smallest and median-size."""
    return {"largest": space.largest(), "smallest": space.smallest(), "median": median_arch(space)}


@torch.no_grad()
def perplexities(
    model: SuperGPT, archs: dict[str, Arch], batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device | str = "cpu", progress: bool = True,
) -> dict[str, float]:
    """Token-level validation perplexity, ``exp(mean cross-entropy)``, of each named sub-network.

    Args:
        model: The supernet (left in eval mode, set to its largest sub-network afterwards).
        archs: Sub-networks by name.
        batches: ``(idx, targets)`` pairs, e.g. a validation DataLoader.
        device: Where to evaluate.
        progress: Show a tqdm bar over batches.
    """
    was_training = model.training
    model.eval()
    nll = dict.fromkeys(archs, 0.0)
    count = 0
    for idx, targets in tqdm(batches, desc="eval", disable=not progress, leave=False):
        idx, targets = idx.to(device), targets.to(device)
        for name, arch in archs.items():
            model.set_sub_network(arch)
            logits = model(idx).float()
            nll[name] += F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum").item()
        count += targets.numel()
    model.reset_super_network()
    model.train(was_training)
    if count == 0:
        raise ValueError("no validation batches: the validation split is empty")
    return {name: math.exp(v / count) for name, v in nll.items()}


def unigram_of_datamodule(datamodule: Any) -> float:
    """Unigram perplexity of the data behind a (set-up) TokenDataModule or SyntheticTokenDataModule."""
    data_dir = getattr(datamodule, "data_dir", None)
    if data_dir is not None and Path(data_dir, "meta.json").is_file():
        return unigram_perplexity(Path(data_dir))
    return unigram_perplexity_of(datamodule._train, datamodule._val, datamodule.vocab_size)


def results_table(
    model: SuperGPT, datamodule: Any, device: torch.device | str = "cpu", progress: bool = True
) -> dict[str, Any]:
    """Final table: val perplexity of the largest, smallest and median-size sub-networks, and unigram.

    Returns:
        ``{"perplexity": {"largest": .., "smallest": .., "median": .., "unigram": ..},
        "params": {name: int}, "archs": {name: arch dict}, "val_tokens": int,
        "ordering_ok": largest < smallest < unigram}``.
    """
    space = model.space
    archs = table_archs(space)
    loader = datamodule.val_dataloader()
    ppl = perplexities(model, archs, loader, device, progress)
    ppl["unigram"] = unigram_of_datamodule(datamodule)
    val_tokens = len(loader.dataset) * space.block_size if hasattr(loader, "dataset") else None
    return {
        "perplexity": ppl,
        "params": {n: cost.params(a, space) for n, a in archs.items()},
        "archs": {n: a.to_dict() for n, a in archs.items()},
        "val_tokens": val_tokens,
        "ordering_ok": bool(ppl["largest"] < ppl["smallest"] < ppl["unigram"]),
    }


def format_table(results: dict[str, Any]) -> str:
    """Markdown table of :func:`results_table`."""
    rows = ["| sub-network | params | val perplexity |", "|---|---:|---:|"]
    for name, value in results["perplexity"].items():
        params = results["params"].get(name)
        rows.append(f"| {name} | {params if params is not None else '-'} | {value:.2f} |")
    return "\n".join(rows)
