"""LightningModule that trains a :class:`~hwgpt.SuperGPT` with the sandwich rule.

Manual optimization: every optimizer step runs forward+backward of each sub-network chosen
by :class:`~hwgpt.training.callbacks.SandwichCallback` (loss divided by their number, so the
gradients average), clips the gradient norm, steps the optimizer and the per-step scheduler.
Under DDP the backward passes of all but the last sub-network (the largest, which touches
every parameter) run inside ``no_sync``: one gradient all-reduce per step instead of one per
sub-network, and no ``find_unused_parameters`` graph search.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from hwgpt.search_space import Arch, SearchSpace
from hwgpt.supernet import SuperGPT
from hwgpt.training.callbacks import SubNetwork

log = logging.getLogger(__name__)
CKPT_KEY = "hwgpt"


def validation_archs(space: SearchSpace, num_random: int = 3, seed: int = 0) -> dict[str, Arch]:
    """Fixed sub-networks whose validation perplexity is logged: largest, smallest, random_<i>."""
    archs = {"largest": space.largest(), "smallest": space.smallest()}
    for i, arch in enumerate(space.sample_unique(num_random, seed=seed) if num_random else []):
        archs[f"random_{i}"] = arch
    return archs


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices (>= 2-D: linear weights, embedding), none on biases and norms."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _fused_supported(model: nn.Module) -> bool:
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    devices = {p.device.type for p in model.parameters()}
    return devices <= set(_get_fused_kernels_supported_devices()) and all(
        p.is_floating_point() for p in model.parameters()
    )


class SupernetModule(pl.LightningModule):
    """Sandwich-rule supernet training.

    Args:
        space: The search space, or a preset name (``tiny``, ``s``, ``m``, ``l``).
        optimizer: Partial optimizer taking the parameter groups (default: AdamW, lr 1e-3);
            a ``fused`` keyword of ``None`` becomes ``fused=True`` where the parameters' device has
            fused kernels, else ``foreach=True``. ``weight_decay`` applies to >= 2-D weights only.
        scheduler: Partial LR scheduler taking the optimizer; stepped once per optimizer step.
        grad_clip: Max gradient norm (``0`` disables clipping).
        val_random: Number of fixed random sub-networks evaluated at validation.
        val_seed: Seed of those random sub-networks.
    """

    def __init__(
        self,
        space: SearchSpace | str,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
        grad_clip: float = 1.0,
        val_random: int = 3,
        val_seed: int = 0,
    ) -> None:
        super().__init__()
        self.space = SearchSpace.from_name(space) if isinstance(space, str) else space
        self.save_hyperparameters({"scale": self.space.name, "grad_clip": grad_clip,
                                   "val_random": val_random, "val_seed": val_seed})
        self.automatic_optimization = False
        self.model = SuperGPT(self.space)
        self.optimizer_factory = optimizer or functools.partial(torch.optim.AdamW, lr=1e-3, fused=None)
        self.scheduler_factory = scheduler
        self.grad_clip = float(grad_clip)
        self.val_archs = validation_archs(self.space, val_random, val_seed)
        self.sub_networks: list[SubNetwork] = [SubNetwork("largest", self.space.largest())]
        self.tokens_seen = 0
        self._val_sums: dict[str, torch.Tensor] = {}

    def setup(self, stage: str) -> None:
        """Refuse data whose token ids do not fit the supernet's vocabulary."""
        dm = getattr(self.trainer, "datamodule", None)
        vocab = getattr(dm, "vocab_size", None) if dm is not None else None
        if vocab is not None and vocab > self.space.vocab_size:
            raise ValueError(
                f"data vocabulary {vocab} (tokenizer {dm.tokenizer_name!r}) is larger than scale "
                f"{self.space.name!r}'s vocab_size {self.space.vocab_size}; use data with the "
                f"{self.space.tokenizer!r} tokenizer"
            )

    # ------------------------------------------------------------------ model
    def forward(self, idx: torch.Tensor, arch: Arch | None = None) -> torch.Tensor:
        """Logits of ``arch`` (default: the current sub-network)."""
        if arch is not None:
            self.model.set_sub_network(arch)
        return self.model(idx)

    def loss(self, idx: torch.Tensor, targets: torch.Tensor, arch: Arch) -> torch.Tensor:
        """Mean token cross-entropy of sub-network ``arch``."""
        logits = self(idx, arch)
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())

    def _no_sync(self, last: bool) -> contextlib.AbstractContextManager[None]:
        """DDP ``no_sync`` for every backward but the last of a step; a no-op otherwise."""
        wrapped = self.trainer.strategy.model if self._trainer is not None else None
        if not last and isinstance(wrapped, DistributedDataParallel):
            return wrapped.no_sync()
        return contextlib.nullcontext()

    # --------------------------------------------------------------- training
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        idx, targets = batch
        opt = self.optimizers()
        sched = self.lr_schedulers()
        subs = self.sub_networks
        losses: dict[str, list[torch.Tensor]] = defaultdict(list)
        for i, sub in enumerate(subs):
            with self._no_sync(last=i == len(subs) - 1):
                loss = self.loss(idx, targets, sub.arch)
                self.manual_backward(loss / len(subs))
            losses[sub.kind].append(loss.detach())
        if self.grad_clip > 0:
            self._clip_grad_norm(opt)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if sched is not None:
            sched.step()
        self.model.reset_super_network()
        self.tokens_seen += idx.numel() * self.trainer.world_size
        bsz = idx.size(0)
        for kind, vals in losses.items():
            self.log(f"train/loss_{kind}", torch.stack(vals).mean(), prog_bar=kind != "random", batch_size=bsz)
        self.log("lr", opt.param_groups[0]["lr"], prog_bar=False, batch_size=bsz)
        self.log("tokens_seen", float(self.tokens_seen), batch_size=bsz)
        return torch.stack([v for vals in losses.values() for v in vals]).mean()

    def _clip_grad_norm(self, opt: Any) -> None:
        """Clip the global gradient norm to ``grad_clip``.

        Lightning's AMP plugin refuses to clip for fused optimizers even under bf16, where no
        gradient scaler exists; clip directly then. FSDP clips its shards itself.
        """
        wrapped = self.trainer.strategy.model
        if getattr(self.trainer.precision_plugin, "scaler", None) is not None:
            self.clip_gradients(opt, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")
        elif type(wrapped).__name__ == "FullyShardedDataParallel":
            wrapped.clip_grad_norm_(self.grad_clip)
        else:
            torch.nn.utils.clip_grad_norm_(self.parameters(), self.grad_clip, foreach=True)

    # ------------------------------------------------------------- validation
    def on_validation_epoch_start(self) -> None:
        self._val_sums = {name: torch.zeros(2, device=self.device, dtype=torch.float64) for name in self.val_archs}

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        idx, targets = batch
        for name, arch in self.val_archs.items():
            loss = self.loss(idx, targets, arch)
            n = targets.numel()
            self._val_sums[name] += torch.stack([loss.double() * n, loss.new_tensor(n, dtype=torch.float64)])
        self.model.reset_super_network()

    def on_validation_epoch_end(self) -> None:
        for name, sums in self._val_sums.items():
            total = self.trainer.strategy.reduce(sums, reduce_op="sum")
            ppl = math.exp(float(total[0] / total[1])) if float(total[1]) > 0 else float("nan")
            self.log(f"val/ppl_{name}", ppl, prog_bar=name in ("largest", "smallest"), sync_dist=False)

    # -------------------------------------------------------------- optimizers
    def configure_optimizers(self) -> Any:
        factory = self.optimizer_factory
        kwargs = dict(getattr(factory, "keywords", {}))
        wd = float(kwargs.pop("weight_decay", 0.0))
        if "fused" in kwargs and kwargs["fused"] is None:
            fused = _fused_supported(self.model)
            kwargs["fused"] = True if fused else None
            kwargs["foreach"] = None if fused else True
        func = getattr(factory, "func", factory)
        opt = func(param_groups(self.model, wd), *getattr(factory, "args", ()), **kwargs)
        if self.scheduler_factory is None:
            return opt
        sched = self.scheduler_factory(opt)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -------------------------------------------------------------- checkpoints
    def _tokenizer_name(self) -> str | None:
        dm = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        try:
            return dm.tokenizer_name if dm is not None else None
        except (KeyError, AttributeError):
            return None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CKPT_KEY] = {
            "scale": self.space.name,
            "space": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.space).items()},
            "tokenizer": self._tokenizer_name(),
            "tokens_seen": int(self.tokens_seen),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get(CKPT_KEY)
        if meta is None:
            raise ValueError("checkpoint has no 'hwgpt' metadata: it was not written by SupernetModule")
        if meta["scale"] != self.space.name:
            raise ValueError(
                f"cannot resume: checkpoint is from scale {meta['scale']!r}, this run uses scale "
                f"{self.space.name!r}; pass scale={meta['scale']} or drop ckpt_path"
            )
        tok = self._tokenizer_name()
        if meta.get("tokenizer") and tok and meta["tokenizer"] != tok:
            raise ValueError(
                f"cannot resume: checkpoint was trained with tokenizer {meta['tokenizer']!r}, this run's "
                f"data uses {tok!r}; use the same data/tokenizer or drop ckpt_path"
            )
        self.tokens_seen = int(meta.get("tokens_seen", 0))
