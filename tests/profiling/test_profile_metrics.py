"""CPU measurements: latency, energy (codecarbon, flagged estimate), memory, cost, quality."""

from __future__ import annotations

import math

import pytest
import torch

import hwgpt
from hwgpt.profiling.analytic import CostMetric
from hwgpt.profiling.base import Context
from hwgpt.profiling.energy import EnergyMetric
from hwgpt.profiling.latency import LatencyMetric, run_queue_wait
from hwgpt.profiling.memory import MemoryMetric, PeakTensorMemory, cpu_forward_peak, weight_bytes
from hwgpt.profiling.quality import evaluate
from hwgpt.profiling.store import Settings

SPACE = hwgpt.SearchSpace.from_name("tiny")
ARCHS = [SPACE.smallest(), SPACE.sample(3)]


@pytest.fixture
def ctx() -> Context:
    torch.set_num_threads(1)
    return Context(SPACE, torch.device("cpu"), "cpu", Settings(1, 32, "float32", 1), seed=0)


def test_latency_round_robin(ctx: Context) -> None:
    m = LatencyMetric(repeats=3, warmup=1, interleave=2)
    m.setup(ctx)
    out = m.measure(ARCHS)
    for a in ARCHS:
        obs = out[a.id]
        assert [o.repeat for o in obs] == [0, 1, 2]
        assert all(o.metric == "latency" and o.unit == "s" and 0 < o.value < 5 for o in obs)
        assert all("wait_s" in o.extra and set(o.flags) <= {"contended"} for o in obs)
    assert run_queue_wait() is not None


def test_latency_flags_contention(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    m = LatencyMetric(repeats=2, warmup=0)
    m.setup(ctx)
    monkeypatch.setattr(m, "time_one", lambda fn: (fn(), (0.01, 0.005))[1])
    obs = m.measure(ARCHS[:1])[ARCHS[0].id]
    assert all(o.flags == ("contended",) and o.extra["wait_s"] == 0.005 for o in obs)


def test_bad_metric_arguments() -> None:
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        LatencyMetric(repeats=0)
    with pytest.raises(ValueError, match="allowed"):
        CostMetric(outputs=["latency"])


def test_energy_codecarbon_flagged_estimate(ctx: Context) -> None:
    m = EnergyMetric(repeats=2, warmup=1, min_seconds=0.02, interleave=2)
    m.setup(ctx)
    try:
        out = m.measure(ARCHS)
    finally:
        m.close()
    for a in ARCHS:
        for o in out[a.id]:
            assert o.unit == "J" and o.value > 0 and o.extra["n_forwards"] >= 1
            assert o.flags == ("estimate",) and o.extra["mode"] == "cpu_load"  # no RAPL on this machine
            assert math.isclose(o.extra["cpu_J"] + o.extra["ram_J"], o.value * o.extra["n_forwards"], rel_tol=1e-6)


def test_peak_tracker_counts_live_tensors() -> None:
    a = torch.ones(1000)
    with PeakTensorMemory([a]) as p:
        _ = a[:10]  # a view of an existing tensor: not counted
        b = a * 2
        c = b + 1
        del b
        d = c * 3
        del c
        e = d.view(10, 100).t().contiguous()
        e.add_(1)
    assert p.peak == 8000  # never more than two 4000-byte tensors alive


def test_memory_metric(ctx: Context) -> None:
    m = MemoryMetric()
    m.setup(ctx)
    out = m.measure(ARCHS)
    for a in ARCHS:
        (o,) = out[a.id]
        dense = ctx.dense(a)
        assert o.unit == "bytes" and o.value == weight_bytes(dense) + cpu_forward_peak(dense, ctx.tokens())
        # logits (batch x seq x vocab fp32) are the largest intermediate: the peak holds at least them
        assert o.extra["activations"] >= 32 * SPACE.vocab_size * 4
        assert 0.5 < o.value / o.extra["estimate_total"] < 2


def test_cost_metric(ctx: Context) -> None:
    m = CostMetric()
    m.setup(ctx)
    out = m.measure(ARCHS)
    a = ARCHS[1]
    vals = {o.metric: o.value for o in out[a.id]}
    assert vals == {"flops": hwgpt.cost.flops(a, SPACE, 1, 32), "params": hwgpt.cost.params(a, SPACE)}


def test_quality_subnetwork_equals_extracted() -> None:
    torch.manual_seed(0)
    sn = hwgpt.SuperGPT(SPACE).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, SPACE.vocab_size, (2, 16), generator=g)
    batches = [(x[:, :-1], x[:, 1:])]
    a = ARCHS[1]
    sn.set_sub_network(a)
    ppl, acc, n = evaluate(sn, batches)
    ppl2, acc2, _ = evaluate(sn.extract(a).eval(), batches)
    assert n == 30 and math.isclose(ppl, ppl2, rel_tol=1e-4) and acc == acc2
    assert 0.5 * SPACE.vocab_size < ppl < 2 * SPACE.vocab_size  # random weights: near-uniform predictions


def test_context_dense_equals_extract(ctx: Context) -> None:
    idx = ctx.tokens()
    for a in ARCHS:
        fast, ref = ctx.dense(a), ctx.supernet().extract(a).eval()
        assert all(not t.is_meta for t in [*fast.parameters(), *fast.buffers()])
        assert {k: v.shape for k, v in fast.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
        with torch.inference_mode():
            assert torch.equal(fast(idx), ref(idx))


def test_latency_retries_contended_observations(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    m = LatencyMetric(repeats=2, warmup=0, max_retries=2)
    m.setup(ctx)
    timings = iter([(0.01, 0.005), (0.01, 0.0)] * 2)  # contended, then clean: one retry per observation
    monkeypatch.setattr(m, "time_one", lambda fn: (fn(), next(timings))[1])
    obs = m.measure(ARCHS[:1])[ARCHS[0].id]
    assert [(o.flags, o.extra["retries"], o.extra["wait_s"]) for o in obs] == [((), 1, 0.0)] * 2
