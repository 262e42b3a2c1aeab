"""``profile.py ... fit=true`` through the runner with a fake latency meter: fit, lookup, bad input, resume."""

from __future__ import annotations

from pathlib import Path

import pytest

import hwgpt
from hwgpt.profiling.runner import run
from hwgpt.profiling.store import Store

FAKE = ["metric._target_=transfer_helpers.FakeLatency", "~metric.warmup", "~metric.interleave",
        "~metric.contention_threshold", "~metric.max_retries"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HWGPT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_fit_true_writes_a_surrogate_benchmark_finds(profile_cfg, home: Path) -> None:
    cfg = profile_cfg("device=local", "device.kind=cpu", "n_archs=8", "repeats=3", "fit=true", *FAKE)
    summary = run(cfg)
    assert summary["n_archs"] == 10 and summary["n_written"] == 10
    fit = summary["fit"]["metrics"]["latency"]
    assert Path(summary["fit"]["dir"]) == home / "surrogates" / "tiny" / "local"
    assert fit["sources"] == ["cpu"] and fit["n_archs"] == 10
    bench = hwgpt.Benchmark("tiny", device="local")
    arch = bench.space.sample(123)
    lo, hi = bench.interval(arch, "latency", 0.9)
    assert 0 < lo < bench.query(arch, "latency")["latency"] < hi
    report = bench.report("latency")
    assert report["device"]["cpu_capability"] and "cpu_isa_flags" in report["device"]
    # the fake device is ~2.7x slower than the shipped cpu: the unadapted source is off, the transfer is not
    assert report["unadapted"]["cpu"]["ratio_median"] > 1.5
    assert report["median_relative_error"] < 0.15
    with Store(summary["store"]) as store:  # the identity is stored with the run
        assert "cpu_capability" in store.devices()["identity"].iloc[0]


def test_any_device_name_works_like_local(profile_cfg, home: Path) -> None:
    summary = run(profile_cfg("device=local", "device.name=my_laptop", "device.kind=cpu", "n_archs=6", "repeats=2",
                              "fit=true", *FAKE))
    assert summary["fit"]["metrics"]["latency"]["n_archs"] == 8
    assert "my_laptop" in hwgpt.Benchmark("tiny", device="my_laptop").devices


def test_too_few_archs_fails_before_measuring(profile_cfg, home: Path) -> None:
    cfg = profile_cfg("device=local", "device.kind=cpu", "n_archs=1", "fit=true", *FAKE)
    with pytest.raises(ValueError, match=r"needs at least 4 archs; n_archs=1 measures 3.*n_archs>=2"):
        run(cfg)
    assert not Path(cfg.store).exists()


def test_shipped_name_refused_unless_overwrite(profile_cfg, home: Path) -> None:
    with pytest.raises(ValueError, match="device=cpu names a device the project ships.*overwrite=true"):
        run(profile_cfg("device=cpu", "n_archs=6", "fit=true", *FAKE))
    summary = run(profile_cfg("device=cpu", "n_archs=6", "repeats=2", "fit=true", "overwrite=true", *FAKE))
    # no other shipped device has tiny latency: from scratch, said so in the report
    assert summary["fit"]["metrics"]["latency"]["method"] == "scratch"
    assert (home / "surrogates" / "tiny" / "cpu" / "latency.meta.json").is_file()


def test_non_hardware_metric_refused(profile_cfg, home: Path) -> None:
    with pytest.raises(ValueError, match="fit=true fits hardware metrics"):
        run(profile_cfg("device=local", "device.kind=cpu", "metric=flops", "n_archs=6", "fit=true"))


def test_interrupted_run_resumes_and_fits_complete_archs(profile_cfg, home: Path) -> None:
    args = ("device=local", "device.kind=cpu", "n_archs=8", "repeats=2", "fit=true", *FAKE)
    with pytest.raises(KeyboardInterrupt):
        run(profile_cfg(*args, "+metric.interrupt_after=4"))
    with Store(profile_cfg(*args).store) as store:
        assert len(store.completed("tiny", "local", "latency")) == 4
    assert not (home / "surrogates" / "tiny" / "local").exists()  # no fit after an interruption
    summary = run(profile_cfg(*args))
    assert summary["n_already"] == 4 and summary["n_written"] == 6
    assert summary["fit"]["metrics"]["latency"]["n_archs"] == 10
