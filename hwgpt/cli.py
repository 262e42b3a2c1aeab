"""Console entry points: the commands an installed package provides, from any directory.

- ``hwgpt-search``: multi-objective / constrained search (``python search.py``);
- ``hwgpt-profile``: measure architectures into the store (``python profile.py``);
- ``hwgpt-train``: train the supernet (``python train.py``);
- ``hwgpt-fit``: fit surrogates on a store (``python -m hwgpt.surrogates.fit``);
- ``hwgpt-import``: import the published HW-GPT-Bench data (``python -m hwgpt.importers.hwgptbench``);
- ``hwgpt-report``: compare the runs of a sweep (``python -m hwgpt.search.report``);
- ``hwgpt-device-from-file``: a new device from a measurements file (``python -m hwgpt.surrogates.from_file``).

Every Hydra command composes the configs inside the package (:data:`hwgpt.configs.CONF_DIR`) and
takes the same ``key=value`` overrides as its script; the top-level ``search.py``, ``profile.py`` and
``train.py`` are thin wrappers around these functions. Run directories go to ``$PROJECT_ROOT/outputs``
if set, else ``./outputs`` of the working directory (Hydra's convention, conf/paths/default.yaml).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BRACE_KEYS = ("devices", "constraints")
"""Overrides whose ``{a:b,c:d}`` value an unquoted shell splits into ``key=a:b key=c:d`` (joined back)."""


def join_braces(argv: list[str], keys: tuple[str, ...] = BRACE_KEYS) -> list[str]:
    """Undo the shell's brace expansion of ``key={a:b,c:d}`` for each of ``keys``.

    Unquoted, bash turns ``devices={latency:rtx2080,energy:a6000}`` into ``devices=latency:rtx2080
    devices=energy:a6000``, and Hydra would keep only the last one; the ``a:b`` pieces of each key are
    joined back into one override (at the end of the list). A single piece stays as it is: the search
    accepts ``devices=latency:rtx2080`` as a string.
    """
    for key in keys:
        pieces = [a for a in argv[1:] if a.startswith(f"{key}=") and not a.startswith(f"{key}={{")
                  and ":" in a and "," not in a]
        if len(pieces) < 2:
            continue
        joined = f"{key}={{" + ",".join(a.removeprefix(f"{key}=") for a in pieces) + "}"
        argv = [argv[0], *[a for a in argv[1:] if a not in pieces], joined]
    return argv


def join_devices(argv: list[str]) -> list[str]:
    """:func:`join_braces` for ``devices=`` alone (kept for callers of the earlier name)."""
    return join_braces(argv, ("devices",))


def _command() -> str:
    """How the user called us (``search.py`` or ``hwgpt-search``), for the one-line errors."""
    return Path(sys.argv[0]).name or "hwgpt"


def _hydra(config_name: str, task: Callable[[Any], Any]) -> Any:
    """Run ``task(cfg)`` as a Hydra app on the package's configs (command-line overrides from sys.argv)."""
    import hydra

    from hwgpt.configs import CONF_DIR

    return hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)(task)()


def _search_task(cfg: Any) -> float:
    from hwgpt.errors import cli_main
    from hwgpt.search import run

    return cli_main(run, cfg, what=_command())["hypervolume"]


def search() -> None:
    """``hwgpt-search [key=value ...]``: see conf/search.yaml."""
    from hwgpt.surrogates.userdirs import device_argv

    sys.argv = device_argv(join_braces(sys.argv))  # device=<a user's own surrogate name> -> device=local ...
    _hydra("search", _search_task)


def _profile_task(cfg: Any) -> dict[str, Any]:
    from hwgpt.errors import cli_main
    from hwgpt.profiling.runner import run

    return cli_main(run, cfg, what=_command())


def profile() -> None:
    """``hwgpt-profile [key=value ...]``: see conf/profile.yaml."""
    from hwgpt.surrogates.userdirs import device_argv

    sys.argv = device_argv(sys.argv)  # device=<a name without a config> -> device=local device.name=<name>
    _hydra("profile", _profile_task)


def _train_task(cfg: Any) -> float | None:
    from hwgpt.errors import cli_main
    from hwgpt.training.run import run

    out = cli_main(run, cfg, what=_command())
    results = out.get("results")
    return results["perplexity"]["largest"] if results else None


def train() -> None:
    """``hwgpt-train [key=value ...]``: see conf/train.yaml."""
    # Before torch loads OpenMP: on shared CPUs, spinning OpenMP threads burned 3-6x the CPU time
    # of a training step (2 threads, load ~6 on 2 cores: 8-16 CPU-s vs 2.3 with PASSIVE).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _hydra("train", _train_task)


def fit() -> None:
    """``hwgpt-fit [key=value ...]``: see conf/fit.yaml."""
    from hwgpt.surrogates.fit import main

    main()


def import_published() -> None:
    """``hwgpt-import [key=value ...]``: see conf/import.yaml."""
    from hwgpt.importers.hwgptbench import main

    main()


def report() -> None:
    """``hwgpt-report <multirun dir> [...]``: see ``hwgpt-report --help``."""
    from hwgpt.search.report import main

    main()


def device_from_file() -> None:
    """``hwgpt-device-from-file <file.csv|.parquet> device=<name> [...]``: see docs/guide/your-device.md."""
    from hwgpt.surrogates.from_file import main

    raise SystemExit(main())
