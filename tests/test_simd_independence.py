"""Keyed draws, medians and intervals do not depend on numpy's SIMD dispatch (issue 20, item 1).

numpy picks its vector kernels by CPU (AVX-512 on some machines of this kind, AVX2 on others), and its
``exp``/``log`` kernels differ from the C library's in the last bit on a few percent of inputs. The
benchmark computes every value through one scalar path for transcendental functions
(:mod:`hwgpt.libm`), so the same query gives the same bits whatever the
dispatch. This test computes values here and in a child process whose numpy has every dispatchable
SIMD target above its baseline disabled (``NPY_DISABLE_CPU_FEATURES``), and compares them bit for bit:
both paths run on one machine, whichever kind it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import hwgpt
from hwgpt import libm

ROOT = Path(__file__).resolve().parents[1]

VALUES = r"""
import json, sys
import numpy as np
import hwgpt
from hwgpt.search.objectives import parse_objectives
from hwgpt.search.problem import SurrogateProblem

bench = hwgpt.Benchmark("tiny", "cpu")
archs = bench.space.sample_unique(40, seed=3)
seeds = np.arange(40, dtype=np.uint64)
out = {
    "draws": bench.sample_observations(archs, "latency", seed=seeds, repeats=3).tolist(),
    "single": [bench.sample_observation(a, "energy", seed=int(s)) for a, s in zip(archs, seeds)],
    "medians": bench.query(archs, ["latency", "energy", "perplexity"]),
    "interval": bench.interval(archs, "latency", 0.9),
    "tails": bench.sample_observations(archs, "latency", seed=np.arange(40) + 10**6, repeats=1).tolist(),
}
problem = SurrogateProblem(hwgpt.Benchmark, "tiny", parse_objectives(["perplexity", "latency"], "cpu"), "cpu",
                           True, 0)
out["observed"] = [problem.observe(a, i, 3) for i, a in enumerate(archs[:10])]
from numpy._core._multiarray_umath import __cpu_features__
out["features"] = {k: bool(v) for k, v in __cpu_features__.items()}
print(json.dumps(out, default=lambda v: [float(x).hex() for x in np.ravel(v)] if hasattr(v, "__len__")
                 else float(v).hex()))
"""


def _hex(values: object) -> object:
    """Floats as exact hex strings (bit-level comparison through JSON)."""
    if isinstance(values, dict):
        return {k: _hex(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return [_hex(v) for v in values]
    if isinstance(values, bool):
        return values
    if isinstance(values, (int, float)):
        return float(values).hex()
    return values


def _run(env_extra: dict[str, str]) -> dict:
    env = {**os.environ, **env_extra}
    out = subprocess.run([sys.executable, "-c", VALUES], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _dispatch_targets() -> list[str]:
    """numpy's dispatchable SIMD targets that this CPU has (the ones disabling changes anything for)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]


def test_values_do_not_depend_on_simd_dispatch() -> None:
    targets = _dispatch_targets()
    full = _run({"NPY_DISABLE_CPU_FEATURES": ""})
    limited = _run({"NPY_DISABLE_CPU_FEATURES": " ".join(targets)})
    for t in targets:  # the child really ran without them
        assert full["features"][t] and not limited["features"][t], t
    full.pop("features"), limited.pop("features")
    assert _hex(full) == _hex(limited)


def test_libm_exp_and_log_are_one_path_per_value() -> None:
    """:func:`hwgpt.libm.exp`/``log`` equal ``math`` element by element, batched or not, any shape."""
    import math

    x = np.random.default_rng(0).normal(size=(50, 7))
    e = libm.exp(x)
    assert e.shape == x.shape and all(e.ravel()[i] == math.exp(v) for i, v in enumerate(x.ravel().tolist()))
    assert libm.exp(x[3, 2]).item() == math.exp(x[3, 2])
    pos = np.abs(x) + 1e-3
    assert all(libm.log(pos).ravel()[i] == math.log(v) for i, v in enumerate(pos.ravel().tolist()))


def test_single_and_batched_draws_agree_in_the_tails() -> None:
    """Draws beyond the outer quantile levels (the log-extrapolated tails) too: single == batched."""
    bench = hwgpt.Benchmark("tiny", "cpu")
    arch = bench.space.sample(5)
    t = bench._table("latency")
    row = t.lookup(arch) if t.lookup(arch) is not None else int(bench._rows(t, [arch])[0])
    u = np.array([1e-6, 1e-4, 0.01, 0.5, 0.99, 1 - 1e-4, 1 - 1e-6])
    from hwgpt.surrogates.distribution import inverse_cdf

    batched = libm.exp(inverse_cdf(t.levels, np.repeat(t.Q[[row]], len(u), axis=0), u))
    single = [t.value(row, float(v)) for v in u]
    assert batched.tolist() == single
