"""Devices: the config (conf/device/<name>.yaml), its resolution to a torch device, and identity.

``device=cpu`` is this machine's CPU, whatever it is. A named CPU (``epyc_7513``) or GPU
(``h200``) must be present: its ``match`` substring is looked for in the CPU model name
(``/proc/cpuinfo``) or in ``torch.cuda.get_device_name(i)``, and a missing device fails at once
with :class:`DeviceNotFoundError` listing what is present.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "device"


class DeviceNotFoundError(RuntimeError):
    """The requested device is not present on this machine."""


@dataclass(frozen=True)
class DeviceSpec:
    """A device config.

    Attributes:
        name: Config name, stored in the ``device`` column (``cpu``, ``h200``, ...).
        kind: ``cpu`` or ``gpu``.
        description: Free text.
        match: Substring (case-insensitive) of the CPU model or GPU name; ``None`` matches any.
    """

    name: str
    kind: str
    description: str = ""
    match: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("cpu", "gpu"):
            raise ValueError(f"device {self.name!r}: kind must be 'cpu' or 'gpu', got {self.kind!r}")

    @classmethod
    def from_cfg(cls, cfg: Any) -> DeviceSpec:
        """From a config node (dict or DictConfig) with name/kind/description/match."""
        d = dict(cfg)
        unknown = set(d) - {"name", "kind", "description", "match"}
        if unknown:
            raise ValueError(f"device config {d.get('name')!r}: unknown keys {sorted(unknown)}")
        return cls(**d)


def known_devices() -> list[str]:
    """Names of the device configs shipped in conf/device/."""
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml"))


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (falls back to ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    """Names of the visible CUDA GPUs (empty without CUDA)."""
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def resolve(spec: DeviceSpec) -> torch.device:
    """The torch device for ``spec``; raises DeviceNotFoundError when it is not present."""
    if spec.kind == "cpu":
        model = cpu_model()
        if spec.match and spec.match.lower() not in model.lower():
            raise DeviceNotFoundError(
                f"device={spec.name} asks for a CPU matching {spec.match!r}, but this machine's CPU is "
                f"{model!r}; use device=cpu for this machine's CPU"
            )
        return torch.device("cpu")
    names = gpu_names()
    for i, name in enumerate(names):
        if spec.match is None or spec.match.lower() in name.lower():
            return torch.device("cuda", i)
    present = f"visible GPUs: {names}" if names else "torch sees no CUDA GPU here"
    raise DeviceNotFoundError(
        f"device={spec.name} asks for a GPU matching {spec.match!r}, but {present}; "
        f"use device=cpu, or one of {known_devices()} that is present"
    )


def _versions() -> dict[str, str]:
    import hwgpt

    return {
        "hwgpt": hwgpt.__version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "cuda": str(torch.version.cuda),
    }


def _gpu_driver() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)
    except Exception:  # noqa: BLE001 - identity is best effort
        return None


def identity(spec: DeviceSpec, device: torch.device, threads: int) -> dict[str, Any]:
    """Detected identity of ``device`` plus software versions (stored in the ``devices`` table)."""
    ident: dict[str, Any] = {
        "kind": spec.kind,
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": threads,
        "machine": platform.machine(),
        "system": platform.system(),
        "versions": _versions(),
    }
    try:
        import psutil

        ident["memory_bytes"] = int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover
        pass
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        ident.update(
            gpu_name=torch.cuda.get_device_name(device),
            gpu_memory_bytes=int(props.total_memory),
            gpu_capability=f"{props.major}.{props.minor}",
            gpu_driver=_gpu_driver(),
        )
    return ident
