"""Device identity: CPU details from /proc/cpuinfo and sysfs, GPU details via (mocked) NVML, differences."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import pytest
import torch

from hwgpt.profiling import device as devices

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
stepping\t: 1
cpu MHz\t\t: 2445.430
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse avx avx2 fma f16c avx512f avx512_bf16 hypervisor
bogomips\t: 4890.86

processor\t: 1
vendor_id\t: AuthenticAMD
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu sse avx avx2 fma f16c avx512f avx512_bf16 hypervisor
"""


def _sysfs(root: Path) -> Path:
    for i, (level, typ, size) in enumerate([(1, "Data", "32K"), (1, "Instruction", "32K"), (2, "Unified", "512K"),
                                            (3, "Unified", "32768K")]):
        d = root / "cpu0" / "cache" / f"index{i}"
        d.mkdir(parents=True)
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{typ}\n")
        (d / "size").write_text(f"{size}\n")
    return root


def test_cpu_identity_parses_vendor_model_flags_caches(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    ident = devices.cpu_identity(tmp_path / "cpuinfo", _sysfs(tmp_path / "sys"))
    assert ident["cpu_vendor"] == "AuthenticAMD"
    assert (ident["cpu_family"], ident["cpu_model_number"], ident["cpu_stepping"]) == ("25", "1", "1")
    assert ident["cpu_isa_flags"] == ["avx", "avx2", "avx512_bf16", "avx512f", "f16c", "fma"]
    assert ident["cpu_hypervisor"] is True and ident["physical_cores"] == 2
    assert ident["cpu_caches"] == {"L1d": "32K", "L1i": "32K", "L2": "512K", "L3": "32768K"}
    assert ident["cpu_mhz_nominal"] == pytest.approx(2445.4) and ident["cpu_mhz_source"] == "bogomips/2"
    assert ident["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability())


def test_identity_is_stable_between_calls() -> None:
    spec = devices.DeviceSpec("cpu", "cpu")
    a, b = (devices.identity(spec, torch.device("cpu"), 1) for _ in range(2))
    assert a == b  # so the store's device_key does not change from run to run


def test_differences_name_the_isa_and_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    here = devices.this_machine()
    # "Another machine" differs from whichever one runs this test: AVX2 if this one has AVX-512, else AVX512.
    cap = "AVX2" if str(here["cpu_capability"]).startswith("AVX512") else "AVX512"
    flags = list(here["cpu_isa_flags"])
    flags = [f for f in flags if f != "avx512f"] if "avx512f" in flags else [*flags, "avx512f"]
    other = {**here, "cpu_capability": cap, "cpu_isa_flags": flags}
    diff = devices.differences(other, here)
    assert set(diff) == {"cpu_capability", "cpu_isa_flags"}
    assert devices.differences(here, dict(here, threads=7, versions={})) == {}  # run settings do not count
    with caplog.at_level(logging.WARNING, logger="hwgpt.profiling.device"):
        msg = devices.warn_if_different(other, here, "surrogate tiny/x/latency")
        devices.warn_if_different(other, here, "surrogate tiny/x/latency")
    assert f"cpu_capability: '{cap}' there" in msg and "device=local" in msg
    assert sum("surrogate tiny/x/latency" in r.message for r in caplog.records) == 1
    assert devices.warn_if_different(here, here, "same") is None


def test_old_identities_cannot_be_told_apart() -> None:
    here = devices.this_machine()
    old = {"id": "cpu", "identities": [{"cpu_model": here["cpu_model"], "logical_cpus": 2}]}
    msg = devices.warn_if_different(old, here, "surrogate tiny/cpu/latency (old)")
    assert msg.startswith("cannot tell") and "cpu_capability" in msg


def test_gpu_identity_with_mocked_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    m = types.ModuleType("pynvml")
    m.nvmlInit = lambda: None
    m.nvmlSystemGetDriverVersion = lambda: b"550.54"
    m.nvmlDeviceGetHandleByUUID = lambda uuid: ("uuid", uuid)
    m.nvmlDeviceGetHandleByIndex = lambda i: ("index", i)
    m.nvmlDeviceGetPowerManagementLimit = lambda h: 700000  # mW
    m.nvmlDeviceGetPowerManagementDefaultLimit = lambda h: 700000
    m.NVML_CLOCK_SM = 1
    m.nvmlDeviceGetMaxClockInfo = lambda h, kind: 1980
    monkeypatch.setitem(sys.modules, "pynvml", m)
    props = types.SimpleNamespace(uuid="abcd", total_memory=141 * 2**30, major=9, minor=0, multi_processor_count=132)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: props)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=0: "NVIDIA H200")
    ident = devices.gpu_identity(torch.device("cuda", 0))
    assert ident == {"gpu_name": "NVIDIA H200", "gpu_capability": "9.0", "gpu_memory_bytes": 141 * 2**30,
                     "gpu_sm_count": 132, "gpu_driver": "550.54", "gpu_power_limit_w": 700.0,
                     "gpu_power_default_limit_w": 700.0, "gpu_max_sm_clock_mhz": 1980}
    other = {**ident, "gpu_power_limit_w": 400.0}
    assert devices.differences({**devices.this_machine(), **other}, {**devices.this_machine(), **ident}) == {
        "gpu_power_limit_w": (400.0, 700.0)}


def test_auto_kind_resolves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.DeviceSpec("local", "auto").kind == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.DeviceSpec("local", "auto").kind == "gpu"
    with pytest.raises(ValueError, match="'cpu', 'gpu' or 'auto'"):
        devices.DeviceSpec("x", "tpu")


def test_live_measurement_warns_when_the_surrogate_is_another_machine(
        profile_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from hwgpt.profiling.runner import run
    from hwgpt.surrogates import new_device

    monkeypatch.setenv("HWGPT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(new_device, "_recorded_identity",
                        lambda s, d, m: {**devices.this_machine(), "cpu_capability": "AVX512_TEST"})
    with caplog.at_level(logging.WARNING):
        run(profile_cfg("device=cpu", "metric._target_=transfer_helpers.FakeLatency", "~metric.warmup",
                        "~metric.interleave", "~metric.contention_threshold", "~metric.max_retries", "n_archs=1"))
    assert any("AVX512_TEST" in r.message and "tiny/cpu/latency" in r.message for r in caplog.records)
