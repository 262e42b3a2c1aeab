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


@pytest.mark.parametrize("name", ["tiny", "s", "l"])
def test_arrays_equal_one_by_one(name: str) -> None:
    """One implementation: a list of archs gives int64 arrays equal to the per-arch ints."""
    space = SearchSpace.from_name(name)
    archs = space.sample_unique(25, seed=3) + [space.smallest(), space.largest()]
    p, f = cost.params(archs, space), cost.flops(archs, space, 2, 64)
    m = cost.memory(archs, space, 2, 64, torch.bfloat16)
    assert p.dtype == f.dtype == m.total.dtype == "int64" and len(p) == len(archs)
    for i, a in enumerate(archs):
        assert isinstance(cost.params(a, space), int)
        assert p[i] == cost.params(a, space) and f[i] == cost.flops(a, space, 2, 64)
        assert m.total[i] == cost.memory(a, space, 2, 64, torch.bfloat16).total
    assert len(cost.flops([], space)) == 0


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(batch="8"), r"batch must be an integer, got '8'"),
        (dict(batch=1.5), r"batch must be an integer, got 1.5"),
        (dict(batch=True), r"batch must be an integer"),
        (dict(batch=0), r"batch must be >= 1, got 0"),
        (dict(batch=-1), r"batch must be >= 1, got -1"),
        (dict(seq_len=0), r"seq_len must be 1 <= seq_len <= 256"),
        (dict(seq_len=257), r"seq_len must be 1 <= seq_len <= 256 .*got 257"),
        (dict(seq_len=64.0), r"seq_len must be an integer or None"),
        (dict(batch=10**15), r"too large"),
    ],
)
@pytest.mark.parametrize("fn", [cost.flops, cost.macs, cost.memory])
def test_same_validation_everywhere(fn, kwargs: dict, pattern: str) -> None:
    from hwgpt.errors import InvalidInput
    from hwgpt.surrogates.features import FeatureSpec, arch_arrays, cost_arrays

    space = SearchSpace.from_name("tiny")
    for archs in (space.smallest(), [space.smallest(), space.largest()]):
        with pytest.raises(InvalidInput, match=pattern):
            fn(archs, space, **kwargs)
    with pytest.raises(InvalidInput):  # the features go through the same checks
        spec = FeatureSpec(**{"batch": 1, "seq_len": 64, **{k: v for k, v in kwargs.items()}})
        cost_arrays(arch_arrays([space.smallest()], space), space, spec)


def test_bad_space_and_dtype() -> None:
    from hwgpt.errors import InvalidInput, InvalidType

    space = SearchSpace.from_name("tiny")
    with pytest.raises(InvalidType, match="space must be an hwgpt.SearchSpace"):
        cost.params(space.smallest(), "tiny")
    with pytest.raises(InvalidInput, match="unknown dtype 'float33'"):
        cost.memory(space.smallest(), space, dtype="float33")
    with pytest.raises(InvalidType, match="archs must be an hwgpt.Arch"):
        cost.flops("arch", space)
