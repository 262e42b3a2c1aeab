"""Issue 21: the command-line bad inputs that gave raw tracebacks, silent accepts or hangs.

Fast tests run each entry point's ``run(cfg)`` in-process through :func:`hwgpt.errors.cli_main`
(what the command does) and assert exit status 2 and exactly one line on stderr, naming what is
wrong. The slow test runs a selection as real subprocesses (no traceback, status 2, one line).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import hwgpt
from hwgpt.errors import InvalidInput, cli_main
from hwgpt.names import check_name, is_name
from hwgpt.profiling.device import check_profile_argv
from hwgpt.profiling.store import Observation, Settings, Store

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")


def _compose(name: str, tmp: Path, *overrides: str) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp / "run")
        cfg.hydra.runtime.output_dir = str(tmp / "run")
    HydraConfig.instance().set_config(cfg)
    GlobalHydra.instance().clear()
    return cfg


def _refused(capsys: pytest.CaptureFixture[str], run: Callable[[Any], Any], cfg: Any, *words: str) -> str:
    """``cli_main(run, cfg)`` exits with status 2 and one stderr line containing every word."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli_main(run, cfg, what="cmd")
    assert e.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])
    return lines[0]


# --------------------------------------------------------------------------------------- names
@pytest.mark.parametrize("name", ["../../x", "a/b", "a\\b", "ｃｐｕ", "сpu", "CPU", "", " cpu", "cpu\n", "latency@cpu",
                                  "cpu@cpu", ".", "..", "_x", "a.b", "x" * 65, None, 5])
def test_bad_names_are_refused_saying_what_is_allowed(name: Any) -> None:
    assert not is_name(name)
    with pytest.raises(InvalidInput, match=r"invalid device name.*a-z, 0-9"):
        check_name("device", name)


def test_look_alikes_get_the_ascii_name_suggested() -> None:
    with pytest.raises(InvalidInput, match=r"FULLWIDTH.*did you mean 'cpu'"):
        check_name("device", "ｃｐｕ")
    for good in ("cpu", "h100", "epyc_7513", "my-laptop", "x" * 64):
        assert check_name("device", good) == good


# --------------------------------------------------------------------------------------- fit
def _fit_store(path: Path, scale: str = "tiny", n: int = 12) -> Path:
    from hwgpt.surrogates.synthetic import synthetic_observations

    df = synthetic_observations(hwgpt.SearchSpace.from_name(scale), n_archs=n, repeats=2, metrics=("latency",),
                                device="cpu")
    with Store(path, create=True) as store:
        key = store.register_device("cpu", "cpu", {"cpu_model": "test"})
        store.start_run("r", key, {})
        for _, rows in df.groupby("arch_id", sort=False):
            import json

            arch = hwgpt.Arch.from_dict(json.loads(rows["arch"].iloc[0]))
            store.write_arch(arch=arch, scale=scale, device="cpu", settings=Settings(1, 8, "float32", 1),
                             observations=[Observation(r.metric, r.value, r.unit, int(r.repeat), ())
                                           for r in rows.itertuples()], run_id="r", device_key=key)
    return path


@pytest.fixture()
def fit_case(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
             ) -> Callable[..., str]:
    from hwgpt.surrogates.fit import run

    monkeypatch.setenv("HWGPT_HOME", str(tmp_path / "home"))

    def check(overrides: list[str], *words: str) -> str:
        cfg = _compose("fit", tmp_path, *[o.replace("TMP", str(tmp_path)) for o in overrides])
        return _refused(capsys, run, cfg, *words)

    return check


def test_fit_empty_store(fit_case: Callable[..., str], tmp_path: Path) -> None:
    Store(tmp_path / "empty.sqlite", create=True).close()
    fit_case(["store=TMP/empty.sqlite"], "no observations of scale 'tiny'", "it is empty", "profile.py")


def test_fit_store_of_another_scale(fit_case: Callable[..., str], tmp_path: Path) -> None:
    _fit_store(tmp_path / "tiny.sqlite")
    fit_case(["store=TMP/tiny.sqlite", "scale=s"], "no observations of scale 's'", "tiny/cpu", "latency")


