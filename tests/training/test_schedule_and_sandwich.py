"""Warm-up/cosine schedule and the sandwich sampling stream."""

from __future__ import annotations

import pytest
import torch

from hwgpt.training.callbacks import SandwichCallback, sandwich
from hwgpt.training.schedule import WarmupCosine, warmup_cosine


def test_warmup_cosine_shape():
    f = WarmupCosine(warmup_steps=10, max_steps=110, floor=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    vals = [f(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(vals, vals[1:], strict=False))


def test_warmup_cosine_scheduler_reaches_min_lr():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=1e-3)
    sched = warmup_cosine(opt, warmup_steps=2, max_steps=6, min_lr=1e-4)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(5e-4) and lrs[1] == pytest.approx(1e-3)
    assert lrs[-1] == pytest.approx(1e-4)
    assert "lr_lambdas" in sched.state_dict()  # the multiplier's fields are saved for resuming


@pytest.mark.parametrize("kw", [{"warmup_steps": -1}, {"max_steps": 0}])
def test_warmup_cosine_bad_args(kw):
    args = {"warmup_steps": 1, "max_steps": 10, "floor": 0.1} | kw
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupCosine(**args)


def test_min_lr_above_lr_is_refused():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    with pytest.raises(ValueError, match="min_lr"):
        warmup_cosine(opt, 1, 10, min_lr=1.0)


def test_sandwich_is_a_pure_function_of_seed_and_step(small_space):
    a = sandwich(small_space, step=7, num_random=3, seed=1)
    assert a == sandwich(small_space, step=7, num_random=3, seed=1)
    assert [s.kind for s in a] == ["smallest", "random", "random", "random", "largest"]
    assert a[0].arch == small_space.smallest() and a[-1].arch == small_space.largest()
    streams = {tuple(s.arch.id for s in sandwich(small_space, step, 3, 1)) for step in range(20)}
    assert len(streams) > 10  # steps draw different random sub-networks
    assert sandwich(small_space, 7, 3, 2) != a  # and the seed matters


def test_sandwich_k_zero_and_bad_k(small_space):
    assert [s.kind for s in sandwich(small_space, 0, num_random=0)] == ["smallest", "largest"]
    with pytest.raises(ValueError, match="num_random"):
        SandwichCallback(num_random=-1)


def test_callback_sets_the_steps_sub_networks(small_space):
    class Trainer:
        global_step = 5

    class Module:
        space = small_space

    cb, module = SandwichCallback(num_random=2, seed=3), Module()
    cb.on_train_batch_start(Trainer(), module, None, 0)
    assert module.sub_networks == sandwich(small_space, 5, 2, 3)
    assert cb.state_dict() == {"num_random": 2, "seed": 3}
