"""GPU code paths with NVML and torch.cuda mocked (this machine has no GPU)."""

from __future__ import annotations

import sys
import time
import types

import pytest
import torch

from hwgpt.profiling import device as devices
from hwgpt.profiling import energy, latency, memory


class FakeNVMLError(Exception):
    pass


def fake_pynvml(counter: bool = True, watts: float = 300.0) -> types.ModuleType:
    """A pynvml stand-in: energy grows at ``watts``; power reads ``watts``."""
    t0 = time.perf_counter()
    m = types.ModuleType("pynvml")
    m.NVMLError = FakeNVMLError
    m.nvmlInit = lambda: None
    m.nvmlShutdown = lambda: None
    m.nvmlDeviceGetHandleByUUID = lambda uuid: ("uuid", uuid)
    m.nvmlDeviceGetHandleByIndex = lambda i: ("index", i)
    m.nvmlSystemGetDriverVersion = lambda: "999.1"

    def total_energy(handle):  # mJ since t0
        if not counter:
            raise FakeNVMLError("Not Supported")
        return int((time.perf_counter() - t0) * watts * 1e3)

    m.nvmlDeviceGetTotalEnergyConsumption = total_energy
    m.nvmlDeviceGetPowerUsage = lambda handle: int(watts * 1e3)  # mW
    return m


@pytest.fixture
def cuda0(monkeypatch: pytest.MonkeyPatch) -> torch.device:
    props = types.SimpleNamespace(uuid="1234-abcd", total_memory=141 * 2**30, major=9, minor=0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: ["NVIDIA H200", "NVIDIA A100-SXM4-80GB"][
        i.index if isinstance(i, torch.device) else i])
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    return torch.device("cuda", 0)


@pytest.mark.parametrize("counter", [True, False])
def test_nvml_energy(monkeypatch: pytest.MonkeyPatch, cuda0: torch.device, counter: bool) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(counter=counter, watts=300.0))
    meter = energy.NvmlMeter(cuda0, sample_interval=0.002)
    assert meter.handle == ("uuid", "GPU-1234-abcd")
    assert meter.mode == ("nvml_energy_counter" if counter else "nvml_power_sampling")
    joules, flags, extra = meter.measure(lambda: time.sleep(0.1))
    assert joules == pytest.approx(30.0, rel=0.35)  # 300 W x ~0.1 s
    assert flags == (() if counter else ("power_sampled",))
    meter.close()


def test_gpu_resolution_and_identity(monkeypatch: pytest.MonkeyPatch, cuda0: torch.device) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml())
    assert devices.resolve(devices.DeviceSpec("h200", "gpu", match="H200")) == torch.device("cuda", 0)
    assert devices.resolve(devices.DeviceSpec("a100", "gpu", match="A100")) == torch.device("cuda", 1)
    with pytest.raises(devices.DeviceNotFoundError, match=r"visible GPUs: \['NVIDIA H200'"):
        devices.resolve(devices.DeviceSpec("v100", "gpu", match="V100"))
    ident = devices.identity(devices.DeviceSpec("h200", "gpu", match="H200"), cuda0, threads=1)
    assert ident["gpu_name"] == "NVIDIA H200" and ident["gpu_driver"] == "999.1" and ident["gpu_capability"] == "9.0"


def test_cuda_timer_uses_events(monkeypatch: pytest.MonkeyPatch, cuda0: torch.device) -> None:
    class Event:
        def __init__(self, enable_timing: bool = False) -> None:
            self.t = None

        def record(self) -> None:
            self.t = time.perf_counter()

        def synchronize(self) -> None:
            pass

        def elapsed_time(self, end: Event) -> float:
            return (end.t - self.t) * 1e3

    monkeypatch.setattr(torch.cuda, "Event", Event)
    seconds, wait = latency.cuda_timer(lambda: time.sleep(0.02), cuda0)
    assert 0.015 < seconds < 0.5 and wait is None


def test_cuda_memory_peak(monkeypatch: pytest.MonkeyPatch) -> None:
    state = {"alloc": 1000, "peak": 1000}
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d=None: state.update(peak=state["alloc"]))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d=None: state["alloc"])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: state["peak"])

    def model(idx):
        state["peak"] = max(state["peak"], state["alloc"] + 5000)  # a forward's transient 5000 bytes

    assert memory.cuda_forward_peak(model, torch.zeros(1, 4)) == 5000
