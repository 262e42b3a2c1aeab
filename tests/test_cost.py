"""The exact cost model against the extracted models and torch's FLOP counter."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from hwgpt import DenseGPT, SearchSpace, cost


@pytest.mark.parametrize("name", ["tiny", "s", "m", "l"])
def test_params_equal_numel_on_every_scale(name: str) -> None:
    space = SearchSpace.from_name(name)
    archs = [space.smallest(), space.sample(0)] + ([space.largest(), space.sample(1)] if name in ("tiny", "s") else [])
    with torch.device("meta"):  # M and L without allocating their weights
        for arch in archs:
            dense = DenseGPT(arch, space)
            assert cost.params(arch, space) == sum(p.numel() for p in dense.parameters())


@pytest.mark.parametrize("seed", range(4))
def test_flops_match_torch_flop_counter(seed: int) -> None:
    space = SearchSpace.from_name("tiny")
    arch = space.sample(seed)
    model = DenseGPT(arch, space)
    idx = torch.randint(0, space.vocab_size, (2, 64))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(idx)
    counted = counter.get_total_flops()
    assert abs(cost.flops(arch, space, batch=2, seq_len=64) - counted) <= 0.01 * counted
    assert cost.flops(arch, space, 2, 64) == 2 * cost.macs(arch, space, 2, 64)


def test_flops_scale_with_batch_and_quadratically_in_attention() -> None:
    space = SearchSpace.from_name("s")
    a = space.sample(0)
    assert cost.flops(a, space, batch=4, seq_len=128) == 4 * cost.flops(a, space, batch=1, seq_len=128)
    assert cost.flops(a, space, 1, 1024) > 8 * cost.flops(a, space, 1, 128)


def test_memory_estimate() -> None:
    space = SearchSpace.from_name("s")
    a = space.sample(0)
    m32 = cost.memory(a, space, batch=1, seq_len=1024, dtype=torch.float32)
    m16 = cost.memory(a, space, batch=1, seq_len=1024, dtype=torch.bfloat16)
    assert m32.weights == 4 * cost.params(a, space) and m16.weights == 2 * cost.params(a, space)
    assert m32.kv_cache == 4 * 2 * 1024 * sum(a.n_head) * 64
    assert m32.total == m32.weights + m32.kv_cache + m32.activations
    assert m32.activations >= 4 * 1024 * space.vocab_size  # the logits are live at the end


def test_bad_sequence_length() -> None:
    space = SearchSpace.from_name("tiny")
    with pytest.raises(ValueError, match="seq_len <= 256"):
        cost.flops(space.smallest(), space, 1, 300)


def test_deepspeed_flops_profiler_agrees(monkeypatch) -> None:
    """DeepSpeed reports the same MACs and params; its FLOPs add elementwise ops (~0.05%)."""
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")
    profiler = pytest.importorskip("deepspeed.profiling.flops_profiler")
    space = SearchSpace.from_name("tiny")
    arch = space.sample(2)
    model = DenseGPT(arch, space).eval()
    idx = torch.randint(0, space.vocab_size, (1, 128))
    flops, macs, n_params = profiler.get_model_profile(model, args=[idx], print_profile=False, as_string=False)
    assert macs == cost.macs(arch, space, 1, 128)
    assert n_params == cost.params(arch, space)
    assert 0 < flops - cost.flops(arch, space, 1, 128) < 0.01 * flops
