"""Multi-objective architecture search on the benchmark: ``python search.py optimizer=ehvi n_evals=200``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="search")
def main(cfg: DictConfig) -> float:
    from hwgpt.errors import cli_main
    from hwgpt.search import run

    return cli_main(run, cfg, what="search.py")["hypervolume"]


if __name__ == "__main__":
    import sys

    from hwgpt.surrogates.userdirs import device_argv

    sys.argv = device_argv(sys.argv)  # device=<a user's own surrogate name> -> device=local device.name=<name>
    main()
