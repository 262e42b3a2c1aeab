"""Sandwich-rule sampling: which sub-networks each optimizer step trains.

The choice is a pure function of ``(seed, global_step)``: every DDP rank computes the same
list without communicating, and a run resumed at step ``N`` draws what the uninterrupted
run drew at step ``N`` (the step comes from the restored trainer, nothing else is stateful).
The largest sub-network comes last, so under DDP the gradient all-reduce can be deferred to
its backward pass (the only one that touches every parameter); see ``SupernetModule``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from hwgpt.search_space import Arch, SearchSpace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubNetwork:
    """One sub-network trained in a step: its kind (``largest``/``smallest``/``random``) and arch."""

    kind: str
    arch: Arch


def sandwich(space: SearchSpace, step: int, num_random: int = 2, seed: int = 0) -> list[SubNetwork]:
    """The sub-networks of optimizer step ``step``: smallest, ``num_random`` random, largest (last).

    Args:
        space: The search space.
        step: Global optimizer step.
        num_random: Number of uniformly sampled sub-networks.
        seed: Run seed; the random draws use ``numpy.random.default_rng((seed, step))``.
    """
    if num_random < 0:
        raise ValueError(f"num_random must be >= 0, got {num_random}")
    rng = np.random.default_rng((seed, step))
    randoms = [SubNetwork("random", space.sample(rng)) for _ in range(num_random)]
    return [SubNetwork("smallest", space.smallest()), *randoms, SubNetwork("largest", space.largest())]


class SandwichCallback(pl.Callback):
    """Before each training batch, sets ``pl_module.sub_networks`` to :func:`sandwich` of the step.

    Args:
        num_random: Random sub-networks per step, besides the largest and the smallest.
        seed: Seed of the sampling stream.
    """

    def __init__(self, num_random: int = 2, seed: int = 0) -> None:
        if num_random < 0:
            raise ValueError(f"SandwichCallback: num_random must be >= 0, got {num_random}")
        self.num_random, self.seed = int(num_random), int(seed)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        pl_module.sub_networks = sandwich(pl_module.space, trainer.global_step, self.num_random, self.seed)

    def state_dict(self) -> dict[str, Any]:
        return {"num_random": self.num_random, "seed": self.seed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = (state_dict.get("seed", self.seed), state_dict.get("num_random", self.num_random))
        if saved != (self.seed, self.num_random):
            log.warning(
                "resuming with sandwich seed=%s num_random=%s; the checkpoint used seed=%s num_random=%s",
                self.seed, self.num_random, state_dict.get("seed"), state_dict.get("num_random"),
            )


def _fingerprint(subs: list[SubNetwork]) -> float:
    """The step's sub-networks as a float64-exact integer (< 2**52)."""
    digest = hashlib.sha1("|".join(s.arch.id for s in subs).encode()).hexdigest()
    return float(int(digest[:13], 16))


class RankConsistency(pl.Callback):
    """Check every ``every_n_steps`` that all ranks trained the same sub-networks and hold equal weights.

    After the optimizer step, gathers ``[sub-network fingerprint, sum(w), sum(w^2), sum(batch ids)]``
    from every rank (one tiny all-gather) and raises ``RuntimeError`` if the first three differ
    (the batch sum shows that ranks saw different data). Rank 0 appends each check to ``path``
    (JSON lines) when given.

    Args:
        every_n_steps: Check interval in optimizer steps.
        path: Optional JSON-lines file for the checks (rank 0 only).
        rtol: Relative tolerance of the weight checksums.
    """

    def __init__(self, every_n_steps: int = 1, path: str | None = None, rtol: float = 1e-6) -> None:
        self.every_n_steps, self.path, self.rtol = max(1, int(every_n_steps)), path, rtol

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step % self.every_n_steps:
            return
        with torch.no_grad():
            flat = torch.cat([p.detach().double().flatten() for p in pl_module.parameters()])
            data = float(batch[0].double().sum()) if isinstance(batch, (tuple, list)) else 0.0
            local = torch.tensor([_fingerprint(pl_module.sub_networks), flat.sum().item(), flat.square().sum().item(),
                                  data], dtype=torch.float64, device=pl_module.device)
        gathered = pl_module.all_gather(local).reshape(-1, 4).cpu()
        same_subs = bool((gathered[:, 0] == gathered[0, 0]).all())
        sums = gathered[:, 1:3]
        same_weights = bool(torch.allclose(sums, sums[0].expand_as(sums), rtol=self.rtol, atol=0.0))
        if trainer.is_global_zero and self.path:
            record = {"step": step, "world_size": trainer.world_size, "same_sub_networks": same_subs,
                      "same_weights": same_weights, "archs": [s.arch.id for s in pl_module.sub_networks],
                      "checksums": sums.tolist(), "batch_sums": gathered[:, 3].tolist()}
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if not (same_subs and same_weights):
            raise RuntimeError(f"ranks disagree at step {step}: sub-networks equal={same_subs}, weights equal="
                               f"{same_weights}; gathered [fingerprint, sum, sumsq, batch] = {gathered.tolist()}")
