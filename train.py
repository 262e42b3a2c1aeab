"""Supernet training entry point: ``python train.py scale=tiny [key=value ...]``.

See conf/train.yaml; all logic lives in :func:`hwgpt.training.run.run`.
"""

from __future__ import annotations

import os

# Before torch loads OpenMP: on shared CPUs, spinning OpenMP threads burned 3-6x the CPU time
# of a training step (2 threads, load ~6 on 2 cores: 8-16 CPU-s vs 2.3 with PASSIVE).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from hwgpt.errors import cli_main  # noqa: E402
from hwgpt.training.run import run  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Train, export the supernet and return the largest sub-network's final val perplexity.

    A bad option, Ctrl-C or SIGTERM ends with one line (also in the run directory's log): exit
    status 2 or 130; an interruption saves a checkpoint and prints the command to resume.
    """
    out = cli_main(run, cfg, what="train.py")
    results = out.get("results")
    return results["perplexity"]["largest"] if results else None


if __name__ == "__main__":
    main()