@pytest.mark.parametrize(("overrides", "words"), [
    (["metrics=[flops]"], ("exact", "flops")),
    (["metrics=[latency,params]"], ("exact", "params")),
    (["metrics=[foo]"], ("unknown metric", "foo")),
    (["metrics=[energy]"], ("no observations of ['energy']", "profile.py")),
    (["metrics=[../x]"], ("invalid metric name",)),
    (["metrics=[]"], ("metrics",)),
    (["settings.split.train=1.5"], ("settings.split.train", "between 0 and 1")),
    (["settings.split.test=0.5"], ("sum to 1",)),
    (["settings.max_archs=2"], ("settings.max_archs",)),
    (["settings.seed=-1"], ("settings.seed",)),
    (["device.name=../../x"], ("invalid device name", "path separator")),
    (["into_package=yes"], ("into_package",)),
    (["into_package=true", "out_dir=TMP/art"], ("not both",)),
    (["store=${oc.env:HWGPT_TEST_NOPE_NOT_SET}"], ("bad config", "HWGPT_TEST_NOPE_NOT_SET")),
    (["store=TMP/missing.sqlite"], ("does not exist",)),
    (["store=TMP/junk.sqlite"], ("junk.sqlite",)),
])
def test_fit_bad_options(fit_case: Callable[..., str], tmp_path: Path, overrides: list[str],
                         words: tuple[str, ...]) -> None:
    _fit_store(tmp_path / "s.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(os.urandom(4096))
    fit_case([f"store={tmp_path / 's.sqlite'}", *overrides], *words)
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.meta.json"))


# --------------------------------------------------------------------------------------- profile
@pytest.mark.parametrize(("device", "words"), [
    ("../../x", ("path separator",)), ("ｃｐｕ", ("non-ASCII", "did you mean 'cpu'")), ("", ("empty",)),
    ("foo", ("no config in conf/device", "new_device=true")), ("a10", ("did you mean device=a100",)),
    ("cpu,../x", ("path separator",)),
])
def test_profile_device_names_checked_before_anything(device: str, words: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as e:
        check_profile_argv(["profile.py", f"device={device}", "metric=latency"])
    for w in words:
        assert w in str(e.value)


def test_profile_new_device_needs_asking_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWGPT_HOME", str(tmp_path))
    assert check_profile_argv(["p", "device=my_box", "new_device=true"]) == [
        "p", "device=local", "device.name=my_box", "new_device=true"]
    assert check_profile_argv(["p", "device=cpu"]) == ["p", "device=cpu"]
    assert check_profile_argv(["p", "device=local", "device.name=my_box"]) == ["p", "device=local",
                                                                                "device.name=my_box"]
    with pytest.raises(InvalidInput, match="device.name"):
        check_profile_argv(["p", "device=local", "device.name=../x"])


def test_profile_cli_argv_ends_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from hwgpt.errors import cli_argv

    with pytest.raises(SystemExit) as e:
        cli_argv(check_profile_argv, ["profile.py", "device=foo"], what="profile.py")
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("profile.py: error: device='foo' has no config")


@pytest.fixture()
def profile_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., str]:
    from hwgpt.profiling.runner import run

    def check(overrides: list[str], *words: str) -> str:
        cfg = _compose("profile", tmp_path, f"store={tmp_path / 's.sqlite'}", "progress=false", *overrides)
        try:
            return _refused(capsys, run, cfg, *words)
        finally:
            torch.set_num_threads(1)

    return check


@pytest.mark.parametrize(("overrides", "words"), [
    (["repeats=1000000000"], ("repeats", "<= 1000")),
    (["n_archs=10000000"], ("n_archs",)),
    (["batch=1000000"], ("batch",)),
    (["threads=-1"], ("threads",)), (["threads=abc"], ("threads", "integer")),
    (["threads=100000"], ("threads",)),
    (["metric.warmup=100000000"], ("metric.warmup",)),
    (["metric.interleave=0"], ("metric.interleave",)),
    (["store_timeout=1e9"], ("store_timeout",)),
    (["new_device=maybe"], ("new_device",)),
    (["repeats=${oc.env:HWGPT_TEST_NOPE_NOT_SET}"], ("bad config", "HWGPT_TEST_NOPE_NOT_SET")),
    (["device=local", "device.name=../../x"], ("invalid device name",)),
])
def test_profile_bad_options_touch_nothing(profile_case: Callable[..., str], tmp_path: Path, overrides: list[str],
                                           words: tuple[str, ...]) -> None:
    profile_case(overrides, *words)
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without the GPU asked for")
def test_profile_absent_device_is_one_line(profile_case: Callable[..., str], tmp_path: Path) -> None:
    profile_case(["device=h100"], "device=h100 asks for a GPU", "use device=cpu")
    assert not (tmp_path / "s.sqlite").exists()


# --------------------------------------------------------------------------------------- train
@pytest.fixture()
def train_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., str]:
    from hwgpt.training.run import validate_cfg

    def check(overrides: list[str], *words: str) -> str:
        cfg = _compose("train", tmp_path, "logger=none", *overrides)
        return _refused(capsys, validate_cfg, cfg, *words)

    return check


