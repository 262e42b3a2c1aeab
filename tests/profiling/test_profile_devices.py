"""Device configs: every file loads; cpu resolves; absent devices fail at once with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from hwgpt.profiling import device as devices

CONF = Path(__file__).resolve().parents[2] / "conf" / "device"
PAPER = {"a100", "h100", "a6000", "rtx2080", "rtx3080", "p100", "a40", "v100", "h200", "cpu",
         "xeon_silver", "xeon_gold", "epyc_7513", "epyc_7452", "epyc_7502"}


def test_device_configs() -> None:
    assert PAPER <= set(devices.known_devices())
    for path in CONF.glob("*.yaml"):
        spec = devices.DeviceSpec.from_cfg(OmegaConf.load(path))
        assert spec.name == path.stem and spec.description
        assert spec.kind == "cpu" if spec.name == "cpu" or "xeon" in spec.name or "epyc" in spec.name else "gpu"
        assert spec.match or spec.name in ("cpu", "local")  # local: this machine, a user's own device (issue 13)


def test_cpu_resolves_and_identity() -> None:
    spec = devices.DeviceSpec("cpu", "cpu")
    assert devices.resolve(spec) == torch.device("cpu")
    ident = devices.identity(spec, torch.device("cpu"), threads=1)
    assert ident["cpu_model"] and ident["threads"] == 1 and ident["versions"]["torch"] == torch.__version__


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_absent_gpu_fails_clearly() -> None:
    with pytest.raises(devices.DeviceNotFoundError, match="device=h200 .*H200.*no CUDA GPU"):
        devices.resolve(devices.DeviceSpec("h200", "gpu", match="H200"))


def test_other_cpu_fails_clearly() -> None:
    with pytest.raises(devices.DeviceNotFoundError, match="device=xeon_gold .*use device=cpu"):
        devices.resolve(devices.DeviceSpec("xeon_gold", "cpu", match="no such cpu model"))


def test_bad_device_config() -> None:
    with pytest.raises(ValueError, match="kind must be"):
        devices.DeviceSpec("x", "tpu")
    with pytest.raises(ValueError, match="unknown keys"):
        devices.DeviceSpec.from_cfg({"name": "x", "kind": "cpu", "mtach": "typo"})
