"""Measure architectures into the store: ``python profile.py scale=tiny device=cpu metric=latency``.

See conf/profile.yaml for every option and hwgpt/profiling/runner.py for what happens.

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
else:
    from typing import Any

    import hydra
    from omegaconf import DictConfig

    @hydra.main(version_base="1.3", config_path="conf", config_name="profile")
    def main(cfg: DictConfig) -> dict[str, Any]:
        """Hydra entry point: delegates to :func:`hwgpt.profiling.runner.run`.

        A bad option, a store problem, Ctrl-C or SIGTERM ends with one line (also in the run
        directory's log) and exit status 2 or 130; the store keeps everything written.
        """
        from hwgpt.errors import cli_main
        from hwgpt.profiling.runner import run

        return cli_main(run, cfg, what="profile.py")

    if __name__ == "__main__":
        from hwgpt.errors import cli_argv
        from hwgpt.profiling.device import check_profile_argv

        # device names checked before any file is touched; a name without a config needs new_device=true and
        # becomes device=local device.name=<name>
        sys.argv = cli_argv(check_profile_argv, sys.argv, what="profile.py")
        main()
