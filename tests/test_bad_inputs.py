"""Bad inputs across the Python API, the Hydra configs and the CLIs: each gets a clear library error.

"Clear" means: the exception is raised by hwgpt's own code (the innermost traceback frame lies in
the ``hwgpt`` package, so it is not a raw error from inside numpy, sqlite3, torch...), it is a
``ValueError``/``TypeError``/``OSError`` or an :class:`hwgpt.errors.HwgptError`, and its message
names the parameter or the value. Nothing is silently accepted, and nothing hangs (per-case
timeouts). Hydra compose-time errors (typos in keys, unknown config options) are Hydra's own and
must name the key. CLI cases run as subprocesses, a few at a time, and must end without a
traceback, with a non-zero exit status and the parameter's name in the output.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hwgpt
from hwgpt import Arch, SearchSpace, cost
from hwgpt.errors import HwgptError, InvalidInput, check_choice, check_float, check_int, check_seed
from hwgpt.profiling.store import Store

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")
HWGPT_DIR = str(ROOT / "hwgpt") + os.sep
TINY = SearchSpace.from_name("tiny")
GOOD = TINY.sample(0)
GOOD_KW = dict(embed_dim=64, n_layer=4, n_head=(2, 2, 2, 2), mlp_ratio=(2, 2, 2, 2), bias=True)


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Path], Any]
    words: tuple[str, ...]  # at least one appears in the message (case-insensitive)
    hydra: bool = False  # a compose-time error of Hydra's own
    xfail: str | None = None


CASES: list[Case] = []


def case(id: str, call: Callable[[Path], Any], *words: str, hydra: bool = False, xfail: str | None = None) -> None:
    CASES.append(Case(id, call, words, hydra, xfail))


def assert_clear(exc: BaseException, words: tuple[str, ...], hydra: bool = False) -> None:
    msg = str(exc)
    if hydra:
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        assert isinstance(exc, (HydraException, OmegaConfBaseException)), f"{type(exc).__name__}: {msg}"
    else:
        assert isinstance(exc, (ValueError, TypeError, OSError, HwgptError)), f"{type(exc).__name__}: {msg}"
        innermost = traceback.extract_tb(exc.__traceback__)[-1].filename
        assert innermost.startswith(HWGPT_DIR), f"raised inside a dependency ({innermost}): {type(exc).__name__}: {msg}"
    assert any(w.lower() in msg.lower() for w in words), f"message does not name {words}: {msg!r}"


# ---------------------------------------------------------------- Arch on its own
BAD_FIELDS: dict[str, list[Any]] = {
    "embed_dim": [0, -1, 1.5, "64", None, True, [64], 64.0],
    "n_layer": [0, -3, 4.0, "4", None, False],
    "n_head": [3, "2222", (2, 2, 2), (2,) * 5, (0, 2, 2, 2), (-1, 2, 2, 2), (2, "2", 2, 2), (2, None, 2, 2),
               (2, 2.0, 2, 2), None],
    "mlp_ratio": [2, "2222", (2, 2, 2), (2,) * 5, (0, 2, 2, 2), (-2, 2, 2, 2), (2, "2", 2, 2), (2, None, 2, 2),
                  (2, 2.5, 2, 2), None],
    "bias": [1, 0, "True", None, 1.0],
}
for field, values in BAD_FIELDS.items():
    for i, v in enumerate(values):
        case(f"arch-{field}-{i}", lambda _, f=field, v=v: Arch(**{**GOOD_KW, f: v}), field)

for v in ["x", None, [], 5, ("embed_dim", 64)]:
    case(f"from_dict-type-{v!r}", lambda _, v=v: Arch.from_dict(v), "dict")
for k in GOOD_KW:
    case(f"from_dict-missing-{k}", lambda _, k=k: Arch.from_dict({x: y for x, y in GOOD.to_dict().items() if x != k}),
         k, "missing")
for k in ["heads", "layers", "Bias"]:
    case(f"from_dict-unknown-{k}", lambda _, k=k: Arch.from_dict({**GOOD.to_dict(), k: 1}), k, "unknown")
for k, v in [("embed_dim", "64"), ("n_layer", 4.5), ("bias", "yes"), ("n_head", 2), ("mlp_ratio", [2, 2])]:
    case(f"from_dict-value-{k}", lambda _, k=k, v=v: Arch.from_dict({**GOOD_KW, k: v}), k)

# ---------------------------------------------------------------- SearchSpace
for v in ["xl", "", None, 5, "S", " s", b"s", ["s"]]:
    case(f"from_name-{v!r}", lambda _, v=v: SearchSpace.from_name(v), "scale")
for v in [-1, 1.5, "0", None, True, 2**64, -(2**63), [1.5]]:
    case(f"sample-seed-{v!r}", lambda _, v=v: TINY.sample(v), "seed")
for n in [-1, 1.5, "10", None, 10**9, TINY.size + 1]:
    case(f"sample_unique-n-{n!r}", lambda _, n=n: TINY.sample_unique(n), "n ", "n =", "n must")
for s in [-1, "x"]:
    case(f"sample_unique-seed-{s!r}", lambda _, s=s: TINY.sample_unique(3, s), "seed")
OUT_OF_TINY = {
    "embed": dict(GOOD_KW, embed_dim=100), "depth-small": dict(embed_dim=64, n_layer=3, n_head=(2,) * 3,
                                                                 mlp_ratio=(2,) * 3, bias=True),
    "depth-large": dict(embed_dim=64, n_layer=7, n_head=(2,) * 7, mlp_ratio=(2,) * 7, bias=True),
    "head": dict(GOOD_KW, n_head=(2, 3, 2, 2)), "ratio": dict(GOOD_KW, mlp_ratio=(2, 2, 2, 5)),
}
for name, kw in OUT_OF_TINY.items():
    case(f"validate-{name}", lambda _, kw=kw: TINY.validate(Arch(**kw)), "allowed")
for v in ["arch", None, 5, GOOD.to_dict(), [GOOD]]:
    case(f"validate-type-{type(v).__name__}", lambda _, v=v: TINY.validate(v), "hwgpt.Arch")
CFG = TINY.to_config(GOOD)
for v in ["cfg", None, [CFG]]:
    case(f"from_config-type-{type(v).__name__}", lambda _, v=v: TINY.from_config(v), "config")
for k in ["n_layer", "embed_dim", "bias", "n_head_0", "mlp_ratio_3"]:
    case(f"from_config-missing-{k}", lambda _, k=k: TINY.from_config({x: y for x, y in CFG.items() if x != k}), k)
for k, v in [("n_layer", 9), ("embed_dim", 100), ("bias", 2), ("n_head_0", 3), ("n_layer", "4")]:
    case(f"from_config-value-{k}-{v!r}", lambda _, k=k, v=v: TINY.from_config({**CFG, k: v}), k.split("_0")[0])
case("encode-str", lambda _: TINY.encode("x"), "hwgpt.Arch")
case("encode-list", lambda _: TINY.encode([GOOD, "x"]), "hwgpt.Arch")
case("to_config-str", lambda _: TINY.to_config("x"), "hwgpt.Arch")
case("to_config-outside", lambda _: TINY.to_config(Arch(**OUT_OF_TINY["embed"])), "embed_dim")
for name, kw in [("name", dict(name=5)), ("embed", dict(embed_dim=(0, 64))), ("vocab", dict(vocab_size=0)),
                 ("block", dict(block_size="256")), ("bias", dict(bias=(1,))), ("padded", dict(padded_vocab_size=10))]:
    base = dict(name="t", embed_dim=(64,), n_layer=(1,), n_head=(1,), mlp_ratio=(2,), vocab_size=64,
                padded_vocab_size=64, block_size=16, head_size=8, tokenizer="synthetic64")
    case(f"searchspace-{name}", lambda _, kw=kw, base=base: SearchSpace(**{**base, **kw}), *kw, "vocab")

# ---------------------------------------------------------------- cost model
COST_FNS = {"params": lambda a, s, **k: cost.params(a, s), "macs": cost.macs, "flops": cost.flops,
            "memory": cost.memory}
for fname, fn in COST_FNS.items():
    for label, archs in [("str", "x"), ("none", None), ("int", 5), ("mixed", [GOOD, "x"]),
                         ("outside", Arch(**OUT_OF_TINY["head"]))]:
        case(f"cost-{fname}-arch-{label}", lambda _, fn=fn, a=archs: fn(a, TINY), "arch", "n_head")
    for label, space in [("str", "tiny"), ("none", None)]:
        case(f"cost-{fname}-space-{label}", lambda _, fn=fn, s=space: fn(GOOD, s), "space")
for fname in ("macs", "flops", "memory"):
    fn = COST_FNS[fname]
    for b in ["8", 1.5, 0, -1, True, None, 10**15]:
        case(f"cost-{fname}-batch-{b!r}", lambda _, fn=fn, b=b: fn(GOOD, TINY, batch=b), "batch")
    for t in [0, -1, 257, 64.0, "64"]:
        case(f"cost-{fname}-seq_len-{t!r}", lambda _, fn=fn, t=t: fn(GOOD, TINY, seq_len=t), "seq_len")
for d in ["float33", 5, "", "torch.floaty"]:
    case(f"cost-memory-dtype-{d!r}", lambda _, d=d: cost.memory(GOOD, TINY, dtype=d), "dtype")


def _features(**spec: Any) -> Any:
    from hwgpt.surrogates.features import FeatureSpec, arch_arrays, cost_arrays

    return cost_arrays(arch_arrays([GOOD], TINY), TINY, FeatureSpec(**spec))


for kw in [dict(batch=0), dict(batch="1"), dict(batch=1.5), dict(seq_len=0), dict(seq_len="64"), dict(seq_len=300),
           dict(dtype="float33"), dict(dtype=3)]:
    case(f"features-{kw}", lambda _, kw=kw: _features(**kw), *kw)
for v in ["x", [GOOD, None], 5]:
    case(f"build_features-{v!r}"[:40], lambda _, v=v: __import__("hwgpt.surrogates.features", fromlist=["x"])
         .build_features(v, TINY, __import__("hwgpt.surrogates.features", fromlist=["x"]).FeatureSpec()), "arch")

# ---------------------------------------------------------------- the checks themselves
for v in ["3", 3.0, True, None, [3]]:
    case(f"check_int-type-{v!r}", lambda _, v=v: check_int("count", v), "count")
for v in [0, -5]:
    case(f"check_int-range-{v}", lambda _, v=v: check_int("count", v, min=1), "count")
for v in ["0.5", None, math.nan, math.inf, -0.1, 1.0]:
    case(f"check_float-{v!r}", lambda _, v=v: check_float("coverage", v, min=0, max=1, inclusive=False), "coverage")
for v in [-1, 2**63, "7"]:
    case(f"check_seed-{v!r}", lambda _, v=v: check_seed("seed", v), "seed")
for v in ["CPU", 1]:
    case(f"check_choice-{v!r}", lambda _, v=v: check_choice("device", v, ["cpu", "gpu"]), "device")


# ---------------------------------------------------------------- the store
def _store_file(tmp: Path) -> Path:
    path = tmp / "s.sqlite"
    if not path.exists():
        Store(path, create=True).close()
    return path


def _readonly_write(tmp: Path) -> None:
    from hwgpt.profiling.store import Settings

    s = Store(_store_file(tmp), readonly=True)
    s.claim([GOOD], scale="tiny", device="cpu", metrics=["latency"], settings=Settings(1, 8, "float32", 1),
            owner="x", lease=1, limit=1)


def _blocked(tmp: Path) -> Path:
    (tmp / "blocker").write_text("a file, not a directory")
    return tmp / "blocker" / "sub" / "s.sqlite"


STORE_CASES: list[tuple[str, Callable[[Path], Any], tuple[str, ...]]] = [
    ("none", lambda t: Store(None), ("store path",)),
    ("empty", lambda t: Store(""), ("store path",)),
    ("int", lambda t: Store(5), ("store path",)),
    ("timeout-0", lambda t: Store(_store_file(t), timeout=0), ("timeout",)),
    ("timeout-str", lambda t: Store(_store_file(t), timeout="x"), ("timeout",)),
    ("timeout-neg", lambda t: Store(_store_file(t), timeout=-1), ("timeout",)),
    ("missing", lambda t: Store(t / "nope.sqlite"), ("nope.sqlite",)),
    ("directory", lambda t: Store(t), ("directory",)),
    ("unwritable-location", lambda t: Store(_blocked(t), create=True), ("cannot create",)),
    ("corrupt", lambda t: (t / "c.sqlite").write_bytes(b"junk" * 500) and Store(t / "c.sqlite"), ("c.sqlite",)),
    ("readonly-write", _readonly_write, ("read-only",)),
    ("export-suffix", lambda t: Store(_store_file(t)).export(t / "x.json"), (".parquet or .csv",)),
    ("export-blocked", lambda t: Store(_store_file(t)).export(_blocked(t).with_suffix(".csv")), ("export",)),
    ("readonly-missing", lambda t: Store(t / "n.sqlite", create=True, readonly=True), ("read-only",)),
]
for sid, fn, words in STORE_CASES:
    case(f"store-{sid}", fn, *words)


# ---------------------------------------------------------------- artifacts
def _artifacts() -> Any:
    from hwgpt.surrogates import artifacts

    return artifacts


for v in ["a/b", "", "@", "x@y", None, 5, "../x", " a", "a b"]:
    case(f"artifact-name-{v!r}", lambda _, v=v: _artifacts().check_name("device", v), "device name")
case("artifact-load-missing-scale", lambda t: _artifacts().load("tiny", "cpu", "latency", t), "latency.meta.json")
case("artifact-load-missing-metric", lambda t: _artifacts().load("tiny", "cpu", "nope", None), "nope")
case("artifact-manifest-missing-dir", lambda t: _artifacts().write_manifest(t / "nope"), "nope")
case("artifact-verify-missing-manifest", lambda t: (t / "d").mkdir() or _artifacts().verify_dir(t / "d"), "manifest")


# ---------------------------------------------------------------- quality metric arguments
def _quality(**kw: Any) -> Any:
    from hwgpt.profiling.quality import QualityMetric

    return QualityMetric(**kw)


for kw in [dict(outputs="perplexity"), dict(outputs=[]), dict(outputs=["nope"]), dict(outputs=[5]),
           dict(windows=0), dict(windows=-1), dict(windows="32"), dict(windows=1.5), dict(batch_size=0),
           dict(first_window=-1)]:
    case(f"quality-{kw}", lambda _, kw=kw: _quality(**kw), *kw)
for n in [-1, "5", 2.5]:
    case(f"arch_set-{n!r}", lambda _, n=n: __import__("hwgpt.profiling.runner", fromlist=["x"]).arch_set(TINY, n),
         "n_archs")


# ---------------------------------------------------------------- Hydra configs (compose, then the run's checks)
def _compose(name: str, overrides: list[str]) -> Any:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONF, version_base="1.3"):
            return compose(config_name=name, overrides=["paths.root_dir=/nonexistent-root", *overrides])
    finally:
        GlobalHydra.instance().clear()


def _profile_checks(overrides: list[str]) -> None:
    from hwgpt.profiling.runner import settings_from_cfg, validate_cfg

    cfg = _compose("profile", overrides)
    validate_cfg(cfg)
    settings_from_cfg(cfg, SearchSpace.from_name(cfg.scale.name))
    torch.set_num_threads(1)


PROFILE_BAD = [
    ("n_archs=abc", "n_archs"), ("n_archs=-1", "n_archs"), ("n_archs=1.5", "n_archs"), ("seed=-1", "seed"),
    ("seed=abc", "seed"), ("seed=1.5", "seed"), ("batch=0", "batch"), ("batch=-1", "batch"), ("batch=abc", "batch"),
    ("seq_len=0", "seq_len"), ("seq_len=abc", "seq_len"), ("seq_len=9999", "seq_len"), ("threads=0", "threads"),
    ("threads=-1", "threads"), ("threads=abc", "threads"), ("repeats=0", "repeats"), ("repeats=abc", "repeats"),
    ("store_timeout=0", "store_timeout"), ("store_timeout=-5", "store_timeout"), ("store_timeout=abc", "store_timeout"),
    ("max_seconds=-1", "max_seconds"), ("max_seconds=abc", "max_seconds"), ("store=''", "store"), ("store=5", "store"),
    ("export=foo.json", "export"), ("export=5", "export"), ("progress=yes", "progress"), ("dtype=float33", "dtype"),
]
for ov, word in PROFILE_BAD:
    case(f"profile-cfg-{ov}", lambda _, ov=ov: _profile_checks([ov]), word)
for ov, word in [("n_arch=5", "n_arch"), ("metric=nope", "nope"), ("scale=xl", "xl"), ("device=nope", "nope"),
                 ("repeat=3", "repeat")]:
    case(f"profile-compose-{ov}", lambda _, ov=ov: _compose("profile", [ov]), word, hydra=True)


def _train_checks(overrides: list[str], tmp: Path) -> None:
    from hwgpt.training.precision import choose_precision
    from hwgpt.training.run import validate_cfg

    cfg = _compose("train", [o.replace("TMP", str(tmp)) for o in overrides])
    validate_cfg(cfg)
    choose_precision(cfg.trainer.precision, cfg.trainer.accelerator, probe_fn=lambda d: (1.0, 2.0))


def _junk(tmp: Path) -> Path:
    (tmp / "junk.ckpt").write_bytes(os.urandom(4096))
    return tmp / "junk.ckpt"


TRAIN_BAD = [
    (["seed=-1"], "seed"), (["seed=abc"], "seed"), (["seed=1.5"], "seed"),
    (["ckpt_path=TMP/missing.ckpt"], "ckpt_path"),
    (["ckpt_path=TMP"], "ckpt_path"), (["ckpt_path=5"], "ckpt_path"), (["evaluate=yes"], "evaluate"),
    (["trainer.max_steps=0"], "max_steps"), (["trainer.max_steps=abc"], "max_steps"),
    (["trainer.max_steps=-5"], "max_steps"), (["trainer.precision=bf17"], "precision"),
]
for ovs, word in TRAIN_BAD:
    case(f"train-cfg-{ovs[0]}", lambda t, ovs=ovs: _train_checks(ovs, t), word)
case("train-cfg-ckpt-junk", lambda t: _train_checks([f"ckpt_path={_junk(t)}"], t), "not a Lightning checkpoint")
for ov, word in [("trainer.max_step=5", "max_step"), ("scale=xl", "xl"), ("trainer=nope", "nope"),
                 ("logger=nope", "nope")]:
    case(f"train-compose-{ov}", lambda _, ov=ov: _compose("train", [ov]), word, hydra=True)


# ---------------------------------------------------------------- Benchmark
def _bench() -> Any:
    return hwgpt.Benchmark("tiny", "cpu")


BENCH_CASES: list[tuple[str, Callable[[Path], Any], tuple[str, ...], str | None]] = [
    ("query-arch-str", lambda t: _bench().query("arch"), ("hwgpt.Arch",), None),
    ("scale-xl", lambda t: hwgpt.Benchmark(scale="xl"), ("scale",), None),
    ("report-unknown", lambda t: _bench().report("nope"), ("nope",), None),
    ("query-metric-unknown", lambda t: _bench().query([GOOD], ["nope"]), ("nope",), None),
    ("interval-coverage-1.5", lambda t: _bench().interval(GOOD, "latency", coverage=1.5), ("coverage",), None),
    ("sample-seed-neg", lambda t: _bench().sample_observation(GOOD, "latency", seed=-1), ("seed",), None),
    ("sample-seed-float", lambda t: _bench().sample_observation(GOOD, "latency", seed=1.5), ("seed",), None),
    ("query-metrics-int", lambda t: _bench().query(GOOD, 5), ("metrics",), None),
    ("query-metric-at", lambda t: _bench().query(GOOD, "latency@"), ("latency@",), None),
    ("interval-coverage-str", lambda t: _bench().interval(GOOD, "latency", coverage="abc"), ("coverage",), None),
    ("artifacts-dir-missing", lambda t: hwgpt.Benchmark(artifacts_dir=t / "missing"), ("missing",), None),
]
for bid, fn, words, why in BENCH_CASES:
    case(f"benchmark-{bid}", fn, *words, xfail=why)


def _params() -> list[Any]:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(reason=c.xfail, strict=False)] if c.xfail else [])
            for c in CASES]


def test_enough_cases() -> None:
    assert len(CASES) >= 300, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES), "duplicate case ids"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("c", _params())
def test_bad_input_gets_a_clear_error(c: Case, tmp_path: Path) -> None:
    try:
        result = c.call(tmp_path)
    except BaseException as e:  # noqa: BLE001 - the point is to look at whatever came out
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        assert_clear(e, c.words, c.hydra)
    else:
        pytest.fail(f"silently accepted: {c.id} -> {result!r}"[:300])


# ---------------------------------------------------------------- properties (Hypothesis)
ints_not_allowed = st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.text(max_size=3), st.none(),
                             st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(["embed_dim", "n_layer"]), value=ints_not_allowed)
def test_property_arch_scalar_fields(field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as e:
        Arch(**{**GOOD_KW, field: value})
    assert field in str(e.value)


@settings(max_examples=60, deadline=None)
@given(batch=st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=2), st.booleans()),
       fn=st.sampled_from([cost.flops, cost.macs, cost.memory]))
def test_property_cost_batch(batch: Any, fn: Callable[..., Any]) -> None:
    with pytest.raises(InvalidInput, match="batch"):
        fn([GOOD, TINY.largest()], TINY, batch=batch)


@settings(max_examples=60, deadline=None)
@given(seed=st.one_of(st.integers(max_value=-1), st.integers(min_value=2**63), st.floats(), st.text(max_size=2)))
def test_property_seeds(seed: Any) -> None:
    with pytest.raises(InvalidInput, match="seed"):
        TINY.sample(seed)


# ---------------------------------------------------------------- the CLIs (subprocesses, a few at a time)
CLI_CASES: list[tuple[str, list[str], str]] = [
    ("profile-n_archs-abc", ["profile.py", "n_archs=abc"], "n_archs"),
    ("profile-max_seconds-neg", ["profile.py", "max_seconds=-1"], "max_seconds"),
    ("profile-threads-0", ["profile.py", "threads=0"], "threads"),
    ("profile-batch-0", ["profile.py", "batch=0"], "batch"),
    ("profile-seq_len-9999", ["profile.py", "seq_len=9999"], "seq_len"),
    ("profile-store_timeout-0", ["profile.py", "store_timeout=0"], "store_timeout"),
    ("profile-export-json", ["profile.py", "export=out.json"], "export"),
    ("profile-store-unwritable", ["profile.py", "store=BLOCKER/sub/s.sqlite"], "cannot create the store"),
    ("profile-windows-0", ["profile.py", "metric=quality", "metric.windows=0"], "metric.windows"),
    ("profile-typo", ["profile.py", "n_arch=5"], "n_arch"),
    ("profile-scale-xl", ["profile.py", "scale=xl"], "xl"),
    ("profile-metric-unknown", ["profile.py", "metric=nope"], "nope"),
    ("train-seed-neg", ["train.py", "seed=-1"], "seed"),
    ("train-ckpt-junk", ["train.py", "ckpt_path=JUNK"], "not a Lightning checkpoint"),
    ("train-ckpt-missing", ["train.py", "ckpt_path=TMP/none.ckpt"], "ckpt_path"),
    ("train-precision", ["train.py", "trainer.precision=bf17"], "precision"),
    ("train-max_steps-0", ["train.py", "trainer.max_steps=0"], "max_steps"),
    ("train-typo", ["train.py", "trainer.max_step=5"], "max_step"),
    # search.py (issue 21): run dirs, unresolved/removed keys, unbounded or malformed sizes, device names
    ("search-run-dir-empty", ["search.py", "logger=none", "hydra.run.dir="], "hydra.run.dir"),
    ("search-task-escape", ["search.py", "logger=none", "task_name=../../escape"], "task_name"),
    ("search-env-unset", ["search.py", "logger=none", "n_evals=${oc.env:NOPE_NOT_SET_HWGPT}"], "n_evals"),
    ("search-no-objectives", ["search.py", "logger=none", "~objectives"], "objectives"),
    ("search-threads-neg", ["search.py", "logger=none", "threads=-1"], "threads"),
    ("search-threads-abc", ["search.py", "logger=none", "threads=abc"], "threads"),
    ("search-n_archs-abc", ["search.py", "logger=none", "normalization.n_archs=abc"], "n_archs"),
    ("search-ref-nan", ["search.py", "logger=none", "reference_point=nan"], "reference_point"),
    ("search-ref-inf", ["search.py", "logger=none", "reference_point=inf"], "reference_point"),
    ("search-n_evals-huge", ["search.py", "logger=none", "n_evals=1000000000000"], "n_evals"),
    ("search-device-path", ["search.py", "logger=none", "device=../../x"], "device"),
    ("search-device-fullwidth", ["search.py", "logger=none", "device=ｃｐｕ"], "device"),
    ("search-objective-device-path", ["search.py", "logger=none", "objectives=[perplexity,latency@../../x]"],
     "device"),
    ("search-resume-nothing", ["search.py", "logger=none", "resume=true"], "resume"),
]


def _run_cli(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    (tmp / "blocker").write_text("x")
    junk = tmp / "junk.ckpt"
    junk.write_bytes(os.urandom(2048))
    args = [a.replace("BLOCKER", str(tmp / "blocker")).replace("JUNK", str(junk)).replace("TMP", str(tmp))
            for a in args]
    env = {**os.environ, "PROJECT_ROOT": str(tmp), "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, str(ROOT / args[0]), *args[1:], "logger=none" if args[0] == "train.py"
                           else "progress=false", f"hydra.run.dir={tmp / 'run'}"],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run every CLI case, four at a time (each is mostly interpreter start-up)."""
    def one(item: tuple[str, list[str], str]) -> tuple[str, Any]:
        cid, args, _ = item
        try:
            return cid, _run_cli(args, tmp_path_factory.mktemp(cid))
        except subprocess.TimeoutExpired as e:
            return cid, e

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, CLI_CASES))


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("cid", "args", "word"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_one_clear_line(cli_results: dict[str, Any], cid: str, args: list[str], word: str,
                                      tmp_path: Path) -> None:
    res = cli_results[cid]
    assert not isinstance(res, subprocess.TimeoutExpired), f"{cid} hung"
    out = res.stdout + res.stderr
    assert res.returncode != 0, f"{cid} accepted: {out[-500:]}"
    assert "Traceback" not in out, f"{cid} printed a traceback:\n{out[-3000:]}"
    assert word.lower() in out.lower(), f"{cid}: {word!r} not named in:\n{out[-1500:]}"
    log = tmp_path.parent / cid  # noqa: F841 - the run dir's log is checked for our own errors below
    run_dir = Path(res.args[-1].split("=", 1)[1])
    if res.returncode == 2 and run_dir.exists():  # ours (not a Hydra compose error): the run dir's log records it
        logs = list(run_dir.glob("*.log"))
        assert logs and any(word.lower() in p.read_text().lower() for p in logs), f"{cid}: error not in {logs}"


@pytest.mark.timeout(300)
def test_profile_ctrl_c_ends_with_one_line_and_resumes(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path)}
    # enough work that the signal arrives mid-run on any machine
    cmd = [sys.executable, str(ROOT / "profile.py"), "metric=latency", "n_archs=300", "repeats=30", "metric.warmup=1",
           "metric.interleave=1", "seq_len=64", f"store={store}", "progress=false", f"hydra.run.dir={tmp_path / 'r'}"]
    # a Lightning run earlier in this pytest process leaves SIGINT ignored, and an ignored signal is inherited
    # across exec (Python then installs no KeyboardInterrupt handler): give the child the default disposition
    p = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.time()
    while time.time() - t0 < 200 and p.poll() is None:
        if store.exists():  # a read-only peek that never waits on the writer's lock
            try:
                with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=0.1) as con:
                    if con.execute("SELECT COUNT(*) FROM completed").fetchone()[0] > 0:
                        break
            except sqlite3.Error:
                pass
        time.sleep(0.2)
    assert p.poll() is None, "profile.py ended before it could be interrupted"
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 130, out[-2000:]
    assert "Traceback" not in out, out[-3000:]
    assert "interrupted" in out and "Rerun the same command to resume" in out
    s = Store(store)
    assert s.completed("tiny", "cpu", "latency") and s.claims().empty  # claims released
