"""Multi-objective architecture search on the benchmark: ``python search.py optimizer=ehvi n_evals=200``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="search")
def main(cfg: DictConfig) -> float:
    from hwgpt.errors import cli_main
    from hwgpt.search import run

    return cli_main(run, cfg, what="search.py")["hypervolume"]


def join_devices(argv: list[str]) -> list[str]:
    """Undo the shell's brace expansion of ``devices={latency:rtx2080,energy:a6000}``.

    Unquoted, bash turns it into ``devices=latency:rtx2080 devices=energy:a6000``, and Hydra would keep only
    the last one; the ``key:value`` pieces are joined back into one override.
    """
    pieces = [a for a in argv[1:] if a.startswith("devices=") and not a.startswith("devices={")
              and ":" in a and "," not in a]
    if len(pieces) < 2:
        return argv
    joined = "devices={" + ",".join(a.removeprefix("devices=") for a in pieces) + "}"
    rest = [a for a in argv[1:] if a not in pieces]
    return [argv[0], *rest, joined]


def join_constraints(argv: list[str]) -> list[str]:
    """Undo the shell's brace expansion of ``constraints={memory@a100:1e9,params:2e8}`` (as :func:`join_devices`)."""
    pieces = [a for a in argv[1:] if a.startswith("constraints=") and not a.startswith("constraints={")
              and ":" in a and "," not in a]
    if len(pieces) < 2:
        return argv
    joined = "constraints={" + ",".join(a.removeprefix("constraints=") for a in pieces) + "}"
    return [argv[0], *[a for a in argv[1:] if a not in pieces], joined]


if __name__ == "__main__":
    import sys

    from hwgpt.errors import HwgptError
    from hwgpt.search.rundir import check_overrides
    from hwgpt.surrogates.userdirs import device_argv

    try:  # bad run dirs and device names end with one line, before Hydra creates the run dir
        check_overrides(sys.argv[1:])  # hydra.run.dir= (the cwd), task_name=../../x (outside outputs/)
        # device=<a user's own surrogate name> -> device=local ...
        sys.argv = device_argv(join_constraints(join_devices(sys.argv)))
    except HwgptError as e:
        sys.stderr.write(f"search.py: error: {e}\n")
        raise SystemExit(2) from None
    main()
