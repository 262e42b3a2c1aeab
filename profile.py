"""Measure architectures into the store: ``python profile.py scale=tiny device=cpu metric=latency``.

A thin wrapper: the command is :func:`hwgpt.cli.profile` (installed as ``hwgpt-profile``); see
conf/profile.yaml for every option and hwgpt/profiling/runner.py for what happens.

This file shares its name with the standard library's ``profile`` module (which ``cProfile``,
and through it torch's dispatch modes, import). When the repository root is on ``sys.path``
(``python profile.py``, ``python -m pytest``) an ``import profile`` finds this file first, so
when imported under that name it loads and hands out the standard library module instead.
"""

from __future__ import annotations

import sys


def _stdlib_profile() -> object:
    import importlib.util
    import os
    import sysconfig

    path = os.path.join(sysconfig.get_paths()["stdlib"], "profile.py")
    spec = importlib.util.spec_from_file_location("profile", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["profile"] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "profile":
    globals().update({k: v for k, v in vars(_stdlib_profile()).items() if not k.startswith("__")})
elif __name__ == "__main__":
    from hwgpt.cli import profile

    profile()
