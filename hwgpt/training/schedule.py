"""Learning-rate schedule: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class WarmupCosine:
    """LR multiplier: ``step / warmup`` for ``step < warmup``, then cosine from 1 to ``floor``.

    A plain object (not a lambda), so ``LambdaLR.state_dict()`` records its fields.

    Args:
        warmup_steps: Steps of linear warm-up (from ``1 / warmup_steps`` to 1).
        max_steps: Step at which the cosine reaches ``floor`` (it stays there afterwards).
        floor: Final multiplier, ``min_lr / lr``.
    """

    def __init__(self, warmup_steps: int, max_steps: int, floor: float) -> None:
        if warmup_steps < 0 or max_steps < 1 or not 0.0 <= floor <= 1.0:
            raise ValueError(
                f"need warmup_steps >= 0, max_steps >= 1 and 0 <= min_lr/lr <= 1; got warmup_steps="
                f"{warmup_steps}, max_steps={max_steps}, min_lr/lr={floor}"
            )
        self.warmup_steps, self.max_steps, self.floor = warmup_steps, max_steps, floor

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.max_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.floor + 0.5 * (1.0 - self.floor) * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(optimizer: Optimizer, warmup_steps: int, max_steps: int, min_lr: float) -> LambdaLR:
    """Per-step scheduler: linear warm-up to the optimizer's lr, cosine decay to ``min_lr``.

    Args:
        optimizer: The optimizer; its ``defaults["lr"]`` is the peak learning rate.
        warmup_steps: Warm-up steps.
        max_steps: Total optimizer steps (the cosine ends here).
        min_lr: Learning rate at the end of the cosine.
    """
    lr = float(optimizer.defaults["lr"])
    if min_lr > lr:
        raise ValueError(f"min_lr={min_lr} is larger than the optimizer's lr={lr}")
    return LambdaLR(optimizer, WarmupCosine(warmup_steps, max_steps, min_lr / lr if lr > 0 else 1.0))
