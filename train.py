"""Supernet training: ``python train.py scale=tiny [key=value ...]``.

A thin wrapper: the command is :func:`hwgpt.cli.train` (installed as ``hwgpt-train``); see conf/train.yaml.
"""

from hwgpt.cli import train

if __name__ == "__main__":
    train()
