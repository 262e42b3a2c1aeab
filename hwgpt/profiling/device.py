"""Devices: the config (conf/device/<name>.yaml), its resolution to a torch device, and identity.

``device=cpu`` is this machine's CPU, whatever it is; ``device=local`` (or any name without a config,
see :func:`hwgpt.surrogates.userdirs.device_argv`) is this machine's GPU or CPU, under the name a
user's own surrogates are fitted under. A named CPU (``epyc_7513``) or GPU
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

from hwgpt.configs import DEVICE_CONF_DIR
from hwgpt.errors import HwgptError, InvalidInput
from hwgpt.names import check_name
from hwgpt.provenance import __version__

log = logging.getLogger(__name__)

CONF_DIR = DEVICE_CONF_DIR


class DeviceNotFoundError(HwgptError, RuntimeError):
    """The requested device is not present on this machine (a command ends with one line naming what is)."""


@dataclass(frozen=True)
class DeviceSpec:
    """A device config.

    Attributes:
        name: Config name, stored in the ``device`` column (``cpu``, ``h200``, ...).
        kind: ``cpu``, ``gpu``, or ``auto`` (becomes ``gpu`` when torch sees a CUDA GPU, else ``cpu``).
        description: Free text.
        match: Substring (case-insensitive) of the CPU model or GPU name; ``None`` matches any.
    """

    name: str
    kind: str
    description: str = ""
    match: str | None = None

    def __post_init__(self) -> None:
        check_name("device", self.name)
        if self.kind == "auto":  # conf/device/local.yaml: this machine's first GPU if it has one, else its CPU
            object.__setattr__(self, "kind", "gpu" if torch.cuda.is_available() else "cpu")
        if self.kind not in ("cpu", "gpu"):
            raise InvalidInput(f"device {self.name!r}: kind must be 'cpu', 'gpu' or 'auto', got {self.kind!r}")

    @classmethod
    def from_cfg(cls, cfg: Any) -> DeviceSpec:
        """From a config node (dict or DictConfig) with name/kind/description/match."""
        d = dict(cfg)
        d.pop("default_scale", None)  # read by search.py (the scale used when none is given), not a device property
        unknown = set(d) - {"name", "kind", "description", "match"}
        if unknown:
            raise InvalidInput(f"device config {d.get('name')!r}: unknown keys {sorted(unknown)}; allowed: name, kind, "
                               "description, match")
        if "name" not in d or "kind" not in d:
            raise InvalidInput(f"device config {d!r} needs a name and a kind (cpu, gpu or auto)")
        return cls(**d)


def known_devices() -> list[str]:
    """Names of the device configs shipped in conf/device/."""
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml"))


NEW_DEVICE_OPTION = "new_device"
"""``profile.py new_device=true``: measure this machine under a name that has no ``conf/device/`` config."""


def check_profile_argv(argv: list[str]) -> list[str]:
    """Validate ``device=`` on profile.py's command line before Hydra composes; return the rewritten argv.

    Every ``device=`` value (each of a multirun's comma-separated ones) must be a valid name
    (:func:`hwgpt.names.check_name`). A name without a ``conf/device/<name>.yaml`` measures this
    machine under that name (``device=local device.name=<name>``), but only when asked for with
    ``new_device=true`` or when the user's surrogates of that name already exist: a typo
    (``device=a10``) would otherwise start a full profiling run into the default store.

    Raises:
        InvalidInput: a bad name, or an unknown one without ``new_device=true`` (the message lists the
            device configs and the closest one).
    """
    import difflib

    from hwgpt.surrogates import userdirs

    new = any(a.partition("=")[0].lstrip("+") == NEW_DEVICE_OPTION and a.partition("=")[2].lower() in ("true", "1")
              for a in argv)
    known = known_devices()
    for a in argv[1:]:
        key, eq, value = a.partition("=")
        if not eq or key.lstrip("+") not in ("device", "device.name"):
            continue
        for name in value.split(",") if key == "device" else [value]:
            check_name("device", name)
        if key != "device" or "," in value or value in known or new:
            continue
        if any(value in devs for devs in userdirs.user_available().values()):
            continue
        close = difflib.get_close_matches(value, known, n=1)
        hint = f"did you mean device={close[0]}? " if close else ""
        raise InvalidInput(f"device={value!r} has no config in conf/device/ (known: {known}); {hint}To measure this "
                           f"machine under the new name {value!r}, add {NEW_DEVICE_OPTION}=true "
                           f"(or write device=local device.name={value})")
    return userdirs.device_argv(argv)


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
    return {
        "hwgpt": __version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "cuda": str(torch.version.cuda),
    }


# ---------------------------------------------------------------------------------------------- CPU
ISA_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "sve", "asimd", "bf16", "i8mm")
"""CPU feature flags that decide which kernels run (x86 AVX/AVX-512/AMX, Arm SVE/NEON/BF16)."""


def _cpuinfo(path: str | Path = "/proc/cpuinfo") -> dict[str, str]:
    """``key: value`` of the first processor block of /proc/cpuinfo (empty where absent)."""
    out: dict[str, str] = {}
    try:
        text = Path(path).read_text()
    except OSError:
        return out
    for line in text.splitlines():
        if not line.strip():
            if out:
                break
            continue
        k, _, v = line.partition(":")
        out.setdefault(k.strip().lower(), v.strip())
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _caches(sys_cpu: str | Path = "/sys/devices/system/cpu") -> dict[str, str]:
    """``{"L1d": "32K", "L1i": "32K", "L2": "512K", "L3": "32768K"}`` of CPU 0 (sysfs; empty where absent)."""
    out: dict[str, str] = {}
    for d in sorted(Path(sys_cpu, "cpu0", "cache").glob("index*")):
        level, typ, size = (_read(d / f) for f in ("level", "type", "size"))
        if level and size:
            out[f"L{level}" + {"Data": "d", "Instruction": "i"}.get(typ or "", "")] = size
    return out


def _cpu_mhz(info: dict[str, str], sys_cpu: str | Path = "/sys/devices/system/cpu") -> tuple[float | None, str]:
    """A stable nominal frequency: cpufreq's maximum, else bogomips / 2 (x86: twice the TSC), else cpuinfo."""
    khz = _read(Path(sys_cpu, "cpu0", "cpufreq", "cpuinfo_max_freq"))
    if khz and khz.isdigit():
        return round(int(khz) / 1e3, 1), "cpufreq max"
    try:
        if "bogomips" in info and platform.machine() in ("x86_64", "AMD64", "i686"):
            return round(float(info["bogomips"]) / 2, 1), "bogomips/2"
        if "cpu mhz" in info:
            return round(float(info["cpu mhz"]), -2), "cpuinfo (current, rounded)"
    except ValueError:
        pass
    return None, "unknown"


def _physical_cores(path: str | Path = "/proc/cpuinfo") -> int | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    pairs = set()
    phys = core = None
    for line in text.splitlines() + [""]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "physical id":
            phys = v.strip()
        elif k == "core id":
            core = v.strip()
        elif not line.strip():
            if core is not None:
                pairs.add((phys, core))
            phys = core = None
    return len(pairs) or None


def cpu_identity(cpuinfo: str | Path = "/proc/cpuinfo", sys_cpu: str | Path = "/sys/devices/system/cpu"
                 ) -> dict[str, Any]:
    """What tells CPUs apart: vendor, family/model/stepping, ISA level and flags, cores, caches, frequency.

    ``cpu_capability`` is ``torch.backends.cpu.get_cpu_capability()`` (``AVX2``, ``AVX512``, ...): the
    kernel set torch dispatches to, which decides latency more than the marketing name (a VM may
    report just ``AMD EPYC``).
    """
    info = _cpuinfo(cpuinfo)
    flags = set((info.get("flags") or info.get("features") or "").split())
    mhz, source = _cpu_mhz(info, sys_cpu)
    try:
        capability = str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # noqa: BLE001 - older torch
        capability = None
    ident: dict[str, Any] = {
        "cpu_vendor": info.get("vendor_id") or info.get("cpu implementer") or platform.processor() or None,
        "cpu_model": cpu_model(),
        "cpu_family": info.get("cpu family") or info.get("cpu architecture"),
        "cpu_model_number": info.get("model") or info.get("cpu part"),
        "cpu_stepping": info.get("stepping") or info.get("cpu revision"),
        "cpu_capability": capability,
        "cpu_isa_flags": sorted(flags & set(ISA_FLAGS)),
        "cpu_hypervisor": "hypervisor" in flags,
        "physical_cores": _physical_cores(cpuinfo),
        "logical_cpus": os.cpu_count(),
        "cpu_caches": _caches(sys_cpu),
        "cpu_mhz_nominal": mhz,
        "cpu_mhz_source": source,
    }
    return ident


# ---------------------------------------------------------------------------------------------- GPU
def _nvml(device_index: int, uuid: str | None) -> dict[str, Any]:
    """Driver, power limit (W) and NVML name of one GPU; empty without pynvml or NVML."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - identity is best effort
        return {}
    out: dict[str, Any] = {}
    try:
        v = pynvml.nvmlSystemGetDriverVersion()
        out["gpu_driver"] = v.decode() if isinstance(v, bytes) else str(v)
    except Exception:  # noqa: BLE001
        pass
    try:
        handle = (pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}") if uuid
                  else pynvml.nvmlDeviceGetHandleByIndex(device_index))
    except Exception:  # noqa: BLE001
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        except Exception:  # noqa: BLE001
            return out
    for key, fn, scale in (("gpu_power_limit_w", "nvmlDeviceGetPowerManagementLimit", 1e-3),
                           ("gpu_power_default_limit_w", "nvmlDeviceGetPowerManagementDefaultLimit", 1e-3),
                           ("gpu_max_sm_clock_mhz", "nvmlDeviceGetMaxClockInfo", None)):
        try:
            if scale is None:
                out[key] = int(getattr(pynvml, fn)(handle, getattr(pynvml, "NVML_CLOCK_SM", 1)))
            else:
                out[key] = round(float(getattr(pynvml, fn)(handle)) * scale, 1)
        except Exception:  # noqa: BLE001 - not supported on every board
            pass
    return out


def gpu_identity(device: torch.device) -> dict[str, Any]:
    """Name, compute capability, memory, SM count, driver and power limit of a CUDA device."""
    props = torch.cuda.get_device_properties(device)
    uuid = getattr(props, "uuid", None)
    ident: dict[str, Any] = {
        "gpu_name": torch.cuda.get_device_name(device),
        "gpu_capability": f"{props.major}.{props.minor}",
        "gpu_memory_bytes": int(props.total_memory),
        "gpu_sm_count": getattr(props, "multi_processor_count", None),
        "gpu_driver": None,
    }
    ident.update(_nvml(device.index or 0, None if uuid is None else str(uuid)))
    return ident


def identity(spec: DeviceSpec, device: torch.device, threads: int) -> dict[str, Any]:
    """Detected identity of ``device`` plus software versions (stored in the ``devices`` table).

    Every observation run references it (``runs.device_key``) and every surrogate's ``report()["device"]``
    carries it; :func:`differences` compares two of them.
    """
    ident: dict[str, Any] = {
        "kind": spec.kind,
        **cpu_identity(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": threads,
        "machine": platform.machine(),
        "system": platform.system(),
        "versions": _versions(),
    }
    try:
        import psutil

        ident["memory_bytes"] = int(psutil.virtual_memory().total)
    except ImportError:
        try:
            ident["memory_bytes"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
            pass
    if device.type == "cuda":
        ident.update(gpu_identity(device))
    return ident


# ------------------------------------------------------------------------------------ comparisons
CPU_KEYS = ("cpu_vendor", "cpu_model", "cpu_family", "cpu_model_number", "cpu_stepping", "cpu_capability",
            "cpu_isa_flags", "cpu_caches")
GPU_KEYS = ("gpu_name", "gpu_capability", "gpu_memory_bytes", "gpu_power_limit_w")
"""The hardware keys compared by :func:`differences` (software versions, thread counts and the
number of usable CPUs describe the run, not the machine kind)."""


def _candidates(recorded: dict[str, Any]) -> list[dict[str, Any]]:
    """A surrogate's ``report["device"]`` may list several identities (``{"identities": [...]}``)."""
    if isinstance(recorded.get("identities"), list):
        return [r for r in recorded["identities"] if isinstance(r, dict)]
    return [recorded]


def differences(recorded: dict[str, Any], here: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Hardware keys on which ``here`` differs from ``recorded`` (``{key: (recorded, here)}``).

    Keys the recorded identity lacks (identities written before hwgpt recorded them) are reported as
    ``(None, here)`` so a caller can say the machines cannot be told apart. With several recorded
    identities, the closest one is compared. GPU keys count only when both sides are GPUs.
    """
    best: dict[str, tuple[Any, Any]] | None = None
    for rec in _candidates(recorded):
        keys = CPU_KEYS + (GPU_KEYS if "gpu_name" in rec and "gpu_name" in here else ())
        diff = {k: (rec.get(k), here.get(k)) for k in keys
                if k in here and _norm(rec.get(k)) != _norm(here.get(k))}
        if best is None or (_n_real(diff), len(diff)) < (_n_real(best), len(best)):
            best = diff
    return best or {}


def _norm(v: Any) -> Any:
    return sorted(v) if isinstance(v, (list, tuple, set)) else v


def _n_real(diff: dict[str, tuple[Any, Any]]) -> int:
    return sum(1 for a, _ in diff.values() if a is not None)


_WARNED: set[tuple[str, str]] = set()


def warn_if_different(recorded: dict[str, Any] | None, here: dict[str, Any], what: str) -> str | None:
    """Log one warning (per ``what`` and set of differences, per process) when ``here`` differs.

    Args:
        recorded: The identity recorded with a surrogate (its ``report["device"]``); None: nothing to compare.
        here: This machine's identity (:func:`identity`).
        what: What is being compared, e.g. ``"surrogate tiny/cpu/latency"`` (names the warning).

    Returns:
        The warning text, or None when the identities agree (or there is nothing to compare).
    """
    if not recorded:
        return None
    diff = differences(recorded, here)
    if not diff:
        return None
    real = {k: v for k, v in diff.items() if v[0] is not None}
    unknown = sorted(k for k, v in diff.items() if v[0] is None)
    parts = [f"{k}: {a!r} there, {b!r} here" for k, (a, b) in real.items()]
    if real:
        msg = (f"this machine differs from the device of the {what}: " + "; ".join(parts)
               + ". Its predictions describe that machine, not this one; fit this machine's own surrogate with "
               "`python profile.py scale=<scale> device=local metric=latency n_archs=20 repeats=5 fit=true`")
    else:
        msg = (f"cannot tell whether this machine is the device of the {what}: its recorded identity lacks "
               f"{unknown} (this machine: " + ", ".join(f"{k}={diff[k][1]!r}" for k in unknown) + "); both report "
               f"cpu_model={here.get('cpu_model')!r}. If latency matters, fit this machine's own surrogate "
               "(device=local ... fit=true)")
    key = (what, msg)
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning(msg)
    return msg


def this_machine(kind: str = "cpu", threads: int | None = None) -> dict[str, Any]:
    """:func:`identity` of this machine's CPU (``kind="cpu"``) or first CUDA GPU (``kind="gpu"``)."""
    dev = torch.device("cuda", 0) if kind == "gpu" and torch.cuda.is_available() else torch.device("cpu")
    spec = DeviceSpec("local", "gpu" if dev.type == "cuda" else "cpu")
    return identity(spec, dev, torch.get_num_threads() if threads is None else threads)
