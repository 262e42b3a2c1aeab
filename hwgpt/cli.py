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


def search_argv(argv: list[str]) -> list[str]:
    """The search's command line checked and rewritten before Hydra creates a run directory.

    Refuses run directories that would clobber something (``hydra.run.dir=`` the working directory,
    ``task_name=../x``), joins shell-expanded ``devices=``/``constraints=`` braces, and turns
    ``device=<a user's own surrogate name>`` into ``device=local ...``.
    """
    from hwgpt.search.rundir import check_overrides
    from hwgpt.surrogates.userdirs import device_argv

    check_overrides(argv[1:])
    return device_argv(join_braces(argv))


def search() -> None:
    """``hwgpt-search [key=value ...]`` (and ``python search.py``): see conf/search.yaml."""
    from hwgpt.errors import cli_argv

    sys.argv = cli_argv(search_argv, sys.argv, what=_command())  # bad input: one line, exit status 2
    _hydra("search", _search_task)


def _profile_task(cfg: Any) -> dict[str, Any]:
    from hwgpt.errors import cli_main
    from hwgpt.profiling.runner import run

    return cli_main(run, cfg, what=_command())


def profile() -> None:
    """``hwgpt-profile [key=value ...]`` (and ``python profile.py``): see conf/profile.yaml.

    Device names are checked before any file is touched; a name without a config needs ``new_device=true``
    and becomes ``device=local device.name=<name>``. A bad option, a store problem, Ctrl-C or SIGTERM ends
    with one line (also in the run directory's log) and exit status 2 or 130; the store keeps everything written.
    """
    from hwgpt.errors import cli_argv
    from hwgpt.profiling.device import check_profile_argv

    sys.argv = cli_argv(check_profile_argv, sys.argv, what=_command())
    _hydra("profile", _profile_task)


def _train_task(cfg: Any) -> float | None:
    from hwgpt.errors import cli_main
    from hwgpt.training.run import run

    out = cli_main(run, cfg, what=_command())
    results = out.get("results")
    return results["perplexity"]["largest"] if results else None


def train() -> None:
    """``hwgpt-train [key=value ...]`` (and ``python train.py``): see conf/train.yaml.

    Trains, exports the supernet and returns the largest sub-network's final val perplexity. A bad option,
    Ctrl-C or SIGTERM ends with one line (also in the run directory's log): exit status 2 or 130; an
    interruption saves a checkpoint and prints the command to resume.
    """
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
    """``hwgpt-report <multirun dir> [...]`` (and ``python -m hwgpt.search.report``): see ``--help``."""
    from hwgpt.errors import cli_main
    from hwgpt.search.report import main

    cli_main(main, None, what=_command())  # no runs, unreadable runs: one line, exit status 2


def device_from_file() -> None:
    """``hwgpt-device-from-file <file.csv|.parquet> device=<name> [...]``: see docs/guide/your-device.md."""
    from hwgpt.surrogates.from_file import main

    raise SystemExit(main())
