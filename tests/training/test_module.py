"""SupernetModule: optimizer groups, gradient averaging over the sandwich, learning, checkpoint metadata."""

from __future__ import annotations

import copy
import functools

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F

from hwgpt.data.datamodule import SyntheticTokenDataModule
from hwgpt.training.callbacks import SandwichCallback, sandwich
from hwgpt.training.module import SupernetModule, param_groups, validation_archs
from hwgpt.training.schedule import warmup_cosine


def _trainer(max_steps: int, **kw) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu", devices=1, max_steps=max_steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        callbacks=[SandwichCallback(num_random=kw.pop("num_random", 2), seed=0)], **kw,
    )


def _data(space, batch_size=4):
    return SyntheticTokenDataModule(vocab_size=space.vocab_size, block_size=space.block_size,
                                    batch_size=batch_size, val_tokens=17 * 8, train_tokens=4096)


def test_param_groups_decay_matrices_only(small_space):
    module = SupernetModule(small_space)
    decay, no_decay = param_groups(module.model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    n = sum(1 for _ in module.model.parameters())
    assert len(decay["params"]) + len(no_decay["params"]) == n
    assert any(p is module.model.wte for p in decay["params"])


def test_configure_optimizers_fused_and_schedule(small_space):
    opt_f = functools.partial(torch.optim.AdamW, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, fused=None)
    sched_f = functools.partial(warmup_cosine, warmup_steps=2, max_steps=10, min_lr=1e-4)
    out = SupernetModule(small_space, optimizer=opt_f, scheduler=sched_f).configure_optimizers()
    opt = out["optimizer"]
    assert opt.defaults["fused"] is True  # torch has fused AdamW kernels for CPU
    assert opt.defaults["betas"] == (0.9, 0.95)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert out["lr_scheduler"]["interval"] == "step"


def test_step_applies_the_mean_gradient_of_the_sandwich(small_space):
    torch.manual_seed(0)
    module = SupernetModule(small_space, optimizer=functools.partial(torch.optim.SGD, lr=1.0), grad_clip=0.0)
    before = copy.deepcopy(module.model)
    dm = _data(small_space)
    dm.setup("fit")
    idx, targets = next(iter(dm.train_dataloader()))  # batch 0, what step 0 trains on
    _trainer(1, num_random=2, limit_val_batches=0).fit(module, datamodule=dm)
    subs = sandwich(small_space, step=0, num_random=2, seed=0)
    for sub in subs:
        before.set_sub_network(sub.arch)
        loss = F.cross_entropy(before(idx).flatten(0, 1), targets.flatten())
        (loss / len(subs)).backward()
    for (name, p0), p1 in zip(before.named_parameters(), module.model.parameters(), strict=True):
        expected = p0.detach() - (p0.grad if p0.grad is not None else 0.0)
        torch.testing.assert_close(p1.detach(), expected, rtol=1e-5, atol=1e-6, msg=name)


def test_sandwich_training_learns(small_space):
    torch.manual_seed(0)
    opt = functools.partial(torch.optim.AdamW, lr=1e-2, weight_decay=0.0, fused=None)
    module = SupernetModule(small_space, optimizer=opt, val_random=1)
    trainer = _trainer(40, val_check_interval=40, check_val_every_n_epoch=None)
    trainer.fit(module, datamodule=_data(small_space, batch_size=8))
    m = trainer.callback_metrics
    assert set(m) >= {"train/loss_largest", "train/loss_smallest", "train/loss_random", "lr",
                      "val/ppl_largest", "val/ppl_smallest", "val/ppl_random_0"}
    assert m["val/ppl_largest"] < 0.5 * small_space.vocab_size  # uniform guessing is vocab_size
    assert m["val/ppl_smallest"] < 0.7 * small_space.vocab_size
    assert module.tokens_seen == 40 * 8 * small_space.block_size


def test_validation_archs_are_fixed(small_space):
    a, b = validation_archs(small_space, 3, seed=0), validation_archs(small_space, 3, seed=0)
    assert a == b and list(a) == ["largest", "smallest", "random_0", "random_1", "random_2"]


def test_checkpoint_metadata_and_refusals(small_space):
    module = SupernetModule(small_space)
    module.tokens_seen = 123
    ckpt: dict = {}
    module.on_save_checkpoint(ckpt)
    assert ckpt["hwgpt"]["scale"] == "small" and ckpt["hwgpt"]["tokens_seen"] == 123
    fresh = SupernetModule(small_space)
    fresh.on_load_checkpoint(ckpt)
    assert fresh.tokens_seen == 123
    with pytest.raises(ValueError, match="scale 's'.*scale 'small'"):
        fresh.on_load_checkpoint({"hwgpt": {**ckpt["hwgpt"], "scale": "s"}})
    with pytest.raises(ValueError, match="not written by SupernetModule"):
        fresh.on_load_checkpoint({})