@pytest.mark.parametrize(("overrides", "words"), [
    (["trainer.max_steps=-1"], ("trainer.max_steps", "-1")),
    (["trainer.max_steps=null"], ("trainer.max_steps",)),
    (["trainer.max_steps=10000000000"], ("trainer.max_steps",)),
    (["seed=${oc.env:HWGPT_TEST_NOPE_NOT_SET}"], ("bad config", "HWGPT_TEST_NOPE_NOT_SET")),
])
def test_train_bad_options(train_case: Callable[..., str], overrides: list[str], words: tuple[str, ...]) -> None:
    train_case(overrides, *words)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def malicious_checkpoint(tmp: Path) -> tuple[Path, Path]:
    """A torch.save archive shaped like a Lightning checkpoint whose unpickling would create ``marker``."""
    marker, path = tmp / "PWNED", tmp / "evil.ckpt"
    torch.save({"state_dict": {}, "epoch": 0, "x": _Payload(marker)}, path)
    return path, marker


@pytest.mark.parametrize("force_unsafe", ["0", "1"])
def test_train_refuses_a_malicious_checkpoint(train_case: Callable[..., str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch, force_unsafe: str) -> None:
    """Also with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (torch's pre-2.6 default, emulated)."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", force_unsafe)
    path, marker = malicious_checkpoint(tmp_path)
    line = train_case([f"ckpt_path={path}"], "refused", "tensors and plain data", "exec")
    assert not marker.exists() and "\x1b" not in line


def test_a_plain_checkpoint_still_loads(tmp_path: Path) -> None:
    from hwgpt.training.run import check_ckpt_path, load_checkpoint

    path = tmp_path / "ok.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 1, "hyper_parameters": {"lr": 0.1}}, path)
    assert check_ckpt_path(str(path)) == path and load_checkpoint(path)["epoch"] == 1
    torch.save({"epoch": 1}, tmp_path / "no_state.ckpt")
    with pytest.raises(InvalidInput, match="no state_dict"):
        load_checkpoint(tmp_path / "no_state.ckpt")


# --------------------------------------------------------------------------------------- import
@pytest.mark.parametrize(("overrides", "words"), [
    (["force=maybe"], ("force must be true or false",)),
    (["progress=1"], ("progress",)),
    (["include=5"], ("include must be null or a list",)),
    (["include=[5]"], ("include",)),
    (["drift.penalty=abc"], ("drift settings",)),
    (["out_dir=${oc.env:HWGPT_TEST_NOPE_NOT_SET}"], ("bad config", "HWGPT_TEST_NOPE_NOT_SET")),
])
def test_import_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: list[str],
                            words: tuple[str, ...]) -> None:
    from hwgpt.importers.hwgptbench import run

    cfg = _compose("import", tmp_path, f"source={tmp_path}", f"out_dir={tmp_path / 'out'}", *overrides)
    _refused(capsys, run, cfg, *words)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------- APIs
@pytest.mark.parametrize(("kw", "words"), [
    ({"batch": 0}, "batch"), ({"batch": "8"}, "batch must be an integer"), ({"batch": -1}, "batch"),
    ({"seq_len": -1}, "seq_len"), ({"seq_len": 10**6}, "seq_len"), ({"repeats": 10**9}, "repeats"),
    ({"threads": 0}, "threads"), ({"device": "../x"}, "invalid device name"), ({"device": "nope"}, "unknown device"),
    ({"dtype": "float33"}, "dtype"), ({"windows": 0}, "windows"),
])
def test_live_evaluator_arguments(kw: dict[str, Any], words: str) -> None:
    from hwgpt.live import LiveEvaluator

    try:
        with pytest.raises(InvalidInput, match=words):
            LiveEvaluator(hwgpt.SearchSpace.from_name("tiny"), **kw)
    finally:
        torch.set_num_threads(1)


@pytest.mark.timeout(30)
def test_sample_observation_repeats_bounded() -> None:
    bench = hwgpt.Benchmark("tiny", "cpu")
    arch = bench.space.smallest()
    with pytest.raises(InvalidInput, match="repeats"):
        bench.sample_observation(arch, "latency", repeats=10**12)
    with pytest.raises(InvalidInput, match="repeats"):
        bench.sample_observations([arch], "latency", repeats=10**12)


@pytest.mark.timeout(30)
def test_store_merge_itself_and_bad_stores(tmp_path: Path) -> None:
    from hwgpt.profiling.store import StoreError

    path = _fit_store(tmp_path / "a.sqlite", n=5)
    with Store(path) as store:
        n = len(store.observations())
        with pytest.raises(InvalidInput, match="into itself"):
            store.merge(path)
        with pytest.raises(InvalidInput, match="into itself"):
            store.merge(tmp_path / "." / "a.sqlite")
        (tmp_path / "empty.sqlite").write_bytes(b"")
        with pytest.raises(StoreError, match="not a measurement store"):
            store.merge(tmp_path / "empty.sqlite")
        assert (tmp_path / "empty.sqlite").stat().st_size == 0  # only read, never turned into a store
        (tmp_path / "junk.sqlite").write_bytes(os.urandom(8192))
        with pytest.raises(StoreError, match="junk.sqlite"):
            store.merge(tmp_path / "junk.sqlite")
        with pytest.raises(StoreError, match="no measurement store"):
            store.merge(tmp_path / "missing.sqlite")
        with pytest.raises(FileNotFoundError):  # still a FileNotFoundError for callers that catch that
            store.merge(tmp_path / "missing.sqlite")
        assert len(store.observations()) == n


# --------------------------------------------------------------------------------------- subprocesses
CLI = [
    (["profile.py", "device=../../x"], "path separator"),
    (["profile.py", "device=ｃｐｕ"], "did you mean 'cpu'"),
    (["profile.py", "device=foo"], "new_device=true"),
    (["profile.py", "repeats=1000000000"], "repeats"),
    (["train.py", "trainer.max_steps=-1"], "max_steps"),
    (["-m", "hwgpt.surrogates.fit", "metrics=[flops]", "store=EMPTY"], "exact"),
    (["-m", "hwgpt.surrogates.fit", "store=EMPTY"], "it is empty"),
    (["-m", "hwgpt.surrogates.fit", "settings.split.train=1.5", "store=EMPTY"], "settings.split.train"),
    (["-m", "hwgpt.importers.hwgptbench", "source=/nonexistent-h21"], "does not exist"),
    (["-m", "hwgpt.importers.hwgptbench", "source=EMPTY", "force=maybe"], "force"),
]
if not torch.cuda.is_available():
    CLI.append((["profile.py", "device=h100"], "asks for a GPU"))


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize(("args", "word"), CLI, ids=[" ".join(a) for a, _ in CLI])
def test_commands_end_bad_input_with_one_line(tmp_path: Path, args: list[str], word: str) -> None:
    Store(tmp_path / "empty.sqlite", create=True).close()
    args = [a.replace("EMPTY", str(tmp_path / "empty.sqlite")) for a in args]
    script = [str(ROOT / args[0])] if args[0].endswith(".py") else args[:2]
    rest = args[1:] if args[0].endswith(".py") else args[2:]
    extra = ["logger=none"] if args[0] == "train.py" else [] if args[0] == "-m" else ["progress=false"]
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path), "HWGPT_HOME": str(tmp_path / "home"),
           "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, *script, *rest, *extra, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out[-2000:]
    assert "Traceback" not in out and word in out, out[-2000:]
    assert len([ln for ln in res.stderr.splitlines() if "error" in ln.lower()]) == 1, res.stderr[-2000:]
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "home").exists()


# --------------------------------------------------------------------------------------- properties
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

BIG = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ANY = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=80),
                st.lists(st.integers(), max_size=3))


@pytest.mark.slow
@BIG
@given(st.one_of(st.text(max_size=100), ANY))
def test_property_a_name_is_accepted_exactly_when_it_is_safe_as_a_path_part(value: Any) -> None:
    try:
        out = check_name("device", value)
    except InvalidInput as e:
        assert "a-z, 0-9" in str(e)
        return
    assert out == value and out.isascii() and "/" not in out and "\\" not in out and out not in (".", "..")
    assert 1 <= len(out) <= 64 and out == out.lower() and "@" not in out and out.strip() == out


@pytest.mark.slow
@BIG
@given(st.text(max_size=30), st.booleans())
def test_property_profile_device_argv_only_passes_names(value: str, new: bool) -> None:
    argv = ["profile.py", f"device={value}"] + (["new_device=true"] if new else [])
    try:
        out = check_profile_argv(argv)
    except InvalidInput:
        return
    for a in out:
        key, _, v = a.partition("=")
        if key in ("device", "device.name"):
            assert all(is_name(x) for x in v.split(","))


@pytest.mark.slow
@BIG
@given(st.dictionaries(st.sampled_from(["train", "calibration", "test", "other"]), ANY, max_size=4),
       ANY, ANY)
def test_property_fit_settings_are_valid_or_refused(split: dict[str, Any], max_archs: Any, seed: Any) -> None:
    from hwgpt.surrogates.fit import FitSettings

    try:
        s = FitSettings(split=split, max_archs=max_archs, seed=seed)
    except InvalidInput:
        return
    assert set(s.split) == {"train", "calibration", "test"} and abs(sum(s.split.values()) - 1) <= 1e-6
    assert all(0 < v < 1 for v in s.split.values()) and (s.max_archs is None or s.max_archs >= 5)


@pytest.mark.slow
@pytest.mark.timeout(600)
@BIG
@given(st.one_of(st.integers(min_value=-10, max_value=10**15), ANY))
def test_property_sample_observation_repeats_bounded_or_refused(repeats: Any) -> None:
    import math

    if "b" not in _BENCH:
        _BENCH["b"] = hwgpt.Benchmark("tiny", "cpu")
    bench = _BENCH["b"]
    try:
        v = bench.sample_observation(bench.space.smallest(), "latency", seed=0, repeats=repeats)
    except InvalidInput:
        return
    assert math.isfinite(v) and v > 0 and isinstance(repeats, int) and 1 <= repeats <= 100_000


_BENCH: dict[str, Any] = {}


@pytest.mark.slow
@BIG
@given(ANY, ANY)
def test_property_live_evaluator_sizes_valid_or_refused(batch: Any, seq_len: Any) -> None:
    from hwgpt.live import LiveEvaluator

    try:
        ev = LiveEvaluator(hwgpt.SearchSpace.from_name("tiny"), batch=batch, seq_len=seq_len)
    except InvalidInput:
        return
    finally:
        torch.set_num_threads(1)
    assert 1 <= ev.ctx.settings.batch <= 4096 and 1 <= ev.ctx.settings.seq_len <= 256
