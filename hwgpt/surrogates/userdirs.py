"""The user's own surrogates: ``$HWGPT_HOME/surrogates/<scale>/<device>/`` (default ``~/.cache/hwgpt``).

``python profile.py ... device=local fit=true`` writes there (:mod:`hwgpt.surrogates.transfer`), and
:mod:`hwgpt.surrogates.artifacts` looks there when no ``artifacts_dir`` is given, so
``hwgpt.Benchmark(scale, device="local")`` and ``python search.py device=local`` find it. A user
directory holding a (scale, device) that the package also ships wins for that pair (it exists only
after ``overwrite=true``), with a warning naming both.

Device names without a config in ``conf/device/`` are allowed on the command line for this path:
:func:`device_argv` rewrites ``device=<name>`` into ``device=local device.name=<name>``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from hwgpt.configs import DEVICE_CONF_DIR
from hwgpt.surrogates.layout import META_SUFFIX, device_dir, device_names

log = logging.getLogger(__name__)

_WARNED: set[tuple[str, str]] = set()


def home() -> Path:
    """``$HWGPT_HOME``, else ``~/.cache/hwgpt``."""
    return Path(os.environ.get("HWGPT_HOME") or Path.home() / ".cache" / "hwgpt").expanduser()


def user_root() -> Path:
    """Root of the user's surrogates: ``home() / "surrogates"``."""
    return home() / "surrogates"


def user_available() -> dict[str, dict[str, list[str]]]:
    """``{scale: {device: [metric, ...]}}`` under :func:`user_root` (empty when it does not exist)."""
    root = user_root()
    out: dict[str, dict[str, list[str]]] = {}
    if not root.is_dir():
        return out
    for sd in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for name in device_names(sd):  # skips a fit's staging directories
            dd = device_dir(root, sd.name, name)
            metrics = sorted(f.name[: -len(META_SUFFIX)] for f in dd.iterdir() if f.name.endswith(META_SUFFIX))
            if metrics:
                out.setdefault(sd.name, {})[name] = metrics
    return out


def has_user(scale: str, device: str) -> bool:
    """True when the user root holds surrogates of (scale, device)."""
    d = device_dir(user_root(), scale, device)
    return d.is_dir() and any(f.name.endswith(META_SUFFIX) for f in d.iterdir())


def merge(shipped: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
    """``shipped`` plus the user's (scale, device) pairs (a user pair replaces a shipped one)."""
    out = {s: dict(d) for s, d in shipped.items()}
    for scale, devs in user_available().items():
        for device, metrics in devs.items():
            if device in out.get(scale, {}):
                _warn_shadow(scale, device)
            out.setdefault(scale, {})[device] = metrics
    return {s: dict(sorted(d.items())) for s, d in sorted(out.items())}


def _warn_shadow(scale: str, device: str) -> None:
    if (scale, device) not in _WARNED:
        _WARNED.add((scale, device))
        log.warning("surrogates of %s/%s in %s replace the shipped ones of that name (written with overwrite=true; "
                    "delete that directory to use the shipped ones again)", scale, device, user_root() / scale / device)


def root_for(scale: str, device: str) -> Path | None:
    """The user root when it holds (scale, device), else None (the caller uses the shipped root)."""
    return user_root() if has_user(scale, device) else None


def device_argv(argv: Sequence[str], conf_dir: Path | None = None) -> list[str]:
    """Rewrite ``device=<name>`` without a ``conf/device/<name>.yaml`` to ``device=local device.name=<name>``.

    Used by ``profile.py`` and ``search.py`` before Hydra composes, so a user's own device name works
    like ``local``. Other arguments (and ``device=`` values that have a config) pass unchanged.
    """
    conf_dir = conf_dir or DEVICE_CONF_DIR
    out: list[str] = []
    for a in argv:
        key, eq, value = a.partition("=")
        if eq and key == "device" and value and "," not in value and not (conf_dir / f"{value}.yaml").is_file():
            from hwgpt.names import check_name

            check_name("device", value)  # InvalidInput before any file is touched
            out += ["device=local", f"device.name={value}"]
        else:
            out.append(a)
    return out
